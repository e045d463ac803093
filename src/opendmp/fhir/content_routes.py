"""FHIR routes of the patient's content: create, read, update (PUT, If-Match), delete and search
by patient for Observation (blood group), AllergyIntolerance, RelatedPerson, MedicationStatement
and Immunization; the emergency summary (`GET /fhir/Patient/{id}/$emergency-summary`, a
`collection` Bundle); what the vaccination schedule asks (`ImmunizationRecommendation?patient=`).
The rules live in the policy and content/service.py; these routes translate."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, delete, get, post, put
from litestar.openapi.spec import OpenAPIMediaType, Operation, Parameter, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import FromPath, RawBody

from opendmp.content import codes, directives
from opendmp.content import service as content
from opendmp.content.errors import MissingAnswers
from opendmp.content.schemas import ContentItem
from opendmp.fhir import content as fhir_content
from opendmp.fhir import document as fhir_document
from opendmp.fhir.json import decode_resource
from opendmp.fhir.routes import authenticate, base_url, fhir_response, id_from_path, if_match, runtime_of
from opendmp.fhir.search import form_params, named_patient, record_of
from opendmp.identity.ins import parse_ins
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import InvalidInput
from opendmp.kit.threads import threaded
from opendmp.record import repository as records_repo
from opendmp.record.errors import RecordNotFound

MAX_BODY = 64 * 1024
TYPES = tuple(fhir_content.KIND_OF_RESOURCE)
SEARCH_FIELDS = ("patient", "patient.identifier", "subject", "subject.identifier", "code", "_format")
_STRING = Schema(type=OpenAPIType.STRING)


@dataclass
class ContentBodyOperation(Operation):
    def __post_init__(self) -> None:
        schema = Schema(
            type=OpenAPIType.OBJECT,
            required=["resourceType"],
            properties={"resourceType": Schema(type=OpenAPIType.STRING, enum=list(TYPES))},
        )
        media = OpenAPIMediaType(schema=schema)
        self.request_body = RequestBody(content={"application/fhir+json": media}, required=True)


@dataclass
class ContentSearchOperation(Operation):
    def __post_init__(self) -> None:
        self.parameters = [
            *(self.parameters or []),
            *(Parameter(name=name, param_in="query", schema=_STRING) for name in SEARCH_FIELDS),
        ]


@dataclass
class ContentSearchByPostOperation(Operation):
    def __post_init__(self) -> None:
        schema = Schema(type=OpenAPIType.OBJECT, properties={name: _STRING for name in SEARCH_FIELDS})
        self.request_body = RequestBody(
            content={"application/x-www-form-urlencoded": OpenAPIMediaType(schema=schema)}, required=True
        )


@dataclass
class DirectivesOperation(Operation):
    def __post_init__(self) -> None:
        schema = Schema(
            type=OpenAPIType.OBJECT,
            required=["resourceType"],
            properties={
                "resourceType": Schema(type=OpenAPIType.STRING, enum=["QuestionnaireResponse"]),
                "item": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT)),
            },
        )
        self.request_body = RequestBody(
            content={"application/fhir+json": OpenAPIMediaType(schema=schema)}, required=True
        )


def _limited(body: bytes) -> bytes:
    if len(body) > MAX_BODY:
        raise InvalidInput(f"a resource is at most {MAX_BODY} bytes", field="body")
    return body


def _type_of(request: Request[Any, Any, Any]) -> str:
    """The resource type the route was called for (one handler serves the five types)."""
    parts = request.url.path.split("/")
    resource_type = parts[2] if len(parts) > 2 else ""
    if resource_type not in fhir_content.KIND_OF_RESOURCE:
        raise RecordNotFound(f"unknown resource type {resource_type}")
    return resource_type


def _headers(request: Request[Any, Any, Any], item: ContentItem, *, location: bool = False) -> dict[str, str]:
    headers = {"ETag": f'W/"{item.version}"', "Last-Modified": item.updated_at.strftime("%a, %d %b %Y %H:%M:%S GMT")}
    if location:
        resource_type = fhir_content.RESOURCE_OF_KIND[item.kind]
        headers["Location"] = f"{base_url(request)}/fhir/{resource_type}/{item.id}/_history/{item.version}"
    return headers


def _record_id(session: Any, record_id: uuid.UUID | None, identifier: tuple[str, str] | None, field: str) -> uuid.UUID:
    if record_id is None and identifier is not None:
        record_id = records_repo.record_id_by_ins(session, parse_ins(*identifier))
    if record_id is None:
        raise RecordNotFound("no such patient", field=field)
    return record_id


def _paths(suffix: str = "") -> list[str]:
    return [f"/fhir/{t}{suffix}" for t in TYPES]


@post(_paths(), status_code=201, operation_class=ContentBodyOperation)
@threaded
def create_content(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
    """Add one item: expression libre by the holder or a representative, an Immunization by a
    vaccinating professional (primarySource true) or declared by the patient (false)."""
    runtime = runtime_of(request)
    actor = authenticate(request)
    resource_type = _type_of(request)
    resource = decode_resource(_limited(body), request.headers.get("content-type"), resource_type)
    data = fhir_content.parse_content(resource)
    subject, identifier = fhir_content.subject_of(resource, resource_type)
    with unit_of_work(runtime.sessions) as session:
        record_id = _record_id(session, subject, identifier, f"{resource_type}.patient")
        item = content.add_content(session, actor, record_id, data, runtime.clock.now(), runtime.vault.keys)
    return fhir_response(fhir_content.to_fhir(item), 201, _headers(request, item, location=True))


@get(_paths("/{item_id:str}"))
@threaded
def read_content(request: Request[Any, Any, Any], item_id: FromPath[str]) -> Response[bytes]:
    runtime = runtime_of(request)
    actor = authenticate(request)
    resource_type = _type_of(request)
    found = id_from_path(item_id, resource_type)
    with unit_of_work(runtime.sessions) as session:
        item = content.get_content(
            session,
            actor,
            found,
            runtime.clock.now(),
            runtime.vault.keys,
            kind=fhir_content.KIND_OF_RESOURCE[resource_type],
        )
    return fhir_response(fhir_content.to_fhir(item), 200, _headers(request, item))


@put(_paths("/{item_id:str}"), operation_class=ContentBodyOperation)
@threaded
def update_content(request: Request[Any, Any, Any], item_id: FromPath[str], body: RawBody) -> Response[bytes]:
    """The whole item again (FHIR update); `If-Match: W/"<version>"` guards against lost updates."""
    runtime = runtime_of(request)
    actor = authenticate(request)
    resource_type = _type_of(request)
    found = id_from_path(item_id, resource_type)
    resource = decode_resource(_limited(body), request.headers.get("content-type"), resource_type)
    if resource.get("id") not in (None, str(found)):
        raise InvalidInput("the resource's id is not the one in the URL", field=f"{resource_type}.id")
    data = fhir_content.parse_content(resource)
    expected = if_match(request)
    with unit_of_work(runtime.sessions) as session:
        item = content.update_content(
            session, actor, found, data, runtime.clock.now(), runtime.vault.keys, if_match=expected
        )
    return fhir_response(fhir_content.to_fhir(item), 200, _headers(request, item))


@delete(_paths("/{item_id:str}"), status_code=204)
@threaded
def delete_content(request: Request[Any, Any, Any], item_id: FromPath[str]) -> None:
    runtime = runtime_of(request)
    actor = authenticate(request)
    resource_type = _type_of(request)
    found = id_from_path(item_id, resource_type)
    expected = if_match(request)
    with unit_of_work(runtime.sessions) as session:
        content.delete_content(
            session,
            actor,
            found,
            runtime.clock.now(),
            if_match=expected,
            kind=fhir_content.KIND_OF_RESOURCE[resource_type],
        )


def _search(request: Request[Any, Any, Any], params: dict[str, list[str]]) -> Response[bytes]:
    runtime = runtime_of(request)
    actor = authenticate(request)
    resource_type = _type_of(request)
    unknown = set(params) - set(SEARCH_FIELDS)
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(f"unsupported search parameter {name!r}", field=name)
    single = {k: v[-1] for k, v in params.items() if v}
    patient, identifier = named_patient(single, resource_type)
    code = single.get("code")
    if code is not None and (resource_type != "Observation" or code.rpartition("|")[2] != codes.BLOOD_GROUP_LOINC):
        raise InvalidInput("code is only searched on Observation, as 882-1 (the blood group)", field="code")
    with unit_of_work(runtime.sessions) as session:
        record_id = record_of(session, patient, identifier)
        items = content.list_content(
            session,
            actor,
            record_id,
            [fhir_content.KIND_OF_RESOURCE[resource_type]],
            runtime.clock.now(),
            runtime.vault.keys,
        )
    base = base_url(request)
    return fhir_response(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(items),
            "link": [{"relation": "self", "url": f"{base}/fhir/{resource_type}?patient={record_id}"}],
            "entry": [
                {
                    "fullUrl": f"{base}/fhir/{resource_type}/{item.id}",
                    "resource": fhir_content.to_fhir(item),
                    "search": {"mode": "match"},
                }
                for item in items
            ],
        }
    )


@get(_paths(), operation_class=ContentSearchOperation)
@threaded
def search_content(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The record's items of this type; the patient must be named (patient or patient.identifier)."""
    return _search(request, {k: request.query_params.getall(k) for k in request.query_params})


