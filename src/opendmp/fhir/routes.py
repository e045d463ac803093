"""FHIR R4 routes. Each handler: authenticate → Actor, own the transaction, call a service,
map the result to FHIR JSON. Errors are mapped once, in fhir/errors.py."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, PathParameter, RawBody

from opendmp import __version__
from opendmp.auth import letters
from opendmp.auth.bearer import authenticate_bearer
from opendmp.auth.hashing import AuthSecrets
from opendmp.auth.tokens import Unauthenticated
from opendmp.feed import service as reimbursements
from opendmp.fhir import patient as fhir_patient
from opendmp.fhir.content import capability_resources as content_capabilities
from opendmp.fhir.json import FHIR_JSON, MAX_BODY, decode_resource, encode
from opendmp.fhir.openapi import (
    CompartmentSearchOperation,
    LifecycleOperation,
    OpenOperation,
    SearchByPostOperation,
    SearchOperation,
)
from opendmp.fhir.outcome import operation_outcome
from opendmp.fhir.search import form_params
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import HiddenFromActor, InvalidInput, NotFound
from opendmp.kit.ids import parse_id
from opendmp.kit.threads import threaded
from opendmp.record import service as records
from opendmp.record.errors import AmbiguousTraits
from opendmp.record.models import CloseReason
from opendmp.runtime import Runtime

# Resources of the patient compartment: any search of them must name the patient.
COMPARTMENT_TYPES = frozenset(
    {
        "DocumentReference",
        "AuditEvent",
        "Consent",
        "Immunization",
        "AllergyIntolerance",
        "Observation",
        "RelatedPerson",
        "MedicationStatement",
        "Binary",
        "List",
        "Composition",
    }
)
PATIENT_SEARCH_KEYS = ("patient", "subject", "patient.identifier", "subject.identifier")


def runtime_of(request: Request[Any, Any, Any]) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def authenticate(request: Request[Any, Any, Any]) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("a bearer token is required (Authorization: Bearer <token>)")
    return authenticate_bearer(runtime_of(request), token.strip(), request.client.host if request.client else None)


def fhir_response(
    resource: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response[bytes]:
    return Response(
        content=encode(resource),
        status_code=status,
        media_type=FHIR_JSON,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def patient_response(
    request: Request[Any, Any, Any], view: records.PatientRecord, status: int = 200
) -> Response[bytes]:
    resource = fhir_patient.to_fhir(view)
    headers = {
        "ETag": f'W/"{view.record.version}"',
        "Last-Modified": view.record.updated_at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
    }
    if status == 201:
        headers["Location"] = f"{base_url(request)}/fhir/Patient/{view.record.id}/_history/{view.record.version}"
    return fhir_response(resource, status, headers)


def base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")


def id_from_path(text: str, resource: str = "Patient") -> uuid.UUID:
    """An id from a URL; anything that is not one of our ids is simply not found."""
    found = parse_id(text)
    if found is None:
        raise NotFound(f"no such {resource}")
    return found


def if_match(request: Request[Any, Any, Any]) -> int | None:
    header = request.headers.get("if-match")
    if not header:
        return None
    digits = header.removeprefix("W/").strip('"')
    if not digits.isdigit():
        raise InvalidInput('If-Match must be an ETag such as W/"3"', field="If-Match")
    return int(digits)


@get("/fhir/metadata", sync_to_thread=False)
def capability_statement(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The public CapabilityStatement (no token needed)."""
    runtime = runtime_of(request)
    operations = [
        {"name": name, "definition": f"{base_url(request)}/fhir/OperationDefinition/Patient-{name}"}
        for name in (
            "open",
            "close",
            "reopen",
            "object",
            "request-deletion",
            "suspend",
            "emergency-access",
            "credentials-letter",
            "vsm",  # the VSM form and its structured copy (fhir/summary_routes.py)
            "dlu",
        )
    ]
    return fhir_response(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-11-22",
            "publisher": "OpenDMP",
            "kind": "instance",
            "software": {"name": "OpenDMP", "version": __version__},
            "implementation": {"description": "OpenDMP record service", "url": f"{base_url(request)}/fhir"},
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json", "json"],
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "cors": False,
                        "description": "Every request other than metadata carries Authorization: Bearer <token>"
                        + (" (development tokens accepted: dev mode)" if runtime.settings.dev_mode else ""),
                    },
                    "resource": [
                        {
                            "type": "Patient",
                            "profile": fhir_patient.FR_CORE_PATIENT_INS,
                            "interaction": [{"code": "read"}, {"code": "search-type"}],
                            "versioning": "versioned-update",
                            "conditionalCreate": False,
                            "searchParam": [
                                {
                                    "name": "identifier",
                                    "type": "token",
                                    "documentation": "the INS: urn:oid:1.2.250.1.213.1.4.8|<NIR> (or NIA, test, demo)",
                                },
                                {
                                    "name": "family",
                                    "type": "string",
                                    "documentation": "birth name; with the four other traits",
                                },
                                {"name": "given", "type": "string", "documentation": "birth given names"},
                                {"name": "birthdate", "type": "date"},
                                {"name": "gender", "type": "token"},
                                {
                                    "name": "birthplace",
                                    "type": "token",
                                    "documentation": "INSEE code of the birthplace",
                                },
                            ],
                            "operation": operations,
                        },
                        {
                            "type": "Consent",
                            "documentation": "authorisations, blocks and the holder's preferences (emergency "
                            "switches, default masking, médecin traitant, access window): see docs/api/contract.md; "
                            "revoked by setting status to inactive",
                            "interaction": [
                                {"code": "create"},
                                {"code": "read"},
                                {"code": "patch"},
                                {"code": "search-type"},
                            ],
                            "searchParam": [
                                {"name": "patient", "type": "reference", "documentation": "Patient/<record id>"},
                                {"name": "patient.identifier", "type": "token", "documentation": "<system>|<NIR>"},
                                {"name": "status", "type": "token"},
                                {
                                    "name": "category",
                                    "type": "token",
                                    "documentation": "authorisation, block, preferences",
                                },
                            ],
                        },
                        {
                            "type": "AuditEvent",
                            "documentation": "the record's journal, for its holder and legal representatives; "
                            "every search names the patient",
                            "interaction": [{"code": "search-type"}],
                            "searchParam": [
                                {"name": "patient", "type": "reference", "documentation": "Patient/<record id>"},
                                {
                                    "name": "patient.identifier",
                                    "type": "token",
                                    "documentation": "the holder's INS: <system>|<NIR>",
                                },
                                {"name": "date", "type": "date", "documentation": "ge, gt, le, lt, eq"},
                                {
                                    "name": "agent",
                                    "type": "token",
                                    "documentation": "a professional: RPPS or urn:oid:1.2.250.1.71.4.2.1|8<RPPS>",
                                },
                                {"name": "_count", "type": "number"},
                                {"name": "_sort", "type": "string", "documentation": "-date (default) or date"},
                            ],
                        },
                        *content_capabilities(),
                    ],
                }
            ],
        }
    )


