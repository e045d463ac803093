"""FHIR routes for documents (IHE MHD as profiled by PDSm): ITI-65 provide bundle on `POST /fhir`,
the simple publish `POST /fhir/DocumentReference`, ITI-67 find, ITI-68 retrieve (`Binary`),
PATCH of the security labels (masking, visibility, archiving) and logical deletion."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jsonpatch
from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath, RawBody
from litestar.response import Stream

from opendmp.document import service as documents
from opendmp.document.content import DOWNLOAD_ONLY
from opendmp.document.models import DocumentStatus
from opendmp.fhir import document as fhir_document
from opendmp.fhir import mhd
from opendmp.fhir.json import decode_resource
from opendmp.fhir.openapi import (
    DOCUMENT_SEARCH_FIELDS,
    DocumentSearchByPostOperation,
    DocumentSearchOperation,
    JsonPatchOperation,
    ResourceBodyOperation,
)
from opendmp.fhir.routes import authenticate, base_url, fhir_response, id_from_path, if_match, runtime_of
from opendmp.fhir.search import date_bounds, form_params, named_patient, record_of
from opendmp.identity.service import rpps_from_national_id
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import InvalidInput
from opendmp.kit.threads import threaded

MAX_COUNT = 100
DEFAULT_COUNT = 20
# Served bytes never run in our origin: no sniffing, a sandbox, no scripts, no plugins.
CONTENT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "Cache-Control": "no-store",
}


def _document_id(text: str) -> uuid.UUID:
    return id_from_path(text, "document")


def _document_response(
    request: Request[Any, Any, Any], stored: documents.StoredDocument, status: int = 200
) -> Response[bytes]:
    resource = fhir_document.to_fhir(stored.document, stored.authors, base_url(request))
    headers = {"ETag": f'W/"{stored.document.meta_version}"'}
    if status == 201:
        headers["Location"] = (
            f"{base_url(request)}/fhir/DocumentReference/{stored.document.id}/_history/{stored.document.meta_version}"
        )
    return fhir_response(resource, status, headers)


@post("/fhir/DocumentReference", status_code=201, operation_class=ResourceBodyOperation)
@threaded
def publish_document(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
    """Simple publish: a DocumentReference with its content inline (attachment.data)."""
    runtime = runtime_of(request)
    actor = authenticate(request)
    limit = runtime.settings.max_document_bytes
    resource = decode_resource(_limited(body, limit), request.headers.get("content-type"), "DocumentReference")
    item = fhir_document.parse_document_reference(resource)
    if item.data is None:
        raise InvalidInput(
            "attachment.data is required here (or submit a transaction Bundle with a Binary)", field="attachment.data"
        )
    with unit_of_work(runtime.sessions) as session:
        stored = documents.submit_document(
            session, actor, item, item.data, runtime.clock.now(), runtime.vault, max_size=limit
        )
        response = _document_response(request, stored, 201 if stored.created else 200)
    if stored.notes and "return=operationoutcome" in request.headers.get("prefer", "").replace(" ", "").lower():
        # FHIR's Prefer: return=OperationOutcome: the informational issues (an exam repeated
        # within its window names the earlier document), the resource being at Location.
        issues = [{"severity": "information", "code": "informational", "diagnostics": n} for n in stored.notes]
        headers = {k: v for k, v in response.headers.items() if k.lower() in ("etag", "location")}
        return fhir_response(
            {"resourceType": "OperationOutcome", "issue": issues}, 201 if stored.created else 200, headers
        )
    return response


def _limited(body: bytes, limit: int) -> bytes:
    # base64 inflates by 4/3, plus the metadata around it.
    if len(body) > limit * 4 // 3 + 1_000_000:
        from opendmp.document.errors import ContentTooLarge

        raise ContentTooLarge(f"the request exceeds the document size limit ({limit} bytes)", field="body")
    return body


@get("/fhir/DocumentReference/{document_id:str}")
@threaded
def read_document(request: Request[Any, Any, Any], document_id: FromPath[str]) -> Response[bytes]:
    runtime = runtime_of(request)
    actor = authenticate(request)
    doc_id = _document_id(document_id)
    with unit_of_work(runtime.sessions) as session:
        return _document_response(request, documents.get_document(session, actor, doc_id, runtime.clock.now()))


@get("/fhir/Binary/{document_id:str}")
@threaded
def read_binary(request: Request[Any, Any, Any], document_id: FromPath[str]) -> Response[Any]:
    """ITI-68: the document's bytes with their own MIME type, decrypted and verified as they go;
    a FHIR Binary resource when the client asks for FHIR JSON."""
    runtime = runtime_of(request)
    actor = authenticate(request)
    doc_id = _document_id(document_id)
    accept = request.headers.get("accept", "")
    # A generated document (the reimbursement history) is offered as JSON and as PDF: `_format`
    # (FHIR's override of Accept) or Accept chooses; stored documents keep their own type.
    asked = request.query_params.get("_format") or ("application/pdf" if "application/pdf" in accept else None)
    with unit_of_work(runtime.sessions) as session:
        content = documents.read_content_as(session, actor, doc_id, runtime.clock.now(), runtime.vault, mime_type=asked)
        document, chunks = content.document, content.chunks
        first = next(chunks, b"")  # the first segment is verified before the answer starts
    if "fhir+json" in accept or "application/json" in accept.split(",")[0]:
        head = json.dumps({"resourceType": "Binary", "id": str(document.id), "contentType": content.mime_type})
        return Stream(
            _binary_json(head[:-1].encode() + b',"data":"', first, chunks),
            media_type="application/fhir+json",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )
    headers = dict(CONTENT_HEADERS)
    if content.mime_type in DOWNLOAD_ONLY:
        headers["Content-Disposition"] = f'attachment; filename="{document.id}"'
    if content.size is not None:
        headers["Content-Length"] = str(content.size)
    return Stream(_grouped(first, chunks), media_type=content.mime_type, headers=headers)


# Segments are 64 KiB; handing the server 1 MiB at a time saves a thread hop per segment while
# keeping memory bounded (each piece is still verified before it is sent).
GROUP_BYTES = 1024 * 1024


def _grouped(first: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    pending = [first]
    size = len(first)
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= GROUP_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    if size:
        yield b"".join(pending)


def _binary_json(head: bytes, first: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A FHIR Binary as JSON, streamed: base64 is encoded per 3-byte-aligned piece, so a 20 MB
    document never sits whole in memory."""
    yield head
    carry = b""
    for piece in _grouped(first, chunks):
        data = carry + piece
        cut = len(data) - len(data) % 3
        yield base64.b64encode(data[:cut])
        carry = data[cut:]
    yield base64.b64encode(carry) + b'"}'


