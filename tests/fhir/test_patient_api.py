"""The FHIR Patient edge over real HTTP: contract, errors as OperationOutcome, journaling."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from litestar.testing import TestClient

from opendmp.app import create_app
from opendmp.identity.actor import Actor
from opendmp.journal.service import entries_of
from opendmp.kit.ids import parse_id
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.conftest import a_person, bearer, open_parameters

FHIR = {"Content-Type": "application/fhir+json"}
DOCTOR = Actor.professional("10000000002", "10")


def outcome(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    OperationOutcome.model_validate(body)
    if code:
        assert body["issue"][0]["code"] == code
    return body


def open_via_api(client: TestClient[Any], runtime: Runtime, ins: Any, traits: Any, **kw: Any) -> Any:
    return client.post(
        "/fhir/Patient/$open", json=open_parameters(ins, traits, **kw), headers={**FHIR, **bearer(runtime, DOCTOR)}
    )


def test_the_capability_statement_is_public_and_declares_r4(client: TestClient[Any]) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1"


def test_opening_answers_201_with_a_valid_patient_and_its_location(client: TestClient[Any], runtime: Runtime) -> None:
    ins, traits = a_person()
    response = open_via_api(client, runtime, ins, traits)
    assert response.status_code == 201, response.text
    patient = response.json()
    Patient.model_validate(patient)
    assert response.headers["location"].endswith(f"/fhir/Patient/{patient['id']}/_history/1")
    assert patient["identifier"][0] == {**patient["identifier"][0], "system": ins.system.uri, "value": ins.value}
    status = {e["url"]: e for e in patient["extension"][0]["extension"]}
    assert status["status"]["valueCode"] == "active" and status["channel"]["valueCode"] == "health-professional"


def test_a_second_opening_for_the_same_person_is_a_409(client: TestClient[Any], runtime: Runtime) -> None:
    ins, traits = a_person()
    assert open_via_api(client, runtime, ins, traits).status_code == 201
    outcome(open_via_api(client, runtime, ins, traits), 409, "duplicate")


def test_an_invalid_nir_key_is_a_400_naming_the_identifier(client: TestClient[Any], runtime: Runtime) -> None:
    ins, traits = a_person()
    bad = type(ins)(ins.system, ins.value[:13] + ("00" if ins.value[13:] != "00" else "01"))
    body = outcome(open_via_api(client, runtime, bad, traits), 400, "invalid")
    assert body["issue"][0]["expression"] == ["Patient.identifier"]


@pytest.mark.parametrize(
    ("remove", "field"),
    [
        ("birthDate", "Patient.birthDate"),
        ("gender", "Patient.gender"),
        ("extension", "Patient.birthPlace"),
        ("name", "Patient.name"),
        ("identifier", "Patient.identifier"),
    ],
)
def test_a_missing_trait_is_a_400_naming_it(client: TestClient[Any], runtime: Runtime, remove: str, field: str) -> None:
    body = open_parameters(*a_person())
    del body["parameter"][0]["resource"][remove]
    response = client.post("/fhir/Patient/$open", json=body, headers={**FHIR, **bearer(runtime, DOCTOR)})
    assert outcome(response, 400)["issue"][0]["expression"] == [field]


def test_a_channel_that_is_not_the_openers_is_a_422(client: TestClient[Any], runtime: Runtime) -> None:
    outcome(open_via_api(client, runtime, *a_person(), channel="pharmacy"), 422, "business-rule")


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/fhir+json", 400),
        (b'{"resourceType": "Patient"}', "application/fhir+json", 400),
        (b"[]", "application/json", 400),
        (b"", "application/fhir+json", 400),
        (b'{"resourceType": "Parameters"}', "text/plain", 415),
    ],
)
def test_malformed_bodies_are_refused_with_an_operation_outcome(
    client: TestClient[Any], runtime: Runtime, content: bytes, content_type: str, status: int
) -> None:
    response = client.post(
        "/fhir/Patient/$open", content=content, headers={"Content-Type": content_type, **bearer(runtime, DOCTOR)}
    )
    outcome(response, status)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/fhir/Patient/8c1e5a34-4c8e-4b7e-9a55-8f1c2f6b1a10"),
        ("POST", "/fhir/Patient/$open"),
        ("GET", "/fhir/Patient?identifier=x"),
        ("POST", "/fhir/Patient/_search"),
        ("GET", "/fhir/DocumentReference"),
    ],
)
def test_every_fhir_request_but_metadata_needs_a_bearer_token(client: TestClient[Any], method: str, path: str) -> None:
    response = client.request(method, path)
    outcome(response, 401, "login")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_forged_token_is_refused(client: TestClient[Any]) -> None:
    outcome(client.get("/fhir/Patient?identifier=x", headers={"Authorization": "Bearer abc.def.ghi"}), 401)


def test_unknown_routes_and_methods_answer_operation_outcomes(client: TestClient[Any], runtime: Runtime) -> None:
    auth = bearer(runtime, DOCTOR)
    outcome(client.get("/fhir/Nothing", headers=auth), 404, "not-found")
    outcome(client.delete("/fhir/metadata"), 405, "not-supported")
    outcome(client.get("/fhir/Patient/not-an-id", headers=auth), 404, "not-found")


def _open(runtime: Runtime, order: int | None = None, **kw: Any) -> tuple[Any, Any, Any]:
    ins, traits = a_person(order, **kw)
    return ins, traits, f.open_record(runtime, Actor.counter_agent("agent"), ins, traits)


def test_the_holder_reads_their_patient_with_an_etag(client: TestClient[Any], runtime: Runtime) -> None:
    ins, _, view = _open(runtime)
    response = client.get(f"/fhir/Patient/{view.record.id}", headers=bearer(runtime, Actor.patient(ins)))
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"1"' and response.headers["cache-control"] == "no-store"


def test_someone_elses_patient_is_a_404_and_the_refusal_is_journaled(client: TestClient[Any], runtime: Runtime) -> None:
    _, _, view = _open(runtime)
    stranger, _ = a_person(born=date(1990, 2, 2))
    response = client.get(f"/fhir/Patient/{view.record.id}", headers=bearer(runtime, Actor.patient(stranger)))
    outcome(response, 404, "not-found")
    with runtime.sessions() as session:
        last = entries_of(session, view.record.id)[-1]
    assert (last.action, last.outcome, last.actor_id) == ("record:lookup", "denied", stranger.value)


def test_search_by_ins_finds_one_patient_and_is_journaled(client: TestClient[Any], runtime: Runtime) -> None:
    ins, _, view = _open(runtime)
    response = client.get("/fhir/Patient", params={"identifier": ins.token}, headers=bearer(runtime, DOCTOR))
    assert response.status_code == 200
    bundle = response.json()
    Bundle.model_validate(bundle)
    assert bundle["total"] == 1 and bundle["entry"][0]["resource"]["id"] == str(view.record.id)
    assert ins.value not in bundle["link"][0]["url"]
    with runtime.sessions() as session:
        assert entries_of(session, view.record.id)[-1].action == "record:lookup"


def test_search_by_post_keeps_the_nir_out_of_the_url(client: TestClient[Any], runtime: Runtime) -> None:
    ins, _, view = _open(runtime)
    response = client.post("/fhir/Patient/_search", data={"identifier": ins.token}, headers=bearer(runtime, DOCTOR))
    assert response.status_code == 200 and response.json()["entry"][0]["resource"]["id"] == str(view.record.id)


def test_search_by_all_five_traits_finds_the_patient(client: TestClient[Any], runtime: Runtime) -> None:
    _, traits, view = _open(runtime)
    response = client.post(
        "/fhir/Patient/_search",
        headers=bearer(runtime, DOCTOR),
        data={
            "family": traits.birth_family,
            "given": traits.given_names,
            "birthdate": traits.birth_date.isoformat(),
            "gender": traits.gender.value,
            "birthplace": traits.birthplace_code,
        },
    )
    assert response.json()["total"] == 1 and response.json()["entry"][0]["resource"]["id"] == str(view.record.id)


def test_two_people_sharing_the_five_traits_answer_nothing_but_a_request_for_the_ins(
    client: TestClient[Any], runtime: Runtime
) -> None:
    _, traits, _ = _open(runtime, order=101)
    _open(runtime, order=102)
    response = client.post(
        "/fhir/Patient/_search",
        headers=bearer(runtime, DOCTOR),
        data={
            "family": traits.birth_family,
            "given": traits.given_names,
            "birthdate": traits.birth_date.isoformat(),
            "gender": traits.gender.value,
            "birthplace": traits.birthplace_code,
        },
    )
    bundle = response.json()
    assert bundle["total"] == 0
    assert [e["search"]["mode"] for e in bundle["entry"]] == ["outcome"]
    assert "INS" in bundle["entry"][0]["resource"]["issue"][0]["diagnostics"]


@pytest.mark.parametrize("params", [{"family": "BERNARD"}, {"family": "BERNARD", "given": "LUC"}, {"name": "x"}, {}])
def test_patients_cannot_be_listed_by_name(client: TestClient[Any], runtime: Runtime, params: dict[str, str]) -> None:
    _open(runtime)
    outcome(client.get("/fhir/Patient", params=params, headers=bearer(runtime, DOCTOR)), 400, "invalid")


@pytest.mark.parametrize(
    "resource",
    [
        "DocumentReference",
        "AuditEvent",
        "Consent",
        "Immunization",
        "AllergyIntolerance",
        "Observation",
        "RelatedPerson",
    ],
)
def test_a_search_of_patient_data_must_name_the_patient(
    client: TestClient[Any], runtime: Runtime, resource: str
) -> None:
    outcome(client.get(f"/fhir/{resource}", headers=bearer(runtime, DOCTOR)), 400, "invalid")


def test_the_holder_closes_their_record_through_close(client: TestClient[Any], runtime: Runtime) -> None:
    ins, _, view = _open(runtime)
    response = client.post(f"/fhir/Patient/{view.record.id}/$close", headers=bearer(runtime, Actor.patient(ins)))
    assert response.status_code == 200
    status = {e["url"]: e for e in response.json()["extension"][0]["extension"]}
    assert status["status"]["valueCode"] == "closed" and "purgeAfter" in status


def test_a_professional_who_sees_the_record_may_not_close_it(client: TestClient[Any], runtime: Runtime) -> None:
    _, _, view = _open(runtime)
    outcome(client.post(f"/fhir/Patient/{view.record.id}/$close", headers=bearer(runtime, DOCTOR)), 403, "forbidden")


def test_a_stale_if_match_is_a_412(client: TestClient[Any], runtime: Runtime) -> None:
    ins, _, view = _open(runtime)
    headers = {**bearer(runtime, Actor.patient(ins)), "If-Match": 'W/"7"'}
    outcome(client.post(f"/fhir/Patient/{view.record.id}/$close", headers=headers), 412, "conflict")


def test_lifecycle_operations_through_the_api(client: TestClient[Any], runtime: Runtime) -> None:
    ins, _, view = _open(runtime)
    holder = bearer(runtime, Actor.patient(ins))
    rid = view.record.id
    assert client.post(f"/fhir/Patient/{rid}/$request-deletion", headers=holder).status_code == 200
    assert client.post(f"/fhir/Patient/{rid}/$reopen", headers=holder).status_code == 200
    outcome(client.post(f"/fhir/Patient/{rid}/$object", headers=holder), 422, "business-rule")
    outcome(client.post(f"/fhir/Patient/{rid}/$explode", headers=holder), 404)


def test_development_tokens_are_refused_outside_dev_mode(runtime: Runtime) -> None:
    from opendmp.app import create_app
    from opendmp.auth.tokens import TokenVerifier

    runtime.verifier = TokenVerifier(runtime.keys, dev_mode=False)
    with TestClient(app=create_app(runtime=runtime)) as client:
        outcome(client.get("/fhir/Patient?identifier=x", headers=bearer(runtime, DOCTOR)), 401, "login")


def test_health_and_metrics_need_no_token_and_show_no_identifier(client: TestClient[Any], runtime: Runtime) -> None:
    ins, _, _ = _open(runtime)
    client.get("/fhir/Patient", params={"identifier": ins.token}, headers=bearer(runtime, DOCTOR))
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/metrics").status_code == 403  # the in-process client is not a listed address
    runtime.settings = runtime.settings.model_copy(update={"metrics_allow": "*"})
    with TestClient(app=create_app(runtime=runtime)) as scraper:
        scraper.get("/fhir/Patient", params={"identifier": ins.token}, headers=bearer(runtime, DOCTOR))
        metrics = scraper.get("/metrics")
    assert metrics.status_code == 200 and "opendmp_http_requests_total" in metrics.text
    assert ins.value not in metrics.text


def test_access_logs_drop_query_strings(client: TestClient[Any], runtime: Runtime, capsys: Any) -> None:
    from opendmp.kit.logging import configure_logging

    configure_logging("INFO")
    ins, _, _ = _open(runtime)
    client.get("/fhir/Patient", params={"identifier": ins.token}, headers=bearer(runtime, DOCTOR))
    logged = capsys.readouterr().err
    assert '"path": "/fhir/Patient"' in logged and ins.value not in logged and "Bearer" not in logged


def test_the_home_page_answers_in_french_by_default_and_english_on_request(client: TestClient[Any]) -> None:
    assert "Dossier Médical Partagé" in client.get("/").text
    assert "Shared Medical Record" in client.get("/", headers={"Accept-Language": "en-GB,en"}).text


def test_ids_in_urls_are_random_uuids(client: TestClient[Any], runtime: Runtime) -> None:
    response = open_via_api(client, runtime, *a_person())
    assert parse_id(response.json()["id"]) is not None


def test_a_minor_is_opened_with_a_legal_representative_shown_as_a_contact(
    client: TestClient[Any], runtime: Runtime
) -> None:
    child, traits = a_person(born=date(2016, 4, 2))
    parent, _ = a_person(born=date(1985, 1, 1))
    body = open_parameters(child, traits, channel="insurer-counter")
    body["parameter"].append(
        {
            "name": "representative",
            "resource": {
                "resourceType": "RelatedPerson",
                "identifier": [{"system": parent.system.uri, "value": parent.value}],
                "name": [{"family": "BERNARD", "given": ["PAUL"]}],
            },
        }
    )
    response = client.post(
        "/fhir/Patient/$open", json=body, headers={**FHIR, **bearer(runtime, Actor.counter_agent("agent"))}
    )
    assert response.status_code == 201, response.text
    assert response.json()["contact"][0]["name"]["family"] == "BERNARD"
    record_id = response.json()["id"]
    assert client.get(f"/fhir/Patient/{record_id}", headers=bearer(runtime, Actor.patient(parent))).status_code == 200


def test_a_person_opens_their_own_record_online_without_a_consent_date(
    client: TestClient[Any], runtime: Runtime
) -> None:
    ins, traits = a_person()
    response = client.post(
        "/fhir/Patient/$open",
        json=open_parameters(ins, traits, channel=None, consent=None),
        headers={**FHIR, **bearer(runtime, Actor.patient(ins))},
    )
    assert response.status_code == 201
    status = {e["url"]: e for e in response.json()["extension"][0]["extension"]}
    assert status["channel"]["valueCode"] == "patient-online"


def test_the_insurers_batch_opens_under_opt_out_with_an_objection_deadline(
    client: TestClient[Any], runtime: Runtime
) -> None:
    response = client.post(
        "/fhir/Patient/$open",
        json=open_parameters(*a_person(), channel="automatic", consent=None),
        headers={**FHIR, **bearer(runtime, Actor.insurer_feed())},
    )
    assert response.status_code == 201
    status = {e["url"]: e for e in response.json()["extension"][0]["extension"]}
    assert status["status"]["valueCode"] == "pending-objection" and "objectionDeadline" in status
    # The insurer feeds the record but cannot read it.
    outcome(client.get(f"/fhir/Patient/{response.json()['id']}", headers=bearer(runtime, Actor.insurer_feed())), 404)


def test_the_journal_records_the_source_address_of_api_calls(client: TestClient[Any], runtime: Runtime) -> None:
    response = open_via_api(client, runtime, *a_person())
    with runtime.sessions() as session:
        entry = entries_of(session, parse_id(response.json()["id"]))[0]
    assert entry.source_address == "testclient"  # the client address the test transport reports
    assert (entry.action, entry.actor_kind, entry.actor_id) == ("record:open", "professional", DOCTOR.id)
