"""FHIR operations of the VSM and the DLU (docs/api/contract.md, "VSM and DLU"):
`POST /fhir/Patient/{id}/$vsm` and `$dlu` take the form as JSON and answer the DocumentReference
of the CDA document filed (201); `GET` of the same operations answers the structured copy of the
current version (or of `?document=<DocumentReference id>`) as JSON."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, RawBody

from opendmp.fhir import document as fhir_document
from opendmp.fhir.json import MAX_BODY, UnsupportedMediaType
from opendmp.fhir.outcome import operation_outcome
from opendmp.fhir.routes import authenticate, base_url, fhir_response, id_from_path, runtime_of
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import InvalidInput
from opendmp.kit.threads import threaded
from opendmp.summary import service as summaries
from opendmp.summary.forms import FormInvalid, dlu_from_json, vsm_from_json

JSON_TYPES = ("application/json", "application/fhir+json")


def _form_body(request: Request[Any, Any, Any], body: bytes) -> Any:
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        raise UnsupportedMediaType(f"send the form as application/json, not {media or 'nothing'}")
    if len(body) > MAX_BODY:
        raise InvalidInput(f"the form exceeds {MAX_BODY} bytes", field="body")
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise InvalidInput(f"the body is not valid JSON: {error}", field="body") from error


def _invalid_form(error: FormInvalid) -> Response[bytes]:
    """Every problem of the form at once, each issue naming its field."""
    issues = [operation_outcome("invalid", message, field=path)["issue"][0] for path, message in error.issues]
    return fhir_response({"resourceType": "OperationOutcome", "issue": issues}, 400)


def _submit(request: Request[Any, Any, Any], patient_id: str, body: bytes, kind: str) -> Response[bytes]:
    runtime = runtime_of(request)
    actor = authenticate(request)
    record_id = id_from_path(patient_id)
    data = _form_body(request, body)
    now, limit = runtime.clock.now(), runtime.settings.max_document_bytes
    try:
        with unit_of_work(runtime.sessions) as session:
            if kind == "vsm":
                stored = summaries.submit_vsm(
                    session,
                    actor,
                    record_id,
                    vsm_from_json(data, summaries.today(now)),
                    now,
                    runtime.vault,
                    max_size=limit,
                )
            else:
                stored = summaries.submit_dlu(
                    session,
                    actor,
                    record_id,
                    dlu_from_json(data, summaries.today(now)),
                    now,
                    runtime.vault,
                    max_size=limit,
                )
    except FormInvalid as error:
        return _invalid_form(error)
    document = stored.document.document
    base = base_url(request)
    return fhir_response(
        fhir_document.to_fhir(document, stored.document.authors, base),
        201,
        {
            "ETag": f'W/"{document.meta_version}"',
            "Location": f"{base}/fhir/DocumentReference/{document.id}/_history/{document.meta_version}",
        },
    )


def _read(request: Request[Any, Any, Any], patient_id: str, kind: str) -> Response[bytes]:
    runtime = runtime_of(request)
    actor = authenticate(request)
    record_id = id_from_path(patient_id)
    wanted = request.query_params.get("document")
    document_id = id_from_path(wanted, "DocumentReference") if wanted else None
    with unit_of_work(runtime.sessions) as session:
        view = summaries.read_summary(
            session, actor, record_id, kind, runtime.clock.now(), runtime.vault, document_id=document_id
        )
    answer = {
        **view.copy,
        "document": f"DocumentReference/{view.document_id}",
        "status": view.status,
    }
    return Response(
        content=msgspec.json.encode(answer),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@post("/fhir/Patient/{patient_id:str}/$vsm", status_code=201)
@threaded
def submit_vsm(request: Request[Any, Any, Any], patient_id: FromPath[str], body: RawBody) -> Response[bytes]:
    """The médecin traitant files the VSM form: a CDA document (PDF body) and its structured copy."""
    return _submit(request, patient_id, body, "vsm")


@post("/fhir/Patient/{patient_id:str}/$dlu", status_code=201)
@threaded
def submit_dlu(request: Request[Any, Any, Any], patient_id: FromPath[str], body: RawBody) -> Response[bytes]:
    """An EHPAD professional files the DLU form."""
    return _submit(request, patient_id, body, "dlu")


@get("/fhir/Patient/{patient_id:str}/$vsm")
@threaded
def read_vsm(request: Request[Any, Any, Any], patient_id: FromPath[str]) -> Response[bytes]:
    """The structured copy of the current VSM (or of ?document=<id>)."""
    return _read(request, patient_id, "vsm")


@get("/fhir/Patient/{patient_id:str}/$dlu")
@threaded
def read_dlu(request: Request[Any, Any, Any], patient_id: FromPath[str]) -> Response[bytes]:
    """The structured copy of the current DLU (or of ?document=<id>)."""
    return _read(request, patient_id, "dlu")


ROUTES = [submit_vsm, submit_dlu, read_vsm, read_dlu]