def _query(params: dict[str, list[str]]) -> tuple[str, dict[str, str]]:
    """The patient named by the search: `patient`, `subject` or `patient.identifier`."""
    single = {}
    for key, values in params.items():
        if len(values) != 1 and key not in ("type", "category", "status", "date", "period"):
            raise InvalidInput(f"{key} may be given once", field=key)
        single[key] = values[-1]
    return single.get("patient") or single.get("subject") or "", single


KNOWN_PARAMETERS = frozenset({*DOCUMENT_SEARCH_FIELDS, "subject", "subject.identifier", "author.identifier", "_format"})


@dataclass(frozen=True, slots=True)
class Page:
    offset: int

    def token(self) -> str:
        return base64.urlsafe_b64encode(f"o:{self.offset}".encode()).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str | None) -> Page:
        if not token:
            return cls(0)
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            offset = int(text.removeprefix("o:")) if text.startswith("o:") else -1
        except (binascii.Error, ValueError, UnicodeDecodeError):
            offset = -1
        if offset < 0:
            raise InvalidInput("_page is not a page token of ours", field="_page")
        return cls(offset)


def _search(request: Request[Any, Any, Any], params: dict[str, list[str]]) -> Response[bytes]:
    runtime = runtime_of(request)
    actor = authenticate(request)
    unknown = set(params) - KNOWN_PARAMETERS
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(f"unsupported search parameter {name!r}", field=name)
    _, single = _query(params)
    now = runtime.clock.now()
    count = single.get("_count", str(DEFAULT_COUNT))
    if not count.isdigit() or not 0 < int(count) <= MAX_COUNT:
        raise InvalidInput(f"_count is between 1 and {MAX_COUNT}", field="_count")
    sort = single.get("_sort", "-date")
    if sort not in ("-date", "date"):
        raise InvalidInput("_sort is date or -date", field="_sort")
    statuses = tuple(params.get("status", [DocumentStatus.CURRENT.value]))
    for value in statuses:
        if value not in {s.value for s in DocumentStatus}:
            raise InvalidInput(f"unknown status {value!r}", field="status")
    date_from, date_to = date_bounds(params.get("date", []), "date")
    period_from, period_to = date_bounds(params.get("period", []), "period")
    author = single.get("author.identifier") or single.get("author")
    author_rpps = None
    if author:
        _, _, value = author.rpartition("|")
        author_rpps = rpps_from_national_id(value) if len(value) == 12 else value
    query = documents.DocumentQuery(
        type_codes=tuple(v.rpartition("|")[2] for v in params.get("type", [])),
        class_codes=tuple(v.rpartition("|")[2] for v in params.get("category", [])),
        statuses=statuses,
        date_from=date_from,
        date_to=date_to,
        period_from=period_from,
        period_to=period_to,
        author_rpps=author_rpps,
        offset=Page.parse(single.get("_page")).offset,
        count=int(count),
        newest_first=sort == "-date",
    )
    patient, identifier = named_patient(single, "DocumentReference")
    with unit_of_work(runtime.sessions) as session:
        record_id = record_of(session, patient, identifier)
        found, total = documents.search_documents(session, actor, record_id, query, now)
    base = base_url(request)
    # Links name the record by id, never by INS, and carry only our own parameters.
    kept = [
        (k, v)
        for k, values in params.items()
        for v in values
        if k not in ("_page", "patient.identifier", "subject.identifier", "patient", "subject")
    ]

    def link(relation: str, offset: int) -> dict[str, str]:
        query_string = urlencode([("patient", str(record_id)), *kept, ("_page", Page(offset).token())])
        return {"relation": relation, "url": f"{base}/fhir/DocumentReference?{query_string}"}

    links = [link("self", query.offset)]
    if query.offset + query.count < total:
        links.append(link("next", query.offset + query.count))
    if query.offset > 0:
        links.append(link("previous", max(0, query.offset - query.count)))
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/fhir/DocumentReference/{s.document.id}",
                "resource": fhir_document.to_fhir(s.document, s.authors, base),
                "search": {"mode": "match"},
            }
            for s in found
        ],
    }
    return fhir_response(bundle)


