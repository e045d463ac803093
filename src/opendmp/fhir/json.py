"""FHIR JSON in and out. Bodies are decoded here so that bad JSON is an OperationOutcome."""

from __future__ import annotations

from typing import Any

import msgspec

from opendmp.kit.errors import InvalidInput

FHIR_JSON = "application/fhir+json"
ACCEPTED_MEDIA_TYPES = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
MAX_BODY = 1_000_000  # Patient operations; documents get their own limit


class UnsupportedMediaType(Exception):
    """Answered 415 by the FHIR edge (an HTTP matter, not a domain one)."""


def encode(resource: dict[str, Any]) -> bytes:
    return msgspec.json.encode(resource)


def decode_resource(body: bytes, content_type: str | None, expected: str | tuple[str, ...]) -> dict[str, Any]:
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in ACCEPTED_MEDIA_TYPES:
        raise UnsupportedMediaType(f"send {FHIR_JSON} or application/json, not {media or 'nothing'}")
    if not body:
        raise InvalidInput("the request has no body", field="body")
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise InvalidInput(f"the body is not valid JSON: {error}", field="body") from error
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a FHIR resource (a JSON object)", field="body")
    kinds = (expected,) if isinstance(expected, str) else expected
    if data.get("resourceType") not in kinds:
        raise InvalidInput(
            f"expected a {' or '.join(kinds)} resource, got {data.get('resourceType')!r}", field="resourceType"
        )
    return data