@post(_paths("/_search"), status_code=200, operation_class=ContentSearchByPostOperation)
@threaded
def search_content_by_post(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
    """The same search with the parameters in a form body, so that INS stay out of URLs."""
    return _search(request, form_params(request, _limited(body)))


@get("/fhir/Patient/{patient_id:str}/$emergency-summary")
@threaded
def emergency_summary(request: Request[Any, Any, Any], patient_id: FromPath[str]) -> Response[bytes]:
    """Blood group, allergies, treatments, people to notify, whether advance directives exist and
    the trusted person: for the holder, authorised professionals and emergency access."""
    runtime = runtime_of(request)
    actor = authenticate(request)
    record_id = id_from_path(patient_id)
    with unit_of_work(runtime.sessions) as session:
        summary = content.emergency_summary(session, actor, record_id, runtime.clock.now(), runtime.vault.keys)
    return fhir_response(fhir_content.emergency_bundle(summary, base_url(request)))


def _answers(response: dict[str, Any]) -> dict[str, str | None]:
    """A QuestionnaireResponse's answers by linkId (valueString, or valueBoolean as "true")."""
    answers: dict[str, str | None] = {}
    items = response.get("item") or []
    if not isinstance(items, list):
        raise InvalidInput("QuestionnaireResponse.item must be an array", field="QuestionnaireResponse.item")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("linkId"), str):
            raise InvalidInput("each item needs a linkId", field="QuestionnaireResponse.item.linkId")
        values = item.get("answer") or []
        first = values[0] if isinstance(values, list) and values and isinstance(values[0], dict) else {}
        value = first.get("valueString", first.get("valueBoolean"))
        answers[item["linkId"]] = ("true" if value else "false") if isinstance(value, bool) else _text_or_none(value)
    return answers


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@post("/fhir/Patient/{patient_id:str}/$advance-directives", status_code=201, operation_class=DirectivesOperation)
@threaded
def write_advance_directives(
    request: Request[Any, Any, Any], patient_id: FromPath[str], body: RawBody
) -> Response[bytes]:
    """The holder's questionnaire (a QuestionnaireResponse, linkIds in docs/api/contract.md) filed
    as a generated PDF DocumentReference of type EXPPAT_3, replacing the previous version."""
    runtime = runtime_of(request)
    actor = authenticate(request)
    record_id = id_from_path(patient_id)
    response = decode_resource(_limited(body), request.headers.get("content-type"), "QuestionnaireResponse")
    try:
        answers = directives.parse_answers(_answers(response))
    except MissingAnswers as error:
        raise MissingAnswers([f"QuestionnaireResponse.item.where(linkId='{f}')" for f in error.fields]) from None
    with unit_of_work(runtime.sessions) as session:
        written = directives.write_directives(
            session,
            actor,
            record_id,
            answers,
            runtime.clock.now(),
            runtime.vault,
            max_size=runtime.settings.max_document_bytes,
        )
        document = fhir_document.to_fhir(written.stored.document, written.stored.authors, base_url(request))
        version = written.stored.document.meta_version
    return fhir_response(
        document,
        201,
        {
            "Location": f"{base_url(request)}/fhir/DocumentReference/{document['id']}",
            "ETag": f'W/"{version}"',
        },
    )


