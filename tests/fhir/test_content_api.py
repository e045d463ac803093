"""The patient's content through FHIR: Observation (blood group), AllergyIntolerance,
RelatedPerson, MedicationStatement, Immunization (create, read, search by patient, update,
delete), the emergency summary and ImmunizationRecommendation. Every answer validates as R4."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.composition import Composition
from fhir.resources.R4B.immunization import Immunization
from fhir.resources.R4B.immunizationrecommendation import ImmunizationRecommendation
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.relatedperson import RelatedPerson
from litestar.testing import TestClient

from opendmp.content import directives
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins
from opendmp.journal.service import entries_of
from opendmp.kit.db import unit_of_work
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.conftest import bearer
from tests.fhir.test_document_api import JSON_HEADERS
from tests.fhir.test_patient_api import outcome
from tests.integration.test_patient_content import ANSWERS

DOCTOR = Actor.professional("10000000002", "10")
STRANGER = Actor.professional("10000000003", "10")
ER_DOCTOR = Actor.professional("10000000006", "10")
SNOMED, ATC, LOINC = "http://snomed.info/sct", "http://www.whocc.no/atc", "http://loinc.org"
MODELS: dict[str, Any] = {
    "Observation": Observation,
    "AllergyIntolerance": AllergyIntolerance,
    "RelatedPerson": RelatedPerson,
    "MedicationStatement": MedicationStatement,
    "Immunization": Immunization,
}


@pytest.fixture
def record(runtime: Runtime) -> tuple[Ins, uuid.UUID]:
    ins, traits = f.person()
    record_id = f.open_record(runtime, Actor.counter_agent("agent"), ins, traits).record.id
    for actor in (DOCTOR, STRANGER, ER_DOCTOR):
        f.add_professional(runtime, actor.id, actor.profession or "10")
    f.authorise(runtime, record_id, DOCTOR)
    return ins, record_id


def resource(resource_type: str, record_id: Any, **override: Any) -> dict[str, Any]:
    patient = {"reference": f"Patient/{record_id}"}
    shapes: dict[str, dict[str, Any]] = {
        "Observation": {
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "882-1"}]},
            "subject": patient,
            "effectiveDateTime": "2001-04-02",
            "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "278149003"}]},
        },
        "AllergyIntolerance": {
            "type": "allergy",
            "criticality": "high",
            "code": {"coding": [{"system": SNOMED, "code": "764146007"}], "text": "œdème de Quincke"},
            "patient": patient,
            "onsetDateTime": "1998-07-01",
        },
        "RelatedPerson": {
            "patient": patient,
            "relationship": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "SPS"}]}
            ],
            "name": [{"family": "MARTIN", "given": ["Paul"]}],
            "telecom": [{"system": "phone", "value": "06 00 00 00 01"}],
        },
        "MedicationStatement": {
            "status": "active",
            "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "B01AA03"}]},
            "subject": patient,
            "effectivePeriod": {"start": "2020-01-01"},
            "dosage": [{"text": "5 mg le soir"}],
        },
        "Immunization": {
            "status": "completed",
            "vaccineCode": {"coding": [{"system": ATC, "code": "J07BB02"}]},
            "patient": patient,
            "occurrenceDateTime": "2025-10-15",
            "lotNumber": "FLU-2025-42",
            "primarySource": True,
        },
    }
    return {"resourceType": resource_type, **shapes[resource_type], **override}


WRITER = {"Immunization": DOCTOR}  # expression libre is the holder's; vaccinations a vaccinator's


def post(client: TestClient[Any], runtime: Runtime, actor: Actor, body: dict[str, Any]) -> Any:
    return client.post(f"/fhir/{body['resourceType']}", json=body, headers={**JSON_HEADERS, **bearer(runtime, actor)})


@pytest.mark.parametrize("resource_type", list(MODELS))
def test_each_resource_is_created_read_and_searched_by_patient_as_valid_r4(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, uuid.UUID], resource_type: str
) -> None:
    ins, record_id = record
    writer = WRITER.get(resource_type, Actor.patient(ins))
    created = post(client, runtime, writer, resource(resource_type, record_id))
    assert created.status_code == 201, created.text
    MODELS[resource_type].model_validate(created.json())
    assert created.headers["etag"] == 'W/"1"' and created.headers["location"].endswith("/_history/1")
    item_id = created.json()["id"]
    read = client.get(f"/fhir/{resource_type}/{item_id}", headers=bearer(runtime, DOCTOR))
    assert read.status_code == 200, read.text
    assert MODELS[resource_type].model_validate(read.json()).id == item_id
    found = client.post(
        f"/fhir/{resource_type}/_search",
        content=f"patient.identifier={ins.system.uri}|{ins.value}",
        headers={"Content-Type": "application/x-www-form-urlencoded", **bearer(runtime, DOCTOR)},
    )
    assert found.status_code == 200, found.text
    bundle = Bundle.model_validate(found.json())
    assert bundle.total == 1 and bundle.entry[0].resource.id == item_id
    with unit_of_work(runtime.sessions) as session:
        actions = [(e.action, e.actor_id) for e in entries_of(session, record_id)]
    assert ("content:create", writer.id) in actions
    assert ("content:read", DOCTOR.id) in actions and ("content:search", DOCTOR.id) in actions


def test_anonymous_callers_get_401_and_strangers_404(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    item_id = post(client, runtime, Actor.patient(ins), resource("AllergyIntolerance", record_id)).json()["id"]
    outcome(client.get(f"/fhir/AllergyIntolerance/{item_id}"), 401)
    outcome(client.get(f"/fhir/AllergyIntolerance/{item_id}", headers=bearer(runtime, STRANGER)), 404, "not-found")
    outcome(
        client.get(f"/fhir/AllergyIntolerance?patient={record_id}", headers=bearer(runtime, STRANGER)), 404, "not-found"
    )
    outcome(client.get(f"/fhir/Observation/{item_id}", headers=bearer(runtime, DOCTOR)), 404)  # not an Observation
    outcome(
        client.get(f"/fhir/AllergyIntolerance?patient={record_id}", headers=bearer(runtime, Actor.insurer_feed())),
        404,
    )


def test_a_search_must_name_the_patient(client: TestClient[Any], runtime: Runtime, record: Any) -> None:
    body = outcome(client.get("/fhir/Immunization", headers=bearer(runtime, DOCTOR)), 400, "invalid")
    assert body["issue"][0]["expression"] == ["patient"]


@pytest.mark.parametrize(
    ("resource_type", "override", "field"),
    [
        (
            "Observation",
            {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "1"}]}},
            "Observation.valueCodeableConcept",
        ),
        ("Observation", {"effectiveDateTime": "2030-01-01"}, "Observation.effectiveDateTime"),
        ("AllergyIntolerance", {"code": {"coding": [{"system": SNOMED, "code": "42"}]}}, "AllergyIntolerance.code"),
        ("AllergyIntolerance", {"onsetDateTime": "2027-01-01T10:00:00Z"}, "AllergyIntolerance.onsetDateTime"),
        (
            "MedicationStatement",
            {"medicationCodeableConcept": {"coding": [{"system": ATC, "code": "X"}]}},
            "MedicationStatement.medicationCodeableConcept",
        ),
        ("RelatedPerson", {"telecom": []}, "RelatedPerson.telecom"),
        ("Immunization", {"vaccineCode": {"coding": [{"system": ATC, "code": "J07ZZ99"}]}}, "Immunization.vaccineCode"),
        ("Immunization", {"occurrenceDateTime": "2026-06-02"}, "Immunization.occurrenceDateTime"),
    ],
)
def test_unknown_codes_and_future_dates_answer_an_outcome_naming_the_field(
    client: TestClient[Any],
    runtime: Runtime,
    record: tuple[Ins, uuid.UUID],
    resource_type: str,
    override: dict[str, Any],
    field: str,
) -> None:
    ins, record_id = record
    writer = WRITER.get(resource_type, Actor.patient(ins))
    body = outcome(post(client, runtime, writer, resource(resource_type, record_id, **override)), 400, "invalid")
    assert body["issue"][0]["expression"] == [field]
    found = client.get(f"/fhir/{resource_type}?patient={record_id}", headers=bearer(runtime, Actor.patient(ins)))
    assert found.json()["total"] == 0


def test_a_patient_declares_an_immunization_marked_as_not_primary(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    declared = post(client, runtime, Actor.patient(ins), resource("Immunization", record_id, primarySource=True))
    assert declared.status_code == 201, declared.text
    body = Immunization.model_validate(declared.json())
    assert body.primarySource is False and body.reportOrigin.coding[0].code == "recall"
    given = post(client, runtime, DOCTOR, resource("Immunization", record_id)).json()
    assert given["primarySource"] is True
    assert given["performer"][0]["actor"]["identifier"]["value"] == "8" + DOCTOR.id


def test_an_update_needs_the_current_version_and_a_deleted_item_is_gone(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    holder = {**JSON_HEADERS, **bearer(runtime, Actor.patient(ins))}
    item_id = post(client, runtime, Actor.patient(ins), resource("MedicationStatement", record_id)).json()["id"]
    changed = resource("MedicationStatement", record_id, id=item_id, dosage=[{"text": "2,5 mg"}])
    updated = client.put(f"/fhir/MedicationStatement/{item_id}", json=changed, headers={**holder, "If-Match": 'W/"1"'})
    assert updated.status_code == 200 and updated.headers["etag"] == 'W/"2"'
    assert updated.json()["dosage"] == [{"text": "2,5 mg"}]
    stale = client.put(f"/fhir/MedicationStatement/{item_id}", json=changed, headers={**holder, "If-Match": 'W/"1"'})
    outcome(stale, 412, "conflict")
    outcome(
        client.put(
            f"/fhir/MedicationStatement/{item_id}", json=changed, headers={**JSON_HEADERS, **bearer(runtime, DOCTOR)}
        ),
        403,
    )
    assert client.delete(f"/fhir/MedicationStatement/{item_id}", headers=holder).status_code == 204
    outcome(client.get(f"/fhir/MedicationStatement/{item_id}", headers=holder), 404)


def test_the_emergency_summary_is_a_collection_led_by_a_composition(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    for resource_type in ("Observation", "AllergyIntolerance", "RelatedPerson", "MedicationStatement"):
        assert post(client, runtime, Actor.patient(ins), resource(resource_type, record_id)).status_code == 201
    with unit_of_work(runtime.sessions) as session:
        directives.write_directives(
            session,
            Actor.patient(ins),
            record_id,
            directives.parse_answers(ANSWERS),
            runtime.clock.now(),
            runtime.vault,
            max_size=runtime.settings.max_document_bytes,
        )
    url = f"/fhir/Patient/{record_id}/$emergency-summary"
    outcome(client.get(url, headers=bearer(runtime, ER_DOCTOR)), 404)
    access = client.post(
        f"/fhir/Patient/{record_id}/$emergency-access",
        json={"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "inconsciente"}]},
        headers={**JSON_HEADERS, **bearer(runtime, ER_DOCTOR)},
    )
    assert access.status_code == 200, access.text
    answer = client.get(url, headers=bearer(runtime, ER_DOCTOR))
    assert answer.status_code == 200, answer.text
    bundle = Bundle.model_validate(answer.json())
    assert bundle.type == "collection"
    composition = Composition.model_validate(answer.json()["entry"][0]["resource"])
    titles = {s.title: s for s in composition.section}
    assert titles["Groupe sanguin"].entry and titles["Directives anticipées"].entry
    assert "Jeanne MARTIN" in titles["Personne de confiance"].text.div
    kinds = [e.resource.__resource_type__ for e in bundle.entry[1:]]
    assert kinds == ["Observation", "AllergyIntolerance", "MedicationStatement", "RelatedPerson"]


def test_immunization_recommendations_say_what_is_due(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    _, record_id = record
    answer = client.get(f"/fhir/ImmunizationRecommendation?patient={record_id}", headers=bearer(runtime, DOCTOR))
    assert answer.status_code == 200, answer.text
    bundle = Bundle.model_validate(answer.json())
    assert bundle.total == 1
    found = ImmunizationRecommendation.model_validate(answer.json()["entry"][0]["resource"])
    by_series = {r.series: r for r in found.recommendation}
    assert by_series["dtp"].forecastStatus.coding[0].code == "due"  # 46 years old: the 45-year booster
    outcome(client.get("/fhir/ImmunizationRecommendation", headers=bearer(runtime, DOCTOR)), 400)


def questionnaire(answers: dict[str, Any]) -> dict[str, Any]:
    items = []
    for link_id, value in answers.items():
        answer = {"valueBoolean": value} if isinstance(value, bool) else {"valueString": value}
        items.append({"linkId": link_id, "answer": [answer]})
    return {"resourceType": "QuestionnaireResponse", "status": "completed", "item": items}


def test_the_holder_files_advance_directives_from_the_questionnaire_as_versioned_pdfs(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    from fhir.resources.R4B.documentreference import DocumentReference

    from tests.fhir.test_credentials_letter import pdf_text

    ins, record_id = record
    url = f"/fhir/Patient/{record_id}/$advance-directives"
    holder = {**JSON_HEADERS, **bearer(runtime, Actor.patient(ins))}
    first = client.post(url, json=questionnaire(ANSWERS), headers=holder)
    assert first.status_code == 201, first.text
    document = DocumentReference.model_validate(first.json())
    assert (
        document.type.coding[0].code == "EXPPAT_3" and document.content[0].attachment.contentType == "application/pdf"
    )
    changed = {**ANSWERS, "trusted_person_name": "", "no_trusted_person": True}
    second = client.post(url, json=questionnaire(changed), headers=holder)
    assert second.status_code == 201, second.text
    assert second.json()["relatesTo"][0]["code"] == "replaces"
    assert second.json()["relatesTo"][0]["target"]["reference"].endswith(first.json()["id"])
    pdf = client.get(f"/fhir/Binary/{second.json()['id']}", headers=bearer(runtime, Actor.patient(ins)))
    text = pdf_text(pdf.content)
    assert "Directives anticipées" in text and "Je ne désigne pas de personne de confiance" in text
    summary = client.get(f"/fhir/Patient/{record_id}/$emergency-summary", headers=bearer(runtime, DOCTOR)).json()
    sections = {s["title"]: s for s in summary["entry"][0]["resource"]["section"]}
    assert sections["Directives anticipées"]["entry"][0]["reference"] == f"DocumentReference/{second.json()['id']}"


def test_missing_answers_are_each_named_in_the_outcome_and_nothing_is_filed(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    partial = {k: v for k, v in ANSWERS.items() if k not in ("life_support", "pain_relief")}
    body = outcome(
        client.post(
            f"/fhir/Patient/{record_id}/$advance-directives",
            json=questionnaire(partial),
            headers={**JSON_HEADERS, **bearer(runtime, Actor.patient(ins))},
        ),
        400,
    )
    assert [i["expression"] for i in body["issue"]] == [
        ["QuestionnaireResponse.item.where(linkId='life_support')"],
        ["QuestionnaireResponse.item.where(linkId='pain_relief')"],
    ]
    found = client.get(
        f"/fhir/DocumentReference?patient={record_id}&type=EXPPAT_3", headers=bearer(runtime, Actor.patient(ins))
    )
    assert found.json()["total"] == 0


def test_only_the_holder_files_advance_directives_through_fhir(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    _, record_id = record
    answer = client.post(
        f"/fhir/Patient/{record_id}/$advance-directives",
        json=questionnaire(ANSWERS),
        headers={**JSON_HEADERS, **bearer(runtime, DOCTOR)},
    )
    outcome(answer, 403, "forbidden")


def test_the_capability_statement_lists_the_content_resources(client: TestClient[Any]) -> None:
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    body = client.get("/fhir/metadata").json()
    CapabilityStatement.model_validate(body)
    served = {r["type"] for r in body["rest"][0]["resource"]}
    assert {*MODELS, "ImmunizationRecommendation"} <= served