@get("/fhir/DocumentReference", operation_class=DocumentSearchOperation)
@threaded
def search_documents(request: Request[Any, Any, Any]) -> Response[bytes]:
    """ITI-67: the documents of one patient, filtered, newest first, paged."""
    return _search(request, {k: request.query_params.getall(k) for k in request.query_params})


@post("/fhir/DocumentReference/_search", status_code=200, operation_class=DocumentSearchByPostOperation)
@threaded
def search_documents_by_post(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
    return _search(request, form_params(request, body))


PATCHABLE = ("securityLabel", "meta", "extension")


@patch("/fhir/DocumentReference/{document_id:str}", operation_class=JsonPatchOperation)
@threaded
def patch_document(request: Request[Any, Any, Any], document_id: FromPath[str], body: RawBody) -> Response[bytes]:
    """JSON Patch of the security labels (masking, visibility, confidentiality) and of the
    PDSm_isArchived extension, as PDSm updates metadata. Other elements may not change."""
    runtime = runtime_of(request)
    actor = authenticate(request)
    doc_id = _document_id(document_id)
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    # A JSON Patch is a JSON array; clients that only speak JSON (fhirpy) send it as such.
    if media not in ("application/json-patch+json", "application/json", "application/fhir+json"):
        from opendmp.fhir.json import UnsupportedMediaType

        raise UnsupportedMediaType("send a JSON Patch (application/json-patch+json)")
    try:
        operations = jsonpatch.JsonPatch.from_string(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, jsonpatch.JsonPatchException) as error:
        raise InvalidInput(f"not a JSON Patch: {error}", field="body") from error
    with unit_of_work(runtime.sessions) as session:
        current = documents.get_document(session, actor, doc_id, runtime.clock.now(), action="document:read-metadata")
        before = fhir_document.to_fhir(current.document, current.authors, base_url(request))
        try:
            after = operations.apply(before)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as error:
            raise InvalidInput(f"the patch does not apply: {error}", field="body") from error
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        meta_changes = (
            {
                k
                for k in set(before.get("meta", {})) | set(after.get("meta", {}))
                if before.get("meta", {}).get(k) != after.get("meta", {}).get(k)
            }
            if "meta" in changed
            else set()
        )
        if changed - set(PATCHABLE) or meta_changes - {"security"}:
            raise InvalidInput(
                "only securityLabel, meta.security and the PDSm_isArchived extension may be patched", field="body"
            )
        change = _metadata_change(
            after,
            security_changed="securityLabel" in changed or "meta" in changed,
            extension_changed="extension" in changed,
        )
        stored = documents.update_metadata(
            session, actor, doc_id, change, runtime.clock.now(), if_match=if_match(request)
        )
        return _document_response(request, stored)


def _metadata_change(
    resource: dict[str, Any], *, security_changed: bool, extension_changed: bool
) -> documents.MetadataChange:
    masked = invisible_patient = invisible_reps = confidentiality = archived = None
    if security_changed:
        labels = {"securityLabel": resource.get("securityLabel") or []}
        if resource.get("meta", {}).get("security") is not None and "securityLabel" not in resource:
            labels = {"securityLabel": [{"coding": [c]} for c in resource["meta"]["security"]]}
        confidentiality_code, visibility = fhir_document._visibility(labels)
        masked = fhir_document.MASQUE_PS in visibility
        invisible_patient = fhir_document.INVISIBLE_PATIENT in visibility
        invisible_reps = fhir_document.INVISIBLE_REPRESENTANTS_LEGAUX in visibility
        confidentiality = confidentiality_code or "N"
    if extension_changed:
        flags = [
            e.get("valueBoolean")
            for e in resource.get("extension") or []
            if isinstance(e, dict) and e.get("url") == fhir_document.ARCHIVED_EXTENSION
        ]
        if len(flags) != 1 or not isinstance(flags[0], bool):
            raise InvalidInput("the PDSm_isArchived extension holds one boolean", field="extension")
        archived = flags[0]
    return documents.MetadataChange(
        masked_from_professionals=masked,
        invisible_to_patient=invisible_patient,
        invisible_to_representatives=invisible_reps,
        archived=archived,
        confidentiality=confidentiality,
    )


@delete("/fhir/DocumentReference/{document_id:str}", status_code=200)
@threaded
def delete_document(request: Request[Any, Any, Any], document_id: FromPath[str]) -> Response[bytes]:
    """Logical deletion by the author: the entry becomes entered-in-error."""
    runtime = runtime_of(request)
    actor = authenticate(request)
    doc_id = _document_id(document_id)
    with unit_of_work(runtime.sessions) as session:
        stored = documents.delete_document(session, actor, doc_id, runtime.clock.now(), if_match=if_match(request))
        return _document_response(request, stored)


@post("/fhir", status_code=200, operation_class=ResourceBodyOperation)
@threaded
def transaction(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
    """ITI-65 Provide Document Bundle: a SubmissionSet List, DocumentReferences and their
    Binaries, filed all together or not at all; answers a transaction-response. A `batch` Bundle
    of such bundles is an establishment feed (fhir/feed_batch.py): each bundle on its own."""
    runtime = runtime_of(request)
    actor = authenticate(request)
    limit = runtime.settings.max_document_bytes
    bundle = decode_resource(_limited(body, limit * 10), request.headers.get("content-type"), "Bundle")
    if bundle.get("type") == "batch":
        from opendmp.fhir.feed_batch import answer_batch

        return answer_batch(runtime, actor, bundle)
    if bundle.get("type") != "transaction":
        raise InvalidInput("POST /fhir takes a transaction (or batch) Bundle", field="Bundle.type")
    parsed = mhd.parse_provide_bundle(bundle)
    with unit_of_work(runtime.sessions) as session:
        stored = documents.submit_set(
            session,
            actor,
            parsed.submission,
            [(i, c) for _, i, c in parsed.items],
            runtime.clock.now(),
            runtime.vault,
            max_size=limit,
        )
    return fhir_response(mhd.transaction_response(parsed, stored))


@get("/fhir/Patient/{patient_id:str}/$recent-exam")
@threaded
def recent_exam(request: Request[Any, Any, Any], patient_id: FromPath[str]) -> Response[bytes]:
    """Was this exam (`code=<system>|<code>`, LOINC/NABM or CCAM) done in the last `days` days
    (default: the exam's own window)? A searchset with the latest such document, if readable."""
    from opendmp.document.exams import exam_windows, normalise_system

    runtime = runtime_of(request)
    actor = authenticate(request)
    record_id = id_from_path(patient_id)
    code_param = request.query_params.get("code") or ""
    system, sep, code = code_param.rpartition("|")
    if not sep or not system or not code:
        raise InvalidInput("code is <system>|<code>", field="code")
    days_param = request.query_params.get("days")
    window = exam_windows().get((normalise_system(system), code))
    if days_param is None:
        if window is None:
            raise InvalidInput("no default window for this exam: give days", field="days")
        days = window.days
    elif days_param.isdigit() and 0 < int(days_param) <= 3650:
        days = int(days_param)
    else:
        raise InvalidInput("days is a number of days (1 to 3650)", field="days")
    with unit_of_work(runtime.sessions) as session:
        found = documents.recent_exam(session, actor, record_id, system, code, days, runtime.clock.now())
    base = base_url(request)
    return fhir_response(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "link": [{"relation": "self", "url": f"{base}/fhir/Patient/{record_id}/$recent-exam"}],
            "entry": [
                {
                    "fullUrl": f"{base}/fhir/DocumentReference/{s.document.id}",
                    "resource": fhir_document.to_fhir(s.document, s.authors, base),
                    "search": {"mode": "match"},
                }
                for s in found
            ],
        }
    )


ROUTES = [
    recent_exam,
    publish_document,
    read_document,
    read_binary,
    search_documents,
    search_documents_by_post,
    patch_document,
    delete_document,
    transaction,
]
