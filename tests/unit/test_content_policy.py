"""The policy's rules for the patient's content and advance directives, rule by rule (pure)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from opendmp.access.policy import (
    Action,
    Emergency,
    EmergencyMode,
    NewDocument,
    PatientContent,
    decide,
)
from opendmp.identity.actor import Actor
from tests.unit.test_policy import (
    AUTHORISED_DOCTOR,
    BLOCKED,
    FACTS,
    HOLDER,
    MEDECIN_TRAITANT,
    NOW,
    NURSE,
    OTHER_DOCTOR,
    PARENT,
    PSYCHOLOGIST,
    STRANGER,
)

HOLDER_ACTOR = Actor.patient(HOLDER)
PARENT_ACTOR = Actor.patient(PARENT)
DELEGATE = Actor.patient(STRANGER)
WITH_DELEGATE = dataclasses.replace(FACTS, delegates=frozenset({STRANGER}))
PHYSIO = Actor.professional("10000000011", "70")
IN_EMERGENCY = dataclasses.replace(
    FACTS, emergencies={OTHER_DOCTOR.id: Emergency(EmergencyMode.BREAK_GLASS, NOW + timedelta(hours=2))}
)


def allowed(actor: Actor, action: Action, kind: str = "allergy", facts=FACTS, recorded_by: str | None = None) -> bool:  # type: ignore[no-untyped-def]
    return decide(actor, action, PatientContent(facts, kind, recorded_by), NOW).allowed


def test_the_holder_and_representatives_write_expression_libre() -> None:
    assert allowed(HOLDER_ACTOR, Action.CONTENT_WRITE)
    assert allowed(PARENT_ACTOR, Action.CONTENT_WRITE)


def test_a_caregiver_reads_expression_libre_and_writes_none() -> None:
    assert allowed(DELEGATE, Action.CONTENT_READ, facts=WITH_DELEGATE)
    assert not allowed(DELEGATE, Action.CONTENT_WRITE, facts=WITH_DELEGATE)
    assert not allowed(DELEGATE, Action.VACCINATION_RECORD, "vaccination", facts=WITH_DELEGATE)


@pytest.mark.parametrize("actor", [AUTHORISED_DOCTOR, MEDECIN_TRAITANT, NURSE])
def test_professionals_never_write_expression_libre(actor: Actor) -> None:
    assert not allowed(actor, Action.CONTENT_WRITE)


def test_authorised_professionals_read_expression_libre_as_the_matrix_reads_patients_documents() -> None:
    assert allowed(AUTHORISED_DOCTOR, Action.CONTENT_READ)
    assert allowed(MEDECIN_TRAITANT, Action.CONTENT_READ)
    assert not allowed(OTHER_DOCTOR, Action.CONTENT_READ)  # no authorisation
    assert not allowed(BLOCKED, Action.CONTENT_READ)  # the block wins


def test_a_profession_the_matrix_keeps_from_patients_documents_reads_no_expression_libre() -> None:
    facts = dataclasses.replace(FACTS, grants={**FACTS.grants, PSYCHOLOGIST.id: FACTS.grants[NURSE.id]})
    expected = facts.matrix.allows(PSYCHOLOGIST.profession, "90")
    assert allowed(PSYCHOLOGIST, Action.CONTENT_READ, facts=facts) is expected


@pytest.mark.parametrize(
    "actor", [Actor.insurer_feed(), Actor.counter_agent("agent"), Actor.operator("op")], ids=lambda a: a.kind.value
)
def test_the_insurer_counter_agents_and_operators_read_no_content(actor: Actor) -> None:
    for action in (Action.CONTENT_READ, Action.EMERGENCY_SUMMARY, Action.CONTENT_WRITE, Action.VACCINATION_RECORD):
        assert not allowed(actor, action)


def test_emergency_access_reads_the_emergency_summary_but_writes_nothing() -> None:
    assert not allowed(OTHER_DOCTOR, Action.EMERGENCY_SUMMARY)
    assert allowed(OTHER_DOCTOR, Action.EMERGENCY_SUMMARY, facts=IN_EMERGENCY)
    assert not allowed(OTHER_DOCTOR, Action.VACCINATION_RECORD, "vaccination", facts=IN_EMERGENCY)


def test_the_holder_switching_emergency_access_off_hides_the_summary() -> None:
    facts = dataclasses.replace(IN_EMERGENCY, switches=dataclasses.replace(IN_EMERGENCY.switches, break_glass=False))
    assert not allowed(OTHER_DOCTOR, Action.EMERGENCY_SUMMARY, facts=facts)


def test_vaccinating_professions_with_an_access_record_vaccinations() -> None:
    assert allowed(AUTHORISED_DOCTOR, Action.VACCINATION_RECORD, "vaccination")
    assert allowed(NURSE, Action.VACCINATION_RECORD, "vaccination")
    physio = dataclasses.replace(FACTS, grants={**FACTS.grants, PHYSIO.id: FACTS.grants[NURSE.id]})
    assert not allowed(PHYSIO, Action.VACCINATION_RECORD, "vaccination", facts=physio)
    assert not allowed(OTHER_DOCTOR, Action.VACCINATION_RECORD, "vaccination")


def test_patients_declare_vaccinations_and_each_changes_only_what_they_recorded() -> None:
    assert allowed(HOLDER_ACTOR, Action.VACCINATION_RECORD, "vaccination")
    assert allowed(HOLDER_ACTOR, Action.CONTENT_WRITE, "vaccination", recorded_by=HOLDER.value)
    assert not allowed(HOLDER_ACTOR, Action.CONTENT_WRITE, "vaccination", recorded_by=NURSE.id)
    assert allowed(NURSE, Action.CONTENT_WRITE, "vaccination", recorded_by=NURSE.id)
    assert not allowed(AUTHORISED_DOCTOR, Action.CONTENT_WRITE, "vaccination", recorded_by=NURSE.id)


def test_software_reads_content_only_with_the_consultation_scope() -> None:
    reader = Actor.software("client", "750000001", AUTHORISED_DOCTOR.id, "10", scopes=frozenset({"dmp:consultation"}))
    feeder = dataclasses.replace(reader, scopes=frozenset({"dmp:alimentation"}))
    assert allowed(reader, Action.CONTENT_READ)
    assert not allowed(feeder, Action.CONTENT_READ)
    assert allowed(feeder, Action.VACCINATION_RECORD, "vaccination")
    assert not allowed(reader, Action.VACCINATION_RECORD, "vaccination")


@pytest.mark.parametrize(
    ("actor", "expected"),
    [(HOLDER_ACTOR, True), (PARENT_ACTOR, False), (AUTHORISED_DOCTOR, False), (MEDECIN_TRAITANT, False)],
    ids=["holder", "representative", "authorised-doctor", "medecin-traitant"],
)
def test_only_the_holder_files_advance_directives(actor: Actor, expected: bool) -> None:
    decision = decide(actor, Action.DOCUMENT_CREATE, NewDocument(FACTS, "EXPPAT_3"), NOW)
    assert decision.allowed is expected
    if not expected:
        assert decision.reason == "advance-directives-belong-to-the-holder"


def test_representatives_still_file_other_patient_documents() -> None:
    assert decide(PARENT_ACTOR, Action.DOCUMENT_CREATE, NewDocument(FACTS, "EXPPAT_1"), NOW).allowed