@post("/fhir/Patient/$open", status_code=201, operation_class=OpenOperation)
@threaded
def open_patient_record(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
    """Open a DMP: a Parameters resource with `patient`, `channel`, `consentDate`…"""
    runtime = runtime_of(request)
    actor = authenticate(request)
    opening = fhir_patient.parse_open(
        decode_resource(_limited(body), request.headers.get("content-type"), "Parameters")
    )
    secrets = AuthSecrets.from_master_key(runtime.keys.master_key)
    with unit_of_work(runtime.sessions) as session:
        view = records.open_record(
            session, actor, opening, runtime.clock.now(), policy=runtime.settings.opening_policy, secrets=secrets
        )
        # The parked reimbursement history joins the new record in the opening's transaction.
        reimbursements.attach_at_opening(
            session, runtime.vault.keys, view.record.id, view.patient.ins_value, runtime.clock.now()
        )
        return patient_response(request, view, 201)


@post("/fhir/Patient/{patient_id:str}/$credentials-letter", status_code=200, operation_class=LifecycleOperation)
@threaded
def credentials_letter(request: Request[Any, Any, Any], patient_id: FromPath[str]) -> Response[bytes]:
    """The holder's credentials letter (PDF), for the opener only, shortly after opening; each call
    draws a new activation code that replaces the previous one (docs/api/contract.md)."""
    runtime = runtime_of(request)
    actor = authenticate(request)
    record_id = id_from_path(patient_id)
    secrets = AuthSecrets.from_master_key(runtime.keys.master_key)
    with unit_of_work(runtime.sessions) as session:
        credentials, holder = letters.reprint(session, actor, record_id, runtime.clock.now(), secrets)
    pdf = letters.render(credentials, holder, letters.activation_url(runtime.settings.public_base_url))
    return Response(
        content=pdf,
        status_code=200,
        media_type="application/pdf",
        headers={"Cache-Control": "no-store", "Content-Disposition": 'attachment; filename="courrier-dmp.pdf"'},
    )


def _limited(body: bytes) -> bytes:
    if len(body) > MAX_BODY:
        raise InvalidInput("the body is too large", field="body")
    return body


@get("/fhir/Patient/{patient_id:str}")
@threaded
def read_patient(request: Request[Any, Any, Any], patient_id: FromPath[str]) -> Response[bytes]:
    runtime = runtime_of(request)
    actor = authenticate(request)
    record_id = id_from_path(patient_id)
    with unit_of_work(runtime.sessions) as session:
        return patient_response(request, records.get_record(session, actor, record_id, runtime.clock.now()))


def _search(request: Request[Any, Any, Any], actor: Actor, params: dict[str, list[str]]) -> Response[bytes]:
    runtime = runtime_of(request)
    criteria = fhir_patient.parse_search(params)
    outcome: dict[str, Any] | None = None
    found: records.PatientRecord | None = None
    try:
        with unit_of_work(runtime.sessions) as session:
            now = runtime.clock.now()
            if isinstance(criteria, Ins):
                found = records.find_by_ins(session, actor, criteria, now)
            else:
                found = records.find_by_traits(session, actor, criteria, now)
            bundle = _searchset(request, found, None)
            return fhir_response(bundle)
    except AmbiguousTraits as error:
        outcome = operation_outcome("multiple-matches", error.message, field="identifier", severity="warning")
    except HiddenFromActor:
        pass  # a record the actor may not see is, for them, no record: an empty result
    return fhir_response(_searchset(request, None, outcome))


def _searchset(
    request: Request[Any, Any, Any], found: records.PatientRecord | None, outcome: dict[str, Any] | None
) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    if found is not None:
        entries.append(
            {
                "fullUrl": f"{base_url(request)}/fhir/Patient/{found.record.id}",
                "resource": fhir_patient.to_fhir(found),
                "search": {"mode": "match"},
            }
        )
    if outcome is not None:
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    # The self link carries no query: an INS never travels in a URL we write.
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 1 if found else 0,
        "link": [{"relation": "self", "url": f"{base_url(request)}/fhir/Patient"}],
    }
    if entries:
        bundle["entry"] = entries
    return bundle


