"""Who writes the VSM and the DLU, who files batches: the rules of access.policy (decision 0027)."""

from __future__ import annotations

from dataclasses import replace

from opendmp.access.policy import DLU_TYPE, VSM_TYPE, Action, NewDocument, decide
from opendmp.identity.actor import Actor
from tests.unit.test_policy import (
    AUTHORISED_DOCTOR,
    BLOCKED,
    EXPIRED,
    FACTS,
    HOLDER,
    MASKED_GRANTEE,
    MEDECIN_TRAITANT,
    NOW,
    NURSE,
    OTHER_DOCTOR,
    document,
)

EHPAD_FINESS = "130000001"


def files(actor: Actor, type_code: str, organisation_kind: str | None = None) -> bool:
    return decide(actor, Action.DOCUMENT_CREATE, NewDocument(FACTS, type_code, organisation_kind), NOW).allowed


def test_the_medecin_traitant_writes_the_vsm() -> None:
    assert files(MEDECIN_TRAITANT, VSM_TYPE)
    software = Actor.software("lps", "750000001", MEDECIN_TRAITANT.id, "10", scopes=frozenset({"dmp:alimentation"}))
    assert files(software, VSM_TYPE)


def test_a_doctor_given_the_medecin_traitants_right_writes_the_vsm_other_authorised_doctors_do_not() -> None:
    assert files(MASKED_GRANTEE, VSM_TYPE)
    assert not files(AUTHORISED_DOCTOR, VSM_TYPE)
    assert decide(AUTHORISED_DOCTOR, Action.DOCUMENT_CREATE, NewDocument(FACTS, VSM_TYPE), NOW).reason == (
        "vsm-by-the-medecin-traitant"
    )
    assert files(AUTHORISED_DOCTOR, "11488-4")  # any other document, as before


def test_no_one_without_access_writes_a_vsm_or_a_dlu() -> None:
    for actor in (OTHER_DOCTOR, BLOCKED, EXPIRED, Actor.patient(HOLDER)):
        assert not files(actor, VSM_TYPE)
        assert not files(actor, DLU_TYPE, "ehpad")


def test_the_dlu_is_written_by_professionals_of_an_ehpad_with_an_access() -> None:
    ehpad_nurse = Actor.professional(NURSE.id, "60", EHPAD_FINESS)
    assert files(ehpad_nurse, DLU_TYPE, "ehpad")
    assert not files(ehpad_nurse, DLU_TYPE, "hospital")
    assert not files(MEDECIN_TRAITANT, DLU_TYPE, None)
    assert decide(AUTHORISED_DOCTOR, Action.DOCUMENT_CREATE, NewDocument(FACTS, DLU_TYPE, "clinic"), NOW).reason == (
        "dlu-by-the-ehpad"
    )


def test_a_new_medecin_traitant_may_replace_a_vsm_written_by_another() -> None:
    vsm = document(type_code=VSM_TYPE, class_code="11")
    assert decide(MEDECIN_TRAITANT, Action.DOCUMENT_REPLACE, vsm, NOW).allowed
    assert not decide(AUTHORISED_DOCTOR, Action.DOCUMENT_REPLACE, vsm, NOW).allowed
    assert not decide(MEDECIN_TRAITANT, Action.DOCUMENT_REPLACE, document(), NOW).allowed  # other documents: authors


def test_replacing_another_doctors_vsm_gives_no_right_over_its_flags_nor_on_a_closed_record() -> None:
    vsm = document(type_code=VSM_TYPE, class_code="11")
    # The flags (hidden from the patient, archived, confidentiality) stay the author's.
    assert not decide(MEDECIN_TRAITANT, Action.DOCUMENT_UPDATE, vsm, NOW).allowed
    assert not decide(MASKED_GRANTEE, Action.DOCUMENT_UPDATE, vsm, NOW).allowed
    closed = document(type_code=VSM_TYPE, class_code="11", record=replace(FACTS, status="closed"))
    assert not decide(MEDECIN_TRAITANT, Action.DOCUMENT_REPLACE, closed, NOW).allowed


def test_only_establishment_software_files_batches_and_only_with_the_feeding_scope() -> None:
    feeding = Actor.software("lps", "750000001", AUTHORISED_DOCTOR.id, "10", scopes=frozenset({"dmp:alimentation"}))
    reading = Actor.software("lps", "750000001", AUTHORISED_DOCTOR.id, "10", scopes=frozenset({"dmp:consultation"}))
    assert decide(feeding, Action.FEED_BATCH, None, NOW).allowed
    assert not decide(reading, Action.FEED_BATCH, None, NOW).allowed
    for actor in (AUTHORISED_DOCTOR, Actor.patient(HOLDER), Actor.operator("op"), Actor.insurer_feed()):
        assert not decide(actor, Action.FEED_BATCH, None, NOW).allowed
