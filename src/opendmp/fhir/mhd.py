"""IHE MHD ITI-65 provide bundles, without HTTP: parsed into the document service's inputs, and
the transaction-response built from what was filed. Shared by `POST /fhir` (one transaction
Bundle), the batch of bundles (establishment feeds) and the CLI's watched folder."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opendmp.fhir import document as fhir_document
from opendmp.fhir.outcome import STATUS_AND_CODE, for_status, operation_outcome
from opendmp.kit.errors import DomainError, ErrorKind, InvalidInput

if TYPE_CHECKING:
    from opendmp.document.service import StoredDocument, SubmissionSetIn
    from opendmp.establishment.service import BundleResult


@dataclass(frozen=True, slots=True)
class ProvideBundle:
    """One ITI-65 bundle, checked: its SubmissionSet, its documents with their bytes (with the
    index of their entry) and the entries themselves (the response follows their order)."""

    submission: SubmissionSetIn
    items: list[tuple[int, fhir_document.DocumentIn, bytes]]
    entries: list[dict[str, Any]]

    @property
    def author_rpps(self) -> list[str]:
        """The RPPS of the professionals named as authors, in order, without repeats."""
        found: dict[str, None] = {}
        for _, item, _ in self.items:
            for author in item.authors:
                if author.rpps:
                    found.setdefault(author.rpps, None)
        return list(found)


def canonical_sha256(resource: Any) -> str:
    """The SHA-256 of a JSON value written canonically (sorted keys, no spaces): the same bundle
    sent again, however re-serialised, has the same digest."""
    text = json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _binary_bytes(resource: dict[str, Any], field: str) -> tuple[str | None, bytes]:
    data = resource.get("data")
    if not isinstance(data, str):
        raise InvalidInput("a Binary carries its content in data (base64)", field=field)
    try:
        return resource.get("contentType"), base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidInput("Binary.data is not base64", field=field) from error


def parse_provide_bundle(bundle: Any) -> ProvideBundle:
    """Check an ITI-65 transaction Bundle (a SubmissionSet List, DocumentReferences and their
    Binaries) and pair each document with its bytes; InvalidInput names the entry at fault."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidInput("an ITI-65 provide bundle is a Bundle resource", field="Bundle")
    if bundle.get("type") != "transaction":
        raise InvalidInput("an ITI-65 provide bundle is a transaction Bundle", field="Bundle.type")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise InvalidInput("the Bundle has no entry", field="Bundle.entry")
    binaries: dict[str, tuple[str | None, bytes]] = {}
    references: list[tuple[int, dict[str, Any]]] = []
    lists: list[tuple[int, dict[str, Any]]] = []
    for index, entry in enumerate(entries):
        field = f"Bundle.entry[{index}]"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise InvalidInput("each entry holds a resource", field=field)
        request_part = entry.get("request")
        if not isinstance(request_part, dict) or request_part.get("method") != "POST":
            raise InvalidInput("each entry is a POST (request.method)", field=f"{field}.request")
        kind = resource.get("resourceType")
        if kind == "Binary":
            full_url = entry.get("fullUrl")
            if not isinstance(full_url, str):
                raise InvalidInput("a Binary needs its fullUrl", field=f"{field}.fullUrl")
            binaries[full_url] = _binary_bytes(resource, f"{field}.resource.data")
        elif kind == "DocumentReference":
            references.append((index, resource))
        elif kind == "List":
            lists.append((index, resource))
        else:
            raise InvalidInput(f"an ITI-65 bundle holds List, DocumentReference and Binary, not {kind}", field=field)
    if len(lists) != 1:
        raise InvalidInput("an ITI-65 bundle holds exactly one SubmissionSet List", field="Bundle.entry")
    submission = _submission_set(lists[0][1])
    items = []
    used: set[str] = set()
    for index, resource in references:
        item = fhir_document.parse_document_reference(resource)
        if item.data is not None:
            content = item.data
        elif item.content_url in binaries:
            mime, content = binaries[item.content_url]
            used.add(item.content_url)
            if mime and item.mime_type and mime != item.mime_type:
                raise InvalidInput(
                    "the Binary's contentType differs from the attachment's", field=f"Bundle.entry[{index}]"
                )
        else:
            raise InvalidInput("the attachment.url names no Binary of this bundle", field=f"Bundle.entry[{index}]")
        items.append((index, item, content))
    if set(binaries) - used:
        raise InvalidInput("a Binary without its DocumentReference", field="Bundle.entry")
    return ProvideBundle(submission, items, entries)


