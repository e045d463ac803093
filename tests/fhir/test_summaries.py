"""The VSM and the DLU through FHIR: the médecin traitant's summary and the EHPAD's emergency
liaison file become CI-SIS-shaped CDA documents with a readable PDF body and a structured copy."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B.documentreference import DocumentReference
from litestar.testing import TestClient

from opendmp.consent import service as consents
from opendmp.document.cda import read_header
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins
from opendmp.kit.db import unit_of_work
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.conftest import bearer
from tests.fhir.test_patient_api import outcome

GP = Actor.professional("10000000011", "10")
OTHER_DOCTOR = Actor.professional("10000000012", "10")
EHPAD = "130000001"
HOSPITAL = "690000003"
EHPAD_NURSE = Actor.professional("10000000013", "60", EHPAD)
HOSPITAL_DOCTOR = Actor.professional("10000000014", "10", HOSPITAL)
JSON = {"Content-Type": "application/json"}

VSM = {
    "antecedents": [
        {"kind": "medical", "label": "Hypertension artérielle", "code": "I10", "since": "2015-03-01"},
        {"kind": "surgical", "label": "Appendicectomie", "since": "1990-06-15"},
        {"kind": "family", "label": "Infarctus du père à 52 ans"},
    ],
    "treatments": [{"label": "Amlodipine 5 mg", "dosage": "1 comprimé le matin", "code": "C08CA01"}],
    "allergies": [{"substance": "Pénicilline", "reaction": "urticaire", "severity": "moderate"}],
    "risk_factors": ["hypertension", "tobacco"],
    "vaccination_notes": "DTP à jour (rappel 2021)",
    "care_plan": "Contrôle tensionnel tous les 3 mois; bilan lipidique annuel.",
}
DLU = {
    "ehpad_phone": "04 78 00 00 00",
    "antecedents": [{"kind": "medical", "label": "Maladie d'Alzheimer", "code": "G30.9"}],
    "treatments": [{"label": "Donépézil 10 mg", "dosage": "1 le soir"}],
    "no_known_allergies": True,
    "trusted_person": {"name": "Marie Martin", "phone": "06 12 34 56 78", "relationship": "fille"},
    "gir": 2,
    "advance_directives": True,
    "advance_directives_location": "classeur de soins, chambre 12",
    "recent_events": [{"on": "2026-05-02", "description": "Chute sans fracture"}],
}


def a_record(runtime: Runtime) -> tuple[Any, Ins]:
    """A record whose holder designated GP as médecin traitant; an EHPAD and a hospital, each
    with a professional the holder authorised."""
    f.add_organisation(runtime, EHPAD, kind="ehpad", department="13", name="EHPAD Les Tilleuls")
    f.add_organisation(runtime, HOSPITAL, kind="hospital", department="69", name="Centre hospitalier")
    f.add_professional(runtime, GP.id, "10", family="MOREAU", given="Claire")
    f.add_professional(runtime, OTHER_DOCTOR.id, "10", family="PETIT", given="Jean")
    f.add_professional(runtime, EHPAD_NURSE.id, "60", finess=EHPAD, family="ROUX", given="Inès")
    f.add_professional(runtime, HOSPITAL_DOCTOR.id, "10", finess=HOSPITAL, family="FAURE", given="Luc")
    ins, traits = f.person(order=700)
    view = f.open_record(runtime, Actor.counter_agent("agent"), ins, traits)
    holder = Actor.patient(ins)
    with unit_of_work(runtime.sessions) as session:
        consents.designate_medecin_traitant(session, holder, view.record.id, GP.id, runtime.clock.now())
    f.authorise(runtime, view.record.id, OTHER_DOCTOR, EHPAD_NURSE, HOSPITAL_DOCTOR)
    return view.record.id, ins


def file(client: TestClient[Any], runtime: Runtime, record_id: Any, kind: str, form: Any, actor: Actor) -> Any:
    return client.post(f"/fhir/Patient/{record_id}/${kind}", json=form, headers={**JSON, **bearer(runtime, actor)})


def test_the_medecin_traitant_files_a_vsm_read_back_as_a_cda_and_as_its_structured_copy(
    client: TestClient[Any], runtime: Runtime
) -> None:
    record_id, ins = a_record(runtime)
    response = file(client, runtime, record_id, "vsm", VSM, GP)
    assert response.status_code == 201, response.text
    reference = response.json()
    DocumentReference.model_validate(reference)
    assert reference["type"]["coding"][0]["code"] == "60591-5"
    assert reference["content"][0]["format"]["code"] == "urn:ihe:iti:xds-sd:pdf:2008"
    assert response.headers["location"].endswith(f"/DocumentReference/{reference['id']}/_history/1")

    cda = client.get(f"/fhir/Binary/{reference['id']}", headers=bearer(runtime, GP)).content
    header = read_header(cda)
    assert (header.type_code, header.patient_ins, header.version_number) == ("60591-5", ins, 1)
    assert [(a.rpps, a.family, a.given) for a in header.authors] == [(GP.id, "MOREAU", "Claire")]
    assert header.legal_authenticator_national_id == "8" + GP.id
    assert header.non_xml_body is not None and header.non_xml_body[0] == "application/pdf"
    assert header.non_xml_body[1].startswith(b"%PDF")
    assert reference["masterIdentifier"]["value"].endswith(header.document_id.root)

    for reader in (GP, Actor.patient(ins)):
        structured = client.get(f"/fhir/Patient/{record_id}/$vsm", headers=bearer(runtime, reader))
        assert structured.status_code == 200, structured.text
        body = structured.json()
        assert body["form"] == {**VSM, "no_known_allergies": False}
        assert (body["kind"], body["version"], body["author"]["rpps"]) == ("vsm", 1, GP.id)
        assert body["document"] == f"DocumentReference/{reference['id']}"


def test_a_new_vsm_replaces_the_previous_one_which_stays_readable_in_history(
    client: TestClient[Any], runtime: Runtime
) -> None:
    record_id, _ = a_record(runtime)
    first = file(client, runtime, record_id, "vsm", VSM, GP).json()
    runtime.clock.advance(timedelta(days=200))  # type: ignore[attr-defined]
    updated = copy.deepcopy(VSM)
    updated["risk_factors"] = ["hypertension"]
    second = file(client, runtime, record_id, "vsm", updated, GP)
    assert second.status_code == 201, second.text
    assert second.json()["relatesTo"][0]["target"]["reference"] == f"DocumentReference/{first['id']}"
    old = client.get(f"/fhir/DocumentReference/{first['id']}", headers=bearer(runtime, GP)).json()
    assert old["status"] == "superseded"
    current = client.get(f"/fhir/Patient/{record_id}/$vsm", headers=bearer(runtime, GP)).json()
    assert (current["version"], current["form"]["risk_factors"]) == (2, ["hypertension"])
    earlier = client.get(f"/fhir/Patient/{record_id}/$vsm?document={first['id']}", headers=bearer(runtime, GP)).json()
    assert (earlier["version"], earlier["status"]) == (1, "superseded")


def test_vsm_validation_names_every_field_at_fault_and_files_nothing(client: TestClient[Any], runtime: Runtime) -> None:
    record_id, _ = a_record(runtime)
    future = (runtime.clock.now() + timedelta(days=3)).date().isoformat()
    bad = copy.deepcopy(VSM)
    bad["antecedents"][0]["since"] = future
    bad["antecedents"][1]["code"] = "appendix"
    bad["antecedents"][2]["kind"] = "cousin"
    bad["treatments"][0]["label"] = ""
    bad["risk_factors"] = ["hypertension", "astrology"]
    bad["allergies"] = []
    bad["extra"] = 1
    answer = outcome(file(client, runtime, record_id, "vsm", bad, GP), 400, "invalid")
    fields = sorted(issue["expression"][0] for issue in answer["issue"])
    assert fields == [
        "allergies",
        "antecedents[0].since",
        "antecedents[1].code",
        "antecedents[2].kind",
        "extra",
        "risk_factors[1]",
        "treatments[0].label",
    ]
    assert client.get(f"/fhir/DocumentReference?patient={record_id}", headers=bearer(runtime, GP)).json()["total"] == 0
    outcome(client.get(f"/fhir/Patient/{record_id}/$vsm", headers=bearer(runtime, GP)), 404, "not-found")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"antecedents": [{"kind": "medical", "label": "HTA", "since": "2999-01-01"}]}, "antecedents[0].since"),
        ({"treatments": [{"label": "X", "code": "123"}]}, "treatments[0].code"),
        ({"risk_factors": ["unknown-code"]}, "risk_factors[0]"),
        ({"allergies": [], "no_known_allergies": False}, "allergies"),
        ({"no_known_allergies": True}, "no_known_allergies"),
        ({"antecedents": [], "treatments": []}, "antecedents"),
    ],
)
def test_each_vsm_rule_refuses_its_field(
    client: TestClient[Any], runtime: Runtime, change: dict[str, Any], field: str
) -> None:
    record_id, _ = a_record(runtime)
    answer = outcome(file(client, runtime, record_id, "vsm", {**VSM, **change}, GP), 400, "invalid")
    assert [issue["expression"][0] for issue in answer["issue"]] == [field]


def test_only_the_medecin_traitant_or_a_doctor_given_the_same_right_writes_the_vsm(
    client: TestClient[Any], runtime: Runtime
) -> None:
    record_id, ins = a_record(runtime)
    outcome(file(client, runtime, record_id, "vsm", VSM, OTHER_DOCTOR), 403, "forbidden")
    outcome(file(client, runtime, record_id, "vsm", VSM, EHPAD_NURSE), 403, "forbidden")
    outcome(file(client, runtime, record_id, "vsm", VSM, Actor.patient(ins)), 403, "forbidden")
    outcome(client.post(f"/fhir/Patient/{record_id}/$vsm", json=VSM, headers=JSON), 401, "login")
    with unit_of_work(runtime.sessions) as session:
        consents.authorise(
            session, Actor.patient(ins), record_id, OTHER_DOCTOR.id, runtime.clock.now(), masked_access=True
        )
    assert file(client, runtime, record_id, "vsm", VSM, OTHER_DOCTOR).status_code == 201


def test_only_an_ehpads_professionals_write_the_dlu(client: TestClient[Any], runtime: Runtime) -> None:
    record_id, _ = a_record(runtime)
    outcome(file(client, runtime, record_id, "dlu", DLU, HOSPITAL_DOCTOR), 403, "forbidden")
    outcome(file(client, runtime, record_id, "dlu", DLU, GP), 403, "forbidden")
    response = file(client, runtime, record_id, "dlu", DLU, EHPAD_NURSE)
    assert response.status_code == 201, response.text
    assert response.json()["type"]["coding"][0]["code"] == "74207-2"
    structured = client.get(f"/fhir/Patient/{record_id}/$dlu", headers=bearer(runtime, GP)).json()
    assert structured["form"]["trusted_person"] == DLU["trusted_person"]
    assert structured["author"]["finess"] == EHPAD
    cda = client.get(f"/fhir/Binary/{response.json()['id']}", headers=bearer(runtime, EHPAD_NURSE)).content
    header = read_header(cda)
    assert (header.type_code, header.authors[0].organisation_finess) == ("74207-2", EHPAD)
    assert header.non_xml_body is not None and header.non_xml_body[1].startswith(b"%PDF")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ehpad_phone": "call us"}, "ehpad_phone"),
        ({"trusted_person": {"name": "Marie Martin"}}, "trusted_person.phone"),
        ({"gir": 9}, "gir"),
        ({"recent_events": [{"on": "2999-12-31", "description": "Chute"}]}, "recent_events[0].on"),
        ({"advance_directives": False}, "advance_directives_location"),
    ],
)
def test_each_dlu_rule_refuses_its_field(
    client: TestClient[Any], runtime: Runtime, change: dict[str, Any], field: str
) -> None:
    record_id, _ = a_record(runtime)
    answer = outcome(file(client, runtime, record_id, "dlu", {**DLU, **change}, EHPAD_NURSE), 400, "invalid")
    assert [issue["expression"][0] for issue in answer["issue"]] == [field]
