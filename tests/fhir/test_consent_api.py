"""Consents and emergency access through FHIR: `Consent` create, read, search, revoke by status;
`$emergency-access`. Every answer validates as R4."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.parameters import Parameters
from litestar.testing import TestClient

from opendmp.fhir.consent import CONSENT_KIND_SYSTEM, CONSENT_PROVISION_SYSTEM, WINDOW_EXTENSION
from opendmp.fhir.document import PROFESSIONAL_SYSTEM
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins
from opendmp.journal.service import entries_of
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.conftest import bearer
from tests.fhir.test_document_api import JSON_HEADERS, document_reference
from tests.fhir.test_patient_api import outcome

AUTHOR = Actor.professional("10000000003", "10")
DOCTOR = Actor.professional("10000000002", "10")
PHARMACIST = Actor.professional("10000000004", "21")
ER_DOCTOR = Actor.professional("10000000006", "10")


@pytest.fixture
def record(client: TestClient[Any], runtime: Runtime) -> tuple[Ins, Any, str]:
    """A record, its author's document, and the professionals in the directory."""
    ins, traits = f.person()
    record_id = f.open_record(runtime, Actor.counter_agent("agent"), ins, traits).record.id
    for actor in (DOCTOR, PHARMACIST, ER_DOCTOR):
        f.add_professional(runtime, actor.id, actor.profession or "10")
    f.authorise(runtime, record_id, AUTHOR)
    response = client.post(
        "/fhir/DocumentReference",
        json=document_reference(record_id),
        headers={**JSON_HEADERS, **bearer(runtime, AUTHOR)},
    )
    assert response.status_code == 201, response.text
    return ins, record_id, response.json()["id"]


def consent(record_id: Any, kind: str, rpps: str | None = None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": CONSENT_KIND_SYSTEM, "code": kind}]}],
        "patient": {"reference": f"Patient/{record_id}"},
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {"type": "deny" if kind == "block" else "permit"},
    }
    if rpps:
        resource["provision"]["actor"] = [
            {
                "role": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]
                },
                "reference": {"identifier": {"system": PROFESSIONAL_SYSTEM, "value": "8" + rpps}},
            }
        ]
    resource.update(extra)
    return resource


def post(client: TestClient[Any], runtime: Runtime, actor: Actor, resource: dict[str, Any]) -> Any:
    return client.post("/fhir/Consent", json=resource, headers={**JSON_HEADERS, **bearer(runtime, actor)})


def reads(client: TestClient[Any], runtime: Runtime, actor: Actor, document_id: str) -> int:
    return client.get(f"/fhir/DocumentReference/{document_id}", headers=bearer(runtime, actor)).status_code


