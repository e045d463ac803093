"""What a stored document's bytes may be: the formats the DMP accepts, each checked by its
signature so that a file is what its MIME type says."""

from __future__ import annotations

import json

from opendmp.document.errors import UnsupportedContent

CDA_TYPES = frozenset({"text/xml", "application/xml", "application/hl7-v3+xml", "application/hl7-cda+xml"})
FHIR_BUNDLE_TYPES = frozenset({"application/fhir+json"})
ACCEPTED_TYPES = frozenset(
    {
        "application/pdf",
        "text/plain",
        "image/jpeg",
        "image/png",
        *CDA_TYPES,
        *FHIR_BUNDLE_TYPES,
    }
)
# Types a browser could execute or render as active content: always served as downloads.
DOWNLOAD_ONLY = frozenset({*CDA_TYPES, "application/fhir+json"})


def check_content(mime_type: str, head: bytes) -> None:
    """Refuse bytes that are not of the declared type (first bytes suffice for the binary types)."""
    if mime_type not in ACCEPTED_TYPES:
        raise UnsupportedContent(f"documents of type {mime_type!r} are not accepted", field="attachment.contentType")
    ok = True
    if mime_type == "application/pdf":
        ok = head.startswith(b"%PDF-")
    elif mime_type == "image/png":
        ok = head.startswith(b"\x89PNG\r\n\x1a\n")
    elif mime_type == "image/jpeg":
        ok = head.startswith(b"\xff\xd8\xff")
    elif mime_type == "text/plain":
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as error:
            # A cut in the middle of a multi-byte character at the end of `head` is fine.
            ok = error.start >= len(head) - 3
    elif mime_type in CDA_TYPES:
        ok = head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
    if not ok:
        raise UnsupportedContent(f"the content is not a valid {mime_type}", field="attachment.contentType")


def check_fhir_bundle(data: bytes) -> None:
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise UnsupportedContent("the content is not a FHIR JSON Bundle", field="attachment.contentType") from error
    if not isinstance(parsed, dict) or parsed.get("resourceType") != "Bundle" or parsed.get("type") != "document":
        raise UnsupportedContent("a FHIR document is a Bundle of type document", field="attachment.contentType")