def _recommendations(request: Request[Any, Any, Any], params: dict[str, list[str]]) -> Response[bytes]:
    runtime = runtime_of(request)
    actor = authenticate(request)
    unknown = set(params) - {"patient", "patient.identifier", "_format"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(f"unsupported search parameter {name!r}", field=name)
    single = {k: v[-1] for k, v in params.items() if v}
    patient, identifier = named_patient(single, "ImmunizationRecommendation", subject=False)
    with unit_of_work(runtime.sessions) as session:
        now = runtime.clock.now()
        record_id = record_of(session, patient, identifier)
        carnet = content.vaccination_record(session, actor, record_id, now, runtime.vault.keys)
    resource = fhir_content.recommendation(record_id, carnet.schedule, now)
    base = base_url(request)
    entries = (
        [
            {
                "fullUrl": f"{base}/fhir/ImmunizationRecommendation/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
        ]
        if resource
        else []
    )
    return fhir_response(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(entries),
            "link": [{"relation": "self", "url": f"{base}/fhir/ImmunizationRecommendation?patient={record_id}"}],
            "entry": entries,
        }
    )


@get("/fhir/ImmunizationRecommendation", operation_class=ContentSearchOperation)
@threaded
def search_recommendations(request: Request[Any, Any, Any]) -> Response[bytes]:
    """What the French schedule asks now for this patient's age and recorded doses (computed)."""
    return _recommendations(request, {k: request.query_params.getall(k) for k in request.query_params})


@post("/fhir/ImmunizationRecommendation/_search", status_code=200, operation_class=ContentSearchByPostOperation)
@threaded
def search_recommendations_by_post(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
    return _recommendations(request, form_params(request, _limited(body)))


ROUTES = [
    create_content,
    read_content,
    update_content,
    delete_content,
    search_content,
    search_content_by_post,
    emergency_summary,
    write_advance_directives,
    search_recommendations,
    search_recommendations_by_post,
]