def test_the_holder_authorises_a_professional_with_a_consent(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    ins, record_id, document_id = record
    assert reads(client, runtime, DOCTOR, document_id) == 404
    extension = [{"url": WINDOW_EXTENSION, "valueInteger": 30}]
    response = post(
        client, runtime, Actor.patient(ins), consent(record_id, "authorisation", DOCTOR.id, extension=extension)
    )
    assert response.status_code == 201, response.text
    body = Consent.model_validate(response.json()).model_dump(mode="json")
    assert body["status"] == "active" and body["provision"]["period"]["end"]
    assert response.headers["location"].endswith(f"/fhir/Consent/{body['id']}")
    assert reads(client, runtime, DOCTOR, document_id) == 200


def test_a_professional_declares_care_team_membership_with_the_patient_present(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    _, record_id, document_id = record
    declared = consent(
        record_id,
        "authorisation",
        DOCTOR.id,
        policyRule={"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}]},
        verification=[{"verified": True, "verifiedWith": {"reference": f"Patient/{record_id}"}}],
    )
    response = post(client, runtime, DOCTOR, declared)
    assert response.status_code == 201, response.text
    Consent.model_validate(response.json())
    assert reads(client, runtime, DOCTOR, document_id) == 200


def test_a_professional_cannot_authorise_themselves_without_the_patient(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    _, record_id, document_id = record
    outcome(post(client, runtime, DOCTOR, consent(record_id, "authorisation", DOCTOR.id)), 403, "forbidden")
    assert reads(client, runtime, DOCTOR, document_id) == 404


def test_an_unknown_rpps_is_a_400_naming_the_field_and_journaled(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    ins, record_id, _ = record
    body = outcome(post(client, runtime, Actor.patient(ins), consent(record_id, "authorisation", "19999999999")), 400)
    assert body["issue"][0]["expression"] == ["rpps"]
    with runtime.sessions() as session:
        assert ("consent:authorise", "failure") in [(e.action, e.outcome) for e in entries_of(session, record_id)]


@pytest.mark.parametrize(
    "change",
    [
        {"status": "inactive"},
        {"category": [{"coding": [{"system": CONSENT_KIND_SYSTEM, "code": "everything"}]}]},
        {"patient": {"display": "nobody"}},
        {"provision": {"type": "permit", "actor": []}},
    ],
)
def test_malformed_consents_are_refused(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str], change: dict[str, Any]
) -> None:
    ins, record_id, _ = record
    outcome(
        post(client, runtime, Actor.patient(ins), {**consent(record_id, "authorisation", DOCTOR.id), **change}), 400
    )


def test_revoking_by_status_is_effective_on_the_next_request(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    ins, record_id, document_id = record
    holder = bearer(runtime, Actor.patient(ins))
    created = post(client, runtime, Actor.patient(ins), consent(record_id, "authorisation", DOCTOR.id)).json()
    assert reads(client, runtime, DOCTOR, document_id) == 200
    patch = [{"op": "replace", "path": "/status", "value": "inactive"}]
    response = client.patch(
        f"/fhir/Consent/{created['id']}", json=patch, headers={**holder, "Content-Type": "application/json-patch+json"}
    )
    assert response.status_code == 200, response.text
    assert Consent.model_validate(response.json()).status == "inactive"
    assert reads(client, runtime, DOCTOR, document_id) == 404


def test_revoking_a_consent_that_does_not_exist_is_a_404(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    ins, _, _ = record
    patch = [{"op": "replace", "path": "/status", "value": "inactive"}]
    headers = {**bearer(runtime, Actor.patient(ins)), "Content-Type": "application/json-patch+json"}
    outcome(client.patch("/fhir/Consent/0b6f8c43-5e55-4e0c-9b1e-1f0e4f3b2a11", json=patch, headers=headers), 404)


def test_the_holder_finds_every_consent_and_a_search_names_the_patient(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    ins, record_id, _ = record
    holder = Actor.patient(ins)
    post(client, runtime, holder, consent(record_id, "authorisation", DOCTOR.id))
    post(client, runtime, holder, consent(record_id, "block", PHARMACIST.id))
    response = client.get("/fhir/Consent", params={"patient": str(record_id)}, headers=bearer(runtime, holder))
    bundle = Bundle.model_validate(response.json()).model_dump(mode="json")
    kinds = sorted(e["resource"]["category"][0]["coding"][0]["code"] for e in bundle["entry"])
    assert kinds == ["authorisation", "authorisation", "block", "preferences"]  # AUTHOR's and DOCTOR's
    for entry in bundle["entry"]:
        assert (
            client.get(
                entry["fullUrl"].removeprefix("http://testserver.local"), headers=bearer(runtime, holder)
            ).status_code
            == 200
        )
    outcome(client.get("/fhir/Consent", headers=bearer(runtime, holder)), 400)


def test_another_person_or_a_professional_cannot_read_the_holders_consents(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    ins, record_id, _ = record
    created = post(client, runtime, Actor.patient(ins), consent(record_id, "authorisation", DOCTOR.id)).json()
    stranger = Actor.patient(f.person()[0])
    outcome(client.get(f"/fhir/Consent/{created['id']}", headers=bearer(runtime, stranger)), 404)
    outcome(client.get(f"/fhir/Consent/{created['id']}", headers=bearer(runtime, DOCTOR)), 404)
    outcome(client.get("/fhir/Consent", params={"patient": str(record_id)}, headers=bearer(runtime, stranger)), 404)


def test_a_blocked_professional_cannot_lift_the_block(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    ins, record_id, document_id = record
    block = post(client, runtime, Actor.patient(ins), consent(record_id, "block", AUTHOR.id)).json()
    assert reads(client, runtime, AUTHOR, document_id) == 404
    patch = [{"op": "replace", "path": "/status", "value": "inactive"}]
    headers = {**bearer(runtime, AUTHOR), "Content-Type": "application/json-patch+json"}
    outcome(client.patch(f"/fhir/Consent/{block['id']}", json=patch, headers=headers), 404)
    assert reads(client, runtime, AUTHOR, document_id) == 404


def preferences(record_id: Any, *provisions: tuple[str, bool]) -> dict[str, Any]:
    nested = [
        {"type": "permit" if on else "deny", "code": [{"coding": [{"system": CONSENT_PROVISION_SYSTEM, "code": code}]}]}
        for code, on in provisions
    ]
    resource = consent(record_id, "preferences")
    resource["provision"] = {"type": "permit", "provision": nested}
    return resource


def emergency(client: TestClient[Any], runtime: Runtime, actor: Actor, record_id: Any, **values: str) -> Any:
    parameters = {"resourceType": "Parameters", "parameter": [{"name": k, "valueString": v} for k, v in values.items()]}
    return client.post(
        f"/fhir/Patient/{record_id}/$emergency-access",
        json=parameters,
        headers={**JSON_HEADERS, **bearer(runtime, actor)},
    )


def test_breaking_the_glass_gives_a_time_limited_read(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    _, record_id, document_id = record
    assert reads(client, runtime, ER_DOCTOR, document_id) == 404
    response = emergency(client, runtime, ER_DOCTOR, record_id, reason="patient inconscient, SAU")
    assert response.status_code == 200, response.text
    Parameters.model_validate(response.json())
    assert reads(client, runtime, ER_DOCTOR, document_id) == 200


def test_emergency_access_without_a_reason_or_by_an_ineligible_role_is_refused(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    _, record_id, document_id = record
    outcome(emergency(client, runtime, ER_DOCTOR, record_id), 400)
    outcome(emergency(client, runtime, PHARMACIST, record_id, reason="malaise"), 403)
    outcome(emergency(client, runtime, ER_DOCTOR, record_id, reason="appel", mode="samu"), 403)
    assert reads(client, runtime, PHARMACIST, document_id) == 404


def test_the_holders_switches_turn_emergency_access_off(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    ins, record_id, _ = record
    response = post(
        client, runtime, Actor.patient(ins), preferences(record_id, ("bris-de-glace", False), ("samu", False))
    )
    assert response.status_code == 201, response.text
    Consent.model_validate(response.json())
    outcome(emergency(client, runtime, ER_DOCTOR, record_id, reason="inconscient"), 403)


def test_the_holder_designates_the_medecin_traitant_who_then_reads(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    ins, record_id, document_id = record
    resource = preferences(record_id)
    resource["provision"]["provision"] = [
        {
            "type": "permit",
            "code": [{"coding": [{"system": CONSENT_PROVISION_SYSTEM, "code": "medecin-traitant"}]}],
            "actor": consent(record_id, "authorisation", DOCTOR.id)["provision"]["actor"],
        }
    ]
    response = post(client, runtime, Actor.patient(ins), resource)
    assert response.status_code == 201, response.text
    assert reads(client, runtime, DOCTOR, document_id) == 200


def test_the_samu_regulator_role_travels_in_the_token_and_opens_the_samu_mode(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    _, record_id, document_id = record
    regulator = Actor.professional(ER_DOCTOR.id, "10", samu_regulator=True)
    response = emergency(client, runtime, regulator, record_id, reason="appel au 15, patient inconscient", mode="samu")
    assert response.status_code == 200, response.text
    assert reads(client, runtime, ER_DOCTOR, document_id) == 200


def test_a_revocation_holds_against_a_token_issued_before_it(
    client: TestClient[Any], runtime: Runtime, record: tuple[Ins, Any, str]
) -> None:
    ins, record_id, document_id = record
    created = post(client, runtime, Actor.patient(ins), consent(record_id, "authorisation", DOCTOR.id)).json()
    doctor_token = bearer(runtime, DOCTOR)  # issued while the authorisation stands
    assert client.get(f"/fhir/DocumentReference/{document_id}", headers=doctor_token).status_code == 200
    patch = [{"op": "replace", "path": "/status", "value": "inactive"}]
    headers = {**bearer(runtime, Actor.patient(ins)), "Content-Type": "application/json-patch+json"}
    assert client.patch(f"/fhir/Consent/{created['id']}", json=patch, headers=headers).status_code == 200
    assert client.get(f"/fhir/DocumentReference/{document_id}", headers=doctor_token).status_code == 404