def _submission_set(resource: dict[str, Any]) -> SubmissionSetIn:
    from opendmp.document.service import SubmissionSetIn

    identifiers = resource.get("identifier") or []
    unique = next((i.get("value") for i in identifiers if isinstance(i, dict) and i.get("use") == "official"), None)
    unique = unique or next((i.get("value") for i in identifiers if isinstance(i, dict)), None)
    if not isinstance(unique, str) or not unique:
        raise InvalidInput("the SubmissionSet needs its unique id (List.identifier)", field="List.identifier")
    if len(unique) > 128:
        raise InvalidInput("the SubmissionSet unique id has at most 128 characters", field="List.identifier")
    source = next(
        (
            e.get("valueIdentifier", {}).get("value")
            for e in resource.get("extension") or []
            if isinstance(e, dict) and str(e.get("url", "")).endswith("ihe-sourceId")
        ),
        None,
    )
    return SubmissionSetIn(unique_id=unique, source_id=source if isinstance(source, str) else None)


def transaction_response(parsed: ProvideBundle, stored: list[StoredDocument]) -> dict[str, Any]:
    """The ITI-65 answer: one response per entry, in the bundle's order."""
    entries = parsed.entries
    responses: dict[int, dict[str, Any]] = {}
    by_url = {}
    for (index, item, _), result in zip(parsed.items, stored, strict=True):
        status = "201 Created" if result.created else "200 OK"
        outcome: dict[str, Any] = {}
        if result.notes:
            issues = [{"severity": "information", "code": "informational", "diagnostics": n} for n in result.notes]
            outcome = {"outcome": {"resourceType": "OperationOutcome", "issue": issues}}
        responses[index] = {
            "response": {
                **outcome,
                "status": status,
                "location": f"DocumentReference/{result.document.id}/_history/{result.document.meta_version}",
                "etag": f'W/"{result.document.meta_version}"',
            }
        }
        if item.content_url:
            by_url[item.content_url] = result.document.id
    for index, entry in enumerate(entries):
        if index in responses:
            continue
        resource = entry["resource"]
        if resource["resourceType"] == "Binary":
            responses[index] = {"response": {"status": "201 Created", "location": f"Binary/{by_url[entry['fullUrl']]}"}}
        else:
            location = f"List/{parsed.submission.unique_id}"
            responses[index] = {"response": {"status": "201 Created", "location": location}}
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [responses[i] for i in range(len(entries))],
    }


REASONS = {200: "OK", 201: "Created", 500: "Internal Server Error"}


def error_entry(error: DomainError) -> dict[str, Any]:
    """A batch-response entry for a bundle refused as a whole: its status and OperationOutcome
    (a refused read answers like a missing one, as everywhere)."""
    status, code = STATUS_AND_CODE[error.kind]
    message = "no such resource" if error.kind is ErrorKind.NOT_FOUND else error.message
    return {"response": {"status": str(status), "outcome": operation_outcome(code, message, field=error.field)}}


def result_entry(result: BundleResult) -> dict[str, Any]:
    """One batch-response entry: 201 with the transaction-response for a bundle filed now, 200
    with the earlier one for a retry, the error's status and OperationOutcome otherwise."""
    if result.response is not None:
        status = 200 if result.replayed else 201
        entry: dict[str, Any] = {"resource": result.response, "response": {"status": f"{status} {REASONS[status]}"}}
        if result.replayed:
            entry["response"]["outcome"] = {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "information",
                        "code": "informational",
                        "diagnostics": "this bundle was already filed: the earlier result is returned",
                    }
                ],
            }
        return entry
    if result.unexpected or result.error is None:
        return {"response": {"status": "500", "outcome": for_status(500, "internal error; it has been logged")}}
    return error_entry(result.error)