@get("/fhir/Patient", operation_class=SearchOperation)
@threaded
def search_patients(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Search only by INS (`identifier=<system>|<NIR>`) or by all five strict traits."""
    actor = authenticate(request)
    return _search(request, actor, {k: request.query_params.getall(k) for k in request.query_params})


@post("/fhir/Patient/_search", status_code=200, operation_class=SearchByPostOperation)
@threaded
def search_patients_by_post(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
    """The same search with the parameters in a form body, so that NIRs stay out of URLs."""
    actor = authenticate(request)
    return _search(request, actor, form_params(request, _limited(body), keep_blank=True))


def _optional_parameters(request: Request[Any, Any, Any], body: RawBody) -> dict[str, Any] | None:
    if not body:
        return None
    return decode_resource(_limited(body), request.headers.get("content-type"), "Parameters")


@post(
    "/fhir/Patient/{patient_id:str}/{operation:str}",
    status_code=200,
    operation_class=LifecycleOperation,
)
@threaded
def patient_operation(
    request: Request[Any, Any, Any],
    patient_id: FromPath[str],
    operation: Annotated[str, PathParameter(pattern=r"^\$[a-z-]+$")],
    body: RawBody = RawBody(b""),
) -> Response[bytes]:
    """$close, $reopen, $object, $request-deletion, $suspend on one record."""
    runtime = runtime_of(request)
    actor = authenticate(request)
    record_id = id_from_path(patient_id)
    if operation not in ("$close", "$reopen", "$object", "$request-deletion", "$suspend"):
        raise NotFound(f"unknown operation {operation}")
    params = _optional_parameters(request, body)
    reason = fhir_patient.parse_reason(params)
    expected_version = if_match(request)
    with unit_of_work(runtime.sessions) as session:
        now = runtime.clock.now()
        match operation:
            case "$close":
                view = records.close_record(
                    session,
                    actor,
                    record_id,
                    now,
                    CloseReason.HOLDER_REQUEST if actor.kind.value == "patient" else CloseReason.OPERATOR,
                    if_match=expected_version,
                )
            case "$reopen":
                view = records.reopen_record(session, actor, record_id, now, if_match=expected_version)
            case "$object":
                view = records.object_to_record(session, actor, record_id, now)
                reimbursements.purge_at_objection(session, runtime.vault.keys, record_id, now)
            case "$request-deletion":
                view = records.request_deletion(session, actor, record_id, now)
            case _:
                view = records.suspend_record(session, actor, record_id, reason or "", now)
        return patient_response(request, view)


@get("/fhir/{resource_type:str}", operation_class=CompartmentSearchOperation)
@threaded  # authentication may read the database (a software client's status) or journal a refusal
def search_compartment(request: Request[Any, Any, Any], resource_type: FromPath[str]) -> Response[bytes]:
    """Searches of patient data must name the patient; the resources come with later issues."""
    authenticate(request)
    if resource_type not in COMPARTMENT_TYPES:
        raise NotFound(f"unknown resource type {resource_type}")
    if not any(key in request.query_params for key in PATIENT_SEARCH_KEYS):
        raise InvalidInput(
            f"a {resource_type} search must name the patient (patient, subject or patient.identifier)", field="patient"
        )
    return fhir_response(operation_outcome("not-supported", f"{resource_type} is not served yet"), 501)


ROUTES = [
    capability_statement,
    open_patient_record,
    credentials_letter,
    read_patient,
    search_patients,
    search_patients_by_post,
    patient_operation,
    search_compartment,
]
