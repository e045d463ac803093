"""The access policy, rule by rule (pure: no database). tests/integration/test_policy_agreement.py
proves the SQL filter says the same on both databases; tests/integration/test_consents.py runs
the rules through the services."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opendmp.access.policy import (
    LETTER_REPRINT_WINDOW,
    RELEASE_INVISIBLE_AFTER,
    Action,
    CredentialsLetter,
    DocumentFacts,
    Emergency,
    EmergencyMode,
    Grant,
    NewAuthorisation,
    NewDocument,
    NewEmergency,
    NewRecord,
    RecordFacts,
    Switches,
    decide,
)
from opendmp.access.rules import default_matrix, parse_matrix
from opendmp.consent.windows import window_days_for, window_end
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins, InsSystem

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
HOLDER = Ins(InsSystem.TEST_NIR, "280057505612345")
PARENT = Ins(InsSystem.TEST_NIR, "170057505612345")
STRANGER = Ins(InsSystem.TEST_NIR, "190057505612345")

AUTHORISED_DOCTOR = Actor.professional("10000000001", "10")
OTHER_DOCTOR = Actor.professional("10000000002", "10")  # no authorisation
AUTHOR = Actor.professional("10000000003", "10")  # wrote the document, no authorisation
PHARMACIST = Actor.professional("10000000004", "21")
MEDECIN_TRAITANT = Actor.professional("10000000005", "10")
BLOCKED = Actor.professional("10000000666", "10")
MASKED_GRANTEE = Actor.professional("10000000007", "10")
NURSE = Actor.professional("10000000008", "60")
PSYCHOLOGIST = Actor.professional("10000000009", "93")
EXPIRED = Actor.professional("10000000010", "10")

FACTS = RecordFacts(
    uuid.uuid4(),
    "active",
    HOLDER,
    representatives=frozenset({PARENT}),
    grants={
        AUTHORISED_DOCTOR.id: Grant(NOW + timedelta(days=30)),
        PHARMACIST.id: Grant(NOW + timedelta(days=3)),
        BLOCKED.id: Grant(None),
        MASKED_GRANTEE.id: Grant(None, masked=True),
        NURSE.id: Grant(None),
        EXPIRED.id: Grant(NOW - timedelta(seconds=1)),
    },
    blocked=frozenset({BLOCKED.id}),
    medecin_traitant=MEDECIN_TRAITANT.id,
)


def document(record: RecordFacts = FACTS, **kw: Any) -> DocumentFacts:
    values: dict[str, Any] = {
        "document_id": uuid.uuid4(),
        "record": record,
        "type_code": "11488-4",
        "authors": frozenset({AUTHOR.id}),
        "submitted_by": AUTHOR.id,
        "class_code": "10",
        "submitted_at": NOW - timedelta(days=1),
    }
    values.update(kw)
    return DocumentFacts(**values)


def reads(actor: Actor, target: DocumentFacts, now: datetime = NOW) -> bool:
    return decide(actor, Action.DOCUMENT_READ, target, now).allowed


# --- the holder and legal representatives ------------------------------------------------------


def test_the_holder_reads_their_record() -> None:
    decision = decide(Actor.patient(HOLDER), Action.RECORD_READ, FACTS, NOW)
    assert decision.allowed and decision.via == "holder"
    assert reads(Actor.patient(HOLDER), document())


def test_a_legal_representative_reads_the_record() -> None:
    decision = decide(Actor.patient(PARENT), Action.RECORD_READ, FACTS, NOW)
    assert decision.allowed and decision.via == "representative"
    assert reads(Actor.patient(PARENT), document())


def test_another_person_reads_nothing() -> None:
    assert not decide(Actor.patient(STRANGER), Action.RECORD_READ, FACTS, NOW).allowed
    assert not decide(Actor.patient(STRANGER), Action.RECORD_LOOKUP, FACTS, NOW).allowed
    assert not reads(Actor.patient(STRANGER), document())


def test_a_document_invisible_to_the_patient_is_hidden_until_released_after_a_month_at_most() -> None:
    hidden = document(invisible_to_patient=True, submitted_at=NOW)
    assert not reads(Actor.patient(HOLDER), hidden)
    assert not reads(Actor.patient(PARENT), hidden)
    assert not reads(Actor.patient(HOLDER), hidden, NOW + RELEASE_INVISIBLE_AFTER - timedelta(seconds=1))
    assert reads(Actor.patient(HOLDER), hidden, NOW + RELEASE_INVISIBLE_AFTER)
    assert timedelta(days=31) >= RELEASE_INVISIBLE_AFTER


def test_a_document_invisible_to_the_patient_stays_readable_by_its_author_and_authorised_doctors() -> None:
    hidden = document(invisible_to_patient=True)
    assert reads(AUTHOR, hidden)
    assert reads(AUTHORISED_DOCTOR, hidden)


def test_a_minors_confidential_document_is_hidden_from_representatives_not_from_the_minor() -> None:
    confidential = document(invisible_to_representatives=True)
    assert not reads(Actor.patient(PARENT), confidential)
    assert reads(Actor.patient(HOLDER), confidential)


def test_the_holder_masks_a_document_but_leaves_its_other_labels_to_the_author() -> None:
    holder = Actor.patient(HOLDER)
    assert decide(holder, Action.DOCUMENT_MASK, document(), NOW).allowed
    assert not decide(holder, Action.DOCUMENT_UPDATE, document(), NOW).allowed
    assert decide(AUTHOR, Action.DOCUMENT_UPDATE, document(), NOW).allowed


def test_the_holder_manages_the_documents_they_filed_themselves() -> None:
    holder = Actor.patient(HOLDER)
    own = document(submitted_by=HOLDER.value, authors=frozenset())
    assert decide(holder, Action.DOCUMENT_UPDATE, own, NOW).allowed
    assert decide(holder, Action.DOCUMENT_DELETE, own, NOW).allowed


# --- professionals: authorisation, window, matrix ---------------------------------------------


def test_a_professional_without_an_authorisation_reads_no_document() -> None:
    assert not reads(OTHER_DOCTOR, document())
    assert decide(OTHER_DOCTOR, Action.DOCUMENT_READ, document(), NOW).reason == "no-authorisation"


def test_a_professional_may_look_a_record_up_without_reading_its_content() -> None:
    assert decide(OTHER_DOCTOR, Action.RECORD_LOOKUP, FACTS, NOW).allowed
    assert not decide(OTHER_DOCTOR, Action.RECORD_READ, FACTS, NOW).allowed


def test_an_authorised_professional_reads_within_the_access_window() -> None:
    assert reads(AUTHORISED_DOCTOR, document())
    assert decide(AUTHORISED_DOCTOR, Action.RECORD_READ, FACTS, NOW).allowed


def test_an_authorisation_whose_window_has_closed_gives_nothing() -> None:
    assert not reads(EXPIRED, document())
    assert not reads(AUTHORISED_DOCTOR, document(), NOW + timedelta(days=30))


def test_the_habilitation_matrix_limits_what_a_profession_reads() -> None:
    imaging = document(class_code="31", type_code="18748-4")
    assert reads(AUTHORISED_DOCTOR, imaging)
    assert not reads(PHARMACIST, imaging)
    assert decide(PHARMACIST, Action.DOCUMENT_READ, imaging, NOW).reason == "habilitation-matrix"
    assert reads(PHARMACIST, document(class_code="43", type_code="60593-1"))  # a dispensation


def test_a_new_matrix_version_changes_what_a_profession_reads() -> None:
    text = default_matrix().to_csv().replace("\n21,1,", "\n21,0,", 1)  # pharmacists lose class 10
    stricter = dataclasses.replace(FACTS, matrix=parse_matrix(text, version=2))
    assert reads(PHARMACIST, document())
    assert not reads(PHARMACIST, document(record=stricter))


def test_authors_always_read_what_they_wrote_even_without_authorisation_or_matrix_right() -> None:
    written = document(class_code="31", authors=frozenset({PHARMACIST.id}))
    assert reads(AUTHOR, written)
    assert reads(PHARMACIST, written)


def test_software_reads_what_the_professional_it_acts_for_authored() -> None:
    software = Actor.software("lps-chu", "750000001", AUTHOR.id, "10")
    assert reads(software, document(submitted_by="lps-chu"))


def test_a_software_clients_own_id_makes_no_other_professional_an_author() -> None:
    # The client filed for AUTHOR; a colleague of the same organisation, without authorisation,
    # asks a token for themselves on the same client: they are no author of it.
    colleague = Actor.software("lps-chu", "750000001", "10000000099", "10")
    filed = document(submitted_by="lps-chu")
    for action in (Action.DOCUMENT_READ, Action.DOCUMENT_MASK, Action.DOCUMENT_UPDATE, Action.DOCUMENT_DELETE):
        assert not decide(colleague, action, filed, NOW).allowed


def test_an_author_may_not_unmask_what_the_holder_masked() -> None:
    masked = document(masked_from_professionals=True)
    assert reads(AUTHOR, masked)
    assert not decide(AUTHOR, Action.DOCUMENT_MASK, masked, NOW).allowed
    assert decide(Actor.patient(HOLDER), Action.DOCUMENT_MASK, masked, NOW).allowed


# --- blocks -------------------------------------------------------------------------------------


def test_a_blocked_professional_is_refused_everything_even_with_an_authorisation() -> None:
    for action in Action:
        assert not decide(BLOCKED, action, FACTS, NOW).allowed
    assert not reads(BLOCKED, document())


def test_the_block_wins_even_over_authorship() -> None:
    written = document(authors=frozenset({BLOCKED.id}), submitted_by=BLOCKED.id)
    for action in (Action.DOCUMENT_READ, Action.DOCUMENT_UPDATE, Action.DOCUMENT_DELETE):
        assert not decide(BLOCKED, action, written, NOW).allowed
    assert not decide(BLOCKED, Action.DOCUMENT_CREATE, NewDocument(FACTS, "11488-4"), NOW).allowed


def test_software_acting_for_a_blocked_professional_is_refused() -> None:
    software = Actor.software("lps", "750000001", BLOCKED.id, "10")
    assert not reads(software, document())


# --- masked documents ---------------------------------------------------------------------------


def test_a_masked_document_is_hidden_from_authorised_professionals() -> None:
    masked = document(masked_from_professionals=True)
    assert not reads(AUTHORISED_DOCTOR, masked)
    assert decide(AUTHORISED_DOCTOR, Action.DOCUMENT_READ, masked, NOW).reason == "masked-by-the-holder"


def test_a_masked_document_stays_visible_to_its_author_the_medecin_traitant_and_those_granted_the_same_right() -> None:
    masked = document(masked_from_professionals=True)
    assert reads(AUTHOR, masked)
    assert reads(MEDECIN_TRAITANT, masked)
    assert reads(MASKED_GRANTEE, masked)


def test_the_medecin_traitant_reads_without_a_separate_authorisation() -> None:
    decision = decide(MEDECIN_TRAITANT, Action.DOCUMENT_READ, document(), NOW)
    assert decision.allowed and decision.via == "medecin-traitant"


# --- emergency access ---------------------------------------------------------------------------

EMERGENCY_DOCTOR = Actor.professional("10000000020", "10")
REGULATOR = Actor.professional("10000000021", "10", samu_regulator=True)


def in_emergency(
    actor: Actor, switches: Switches = Switches(), mode: EmergencyMode = EmergencyMode.BREAK_GLASS
) -> RecordFacts:
    return dataclasses.replace(
        FACTS, switches=switches, emergencies={actor.id: Emergency(mode, NOW + timedelta(hours=2))}
    )


def test_an_eligible_professional_may_break_the_glass() -> None:
    assert decide(
        EMERGENCY_DOCTOR, Action.EMERGENCY_ACCESS, NewEmergency(FACTS, EmergencyMode.BREAK_GLASS), NOW
    ).allowed
    assert decide(NURSE, Action.EMERGENCY_ACCESS, NewEmergency(FACTS, EmergencyMode.BREAK_GLASS), NOW).allowed


def test_an_ineligible_profession_may_not_break_the_glass() -> None:
    decision = decide(PHARMACIST, Action.EMERGENCY_ACCESS, NewEmergency(FACTS, EmergencyMode.BREAK_GLASS), NOW)
    assert not decision.allowed and decision.reason == "profession-not-eligible-for-emergency-access"


def test_only_a_samu_regulator_uses_the_samu_mode() -> None:
    assert decide(REGULATOR, Action.EMERGENCY_ACCESS, NewEmergency(FACTS, EmergencyMode.SAMU), NOW).allowed
    assert not decide(EMERGENCY_DOCTOR, Action.EMERGENCY_ACCESS, NewEmergency(FACTS, EmergencyMode.SAMU), NOW).allowed


@pytest.mark.parametrize(
    ("switches", "mode"),
    [(Switches(samu=False), EmergencyMode.SAMU), (Switches(break_glass=False), EmergencyMode.BREAK_GLASS)],
)
def test_the_holder_turns_emergency_access_off_beforehand(switches: Switches, mode: EmergencyMode) -> None:
    record = dataclasses.replace(FACTS, switches=switches)
    decision = decide(REGULATOR, Action.EMERGENCY_ACCESS, NewEmergency(record, mode), NOW)
    assert not decision.allowed and decision.reason == "turned-off-by-the-holder"


def test_a_running_emergency_access_reads_what_the_matrix_allows() -> None:
    record = in_emergency(EMERGENCY_DOCTOR)
    decision = decide(EMERGENCY_DOCTOR, Action.DOCUMENT_READ, document(record=record), NOW)
    assert decision.allowed and decision.via == "emergency"


def test_an_emergency_access_ends_with_its_time_limit() -> None:
    record = in_emergency(EMERGENCY_DOCTOR)
    assert not reads(EMERGENCY_DOCTOR, document(record=record), NOW + timedelta(hours=2))


def test_masked_documents_in_an_emergency_follow_the_holders_third_switch() -> None:
    shown = in_emergency(EMERGENCY_DOCTOR)
    hidden = in_emergency(EMERGENCY_DOCTOR, Switches(masked_in_emergency=False))
    assert reads(EMERGENCY_DOCTOR, document(record=shown, masked_from_professionals=True))
    assert not reads(EMERGENCY_DOCTOR, document(record=hidden, masked_from_professionals=True))


def test_turning_a_switch_off_ends_a_running_emergency_access_at_the_next_request() -> None:
    record = in_emergency(EMERGENCY_DOCTOR, Switches(break_glass=False))
    assert not reads(EMERGENCY_DOCTOR, document(record=record))


def test_a_blocked_professional_cannot_break_the_glass() -> None:
    assert not decide(BLOCKED, Action.EMERGENCY_ACCESS, NewEmergency(FACTS, EmergencyMode.BREAK_GLASS), NOW).allowed


# --- who creates an authorisation ---------------------------------------------------------------


def declaration(rpps: str, *, care_team: bool = True, present: bool = True) -> NewAuthorisation:
    return NewAuthorisation(FACTS, rpps, care_team, present)


def test_the_holder_and_representatives_authorise_a_professional() -> None:
    assert decide(Actor.patient(HOLDER), Action.CONSENT_DECLARE, declaration(OTHER_DOCTOR.id), NOW).via == "holder"
    assert decide(Actor.patient(PARENT), Action.CONSENT_DECLARE, declaration(OTHER_DOCTOR.id), NOW).allowed
    assert not decide(Actor.patient(STRANGER), Action.CONSENT_DECLARE, declaration(OTHER_DOCTOR.id), NOW).allowed


def test_a_professional_declares_care_team_membership_with_the_patient_present() -> None:
    decision = decide(OTHER_DOCTOR, Action.CONSENT_DECLARE, declaration(OTHER_DOCTOR.id), NOW)
    assert decision.allowed and decision.via == "declaration"


def test_a_professional_cannot_authorise_themselves_without_the_patient() -> None:
    decision = decide(OTHER_DOCTOR, Action.CONSENT_DECLARE, declaration(OTHER_DOCTOR.id, present=False), NOW)
    assert not decision.allowed and decision.reason == "patient-not-present"


def test_a_professional_collects_express_consent_for_another_but_not_care_team_membership() -> None:
    assert not decide(OTHER_DOCTOR, Action.CONSENT_DECLARE, declaration(NURSE.id), NOW).allowed
    assert decide(OTHER_DOCTOR, Action.CONSENT_DECLARE, declaration(NURSE.id, care_team=False), NOW).allowed


def test_the_care_team_rules_say_which_professions_need_express_consent() -> None:
    assert not decide(PSYCHOLOGIST, Action.CONSENT_DECLARE, declaration(PSYCHOLOGIST.id), NOW).allowed
    assert decide(PSYCHOLOGIST, Action.CONSENT_DECLARE, declaration(PSYCHOLOGIST.id, care_team=False), NOW).allowed


def test_a_blocked_professional_can_neither_declare_nor_be_authorised() -> None:
    assert not decide(BLOCKED, Action.CONSENT_DECLARE, declaration(BLOCKED.id), NOW).allowed
    decision = decide(Actor.patient(HOLDER), Action.CONSENT_DECLARE, declaration(BLOCKED.id), NOW)
    assert not decision.allowed and decision.reason == "professional-blocked-by-the-holder"


def test_a_professional_cannot_manage_the_holders_consents_such_as_unblocking_themselves() -> None:
    for actor in (AUTHORISED_DOCTOR, BLOCKED, MEDECIN_TRAITANT):
        assert not decide(actor, Action.CONSENT_MANAGE, FACTS, NOW).allowed
    assert decide(Actor.patient(HOLDER), Action.CONSENT_MANAGE, FACTS, NOW).allowed
    assert decide(Actor.patient(PARENT), Action.CONSENT_MANAGE, FACTS, NOW).allowed


# --- who may add documents ----------------------------------------------------------------------


def submission(type_code: str = "11488-4", record: RecordFacts = FACTS) -> NewDocument:
    return NewDocument(record, type_code)


def test_authorised_professionals_add_documents_and_others_do_not() -> None:
    assert decide(AUTHORISED_DOCTOR, Action.DOCUMENT_CREATE, submission(), NOW).allowed
    assert decide(MEDECIN_TRAITANT, Action.DOCUMENT_CREATE, submission(), NOW).allowed
    assert not decide(OTHER_DOCTOR, Action.DOCUMENT_CREATE, submission(), NOW).allowed
    assert not decide(EXPIRED, Action.DOCUMENT_CREATE, submission(), NOW).allowed


def test_establishment_software_adds_documents_for_an_authorised_professional_only() -> None:
    for_authorised = Actor.software("lps-chu", "750000001", AUTHORISED_DOCTOR.id, "10")
    for_stranger = Actor.software("lps-chu", "750000001", OTHER_DOCTOR.id, "10")
    assert decide(for_authorised, Action.DOCUMENT_CREATE, submission(), NOW).allowed
    assert not decide(for_stranger, Action.DOCUMENT_CREATE, submission(), NOW).allowed


def test_an_emergency_access_reads_but_does_not_add() -> None:
    record = in_emergency(EMERGENCY_DOCTOR)
    decision = decide(EMERGENCY_DOCTOR, Action.DOCUMENT_CREATE, submission(record=record), NOW)
    assert not decision.allowed and decision.reason == "emergency-access-reads-only"


def test_the_holder_adds_only_patient_documents() -> None:
    assert decide(Actor.patient(HOLDER), Action.DOCUMENT_CREATE, submission("DOCPAT01"), NOW).allowed
    assert not decide(Actor.patient(HOLDER), Action.DOCUMENT_CREATE, submission(), NOW).allowed


def test_only_the_insurer_adds_reimbursement_history_and_nothing_else() -> None:
    feed = Actor.insurer_feed()
    assert decide(feed, Action.DOCUMENT_CREATE, submission("REMB"), NOW).allowed
    assert not decide(feed, Action.DOCUMENT_CREATE, submission(), NOW).allowed
    assert not decide(AUTHORISED_DOCTOR, Action.DOCUMENT_CREATE, submission("REMB"), NOW).allowed


# --- actors who never read ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "actor", [Actor.insurer_feed(), Actor.counter_agent("agent", "750000002"), Actor.operator("ops")]
)
def test_the_insurer_counter_agents_and_operators_never_read_content(actor: Actor) -> None:
    assert not decide(actor, Action.RECORD_READ, FACTS, NOW).allowed
    assert not reads(actor, document())
    assert not reads(actor, document(submitted_by=actor.id))


def test_operators_administer_review_emergencies_and_keep_the_matrix() -> None:
    operator = Actor.operator("ops")
    assert decide(operator, Action.RECORD_SUSPEND, FACTS, NOW).allowed
    assert decide(operator, Action.IDENTITY_MERGE, FACTS, NOW).allowed
    assert decide(operator, Action.EMERGENCY_REVIEW, None, NOW).allowed
    assert decide(operator, Action.MATRIX_ADMIN, None, NOW).allowed
    assert not decide(operator, Action.RECORD_OPEN, NewRecord(HOLDER), NOW).allowed
    assert not decide(AUTHORISED_DOCTOR, Action.MATRIX_ADMIN, None, NOW).allowed


def test_openers_open_records_and_a_person_only_their_own() -> None:
    for actor in (OTHER_DOCTOR, Actor.counter_agent("agent"), Actor.insurer_feed()):
        assert decide(actor, Action.RECORD_OPEN, NewRecord(HOLDER), NOW).allowed
    assert decide(Actor.patient(HOLDER), Action.RECORD_OPEN, NewRecord(HOLDER), NOW).allowed
    assert not decide(Actor.patient(STRANGER), Action.RECORD_OPEN, NewRecord(HOLDER), NOW).allowed


def test_the_insurer_feeds_but_cannot_even_look_up() -> None:
    assert not decide(Actor.insurer_feed(), Action.RECORD_LOOKUP, FACTS, NOW).allowed


def test_anything_without_a_rule_is_denied() -> None:
    decision = decide(AUTHORISED_DOCTOR, Action.RECORD_CLOSE, FACTS, NOW)
    assert not decision.allowed and decision.reason == "no-rule"


# --- access windows -----------------------------------------------------------------------------


def test_a_pharmacys_access_lasts_three_days_by_default() -> None:
    assert window_days_for("21", None, None) == 3
    assert window_days_for("21", 10, None) == 10  # unless the holder chose otherwise for it


def test_the_holders_default_window_applies_to_other_professions() -> None:
    assert window_days_for("10", None, 30) == 30
    assert window_days_for("10", None, None) == 365


def test_a_zero_day_window_lasts_until_midnight_french_time() -> None:
    granted = datetime(2026, 6, 1, 20, 30, tzinfo=UTC)  # 22:30 in Paris (summer time)
    assert window_end(granted, 0) == datetime(2026, 6, 1, 22, 0, tzinfo=UTC)
    assert window_end(granted, 7) == granted + timedelta(days=7)


# --- software scopes ----------------------------------------------------------------------------
# A software token carries the scopes of its profiles (dmp:creation, dmp:alimentation,
# dmp:consultation); they narrow what the software may do for its user, never widen it.


def scoped_software(*scopes: str, acting_for: Actor = AUTHORISED_DOCTOR) -> Actor:
    assert acting_for.rpps is not None
    return Actor.software("lps-chu", "750000001", acting_for.rpps, "10", scopes=frozenset(scopes))


def test_a_consultation_scope_reads_but_neither_files_nor_opens() -> None:
    software = scoped_software("dmp:consultation")
    assert reads(software, document())
    assert decide(software, Action.RECORD_READ, FACTS, NOW).allowed
    filing = decide(software, Action.DOCUMENT_CREATE, submission(), NOW)
    assert not filing.allowed and filing.reason == "outside-token-scopes"
    assert not decide(software, Action.RECORD_OPEN, NewRecord(STRANGER), NOW).allowed


def test_a_feeding_scope_files_but_does_not_read() -> None:
    software = scoped_software("dmp:alimentation")
    assert decide(software, Action.DOCUMENT_CREATE, submission(), NOW).allowed
    assert not reads(software, document())
    assert not reads(software, document(submitted_by="lps-chu"))  # not even what it filed
    assert not decide(software, Action.RECORD_READ, FACTS, NOW).allowed
    assert not decide(software, Action.RECORD_OPEN, NewRecord(STRANGER), NOW).allowed


def test_a_creation_scope_opens_records_and_files_documents() -> None:
    software = scoped_software("dmp:creation")
    assert decide(software, Action.RECORD_OPEN, NewRecord(STRANGER), NOW).allowed
    assert decide(software, Action.DOCUMENT_CREATE, submission(), NOW).allowed
    assert not reads(software, document())


def test_every_profile_looks_patients_up() -> None:
    for scope in ("dmp:creation", "dmp:alimentation", "dmp:consultation"):
        assert decide(scoped_software(scope), Action.RECORD_LOOKUP, FACTS, NOW).allowed


def test_a_scope_never_widens_what_the_professional_may_do() -> None:
    every = ("dmp:creation", "dmp:alimentation", "dmp:consultation")
    for_a_stranger = scoped_software(*every, acting_for=OTHER_DOCTOR)
    assert not reads(for_a_stranger, document())
    assert not decide(for_a_stranger, Action.DOCUMENT_CREATE, submission(), NOW).allowed
    assert not reads(scoped_software(*every, acting_for=BLOCKED), document())
    assert not decide(scoped_software(*every), Action.RECORD_CLOSE, FACTS, NOW).allowed


def test_a_token_without_scopes_or_with_unknown_ones_does_nothing() -> None:
    for scopes in ((), ("dmp:everything",)):
        software = scoped_software(*scopes)
        for action in Action:
            assert not decide(software, action, FACTS, NOW).allowed
        assert not decide(software, Action.DOCUMENT_CREATE, submission(), NOW).allowed


def test_lists_follow_the_scopes_too() -> None:
    from sqlalchemy import false

    from opendmp.access.policy import readable_by

    assert readable_by(scoped_software("dmp:alimentation"), FACTS, NOW).compare(false())
    assert not readable_by(scoped_software("dmp:consultation"), FACTS, NOW).compare(false())


def test_only_operators_search_the_journal_across_records() -> None:
    assert decide(Actor.operator("ops"), Action.JOURNAL_FORENSICS, None, NOW).allowed
    for actor in (AUTHORISED_DOCTOR, Actor.patient(HOLDER), Actor.counter_agent("agent"), Actor.insurer_feed()):
        assert not decide(actor, Action.JOURNAL_FORENSICS, None, NOW).allowed


@pytest.mark.parametrize("status", ["closed", "suspended", "deletion-requested", "objected"])
def test_a_record_that_is_not_live_is_closed_to_professionals_but_not_to_its_holder(status: str) -> None:
    record = dataclasses.replace(FACTS, status=status)
    assert not reads(AUTHORISED_DOCTOR, document(record=record))
    assert not reads(MEDECIN_TRAITANT, document(record=record))
    assert reads(AUTHOR, document(record=record))  # what they wrote stays theirs
    assert reads(Actor.patient(HOLDER), document(record=record))


# --- credentials letter --------------------------------------------------------------------------

COUNTER = Actor.counter_agent("agent-1", "750000001")


def letter(opener: Actor = COUNTER, **kw: Any) -> CredentialsLetter:
    values: dict[str, Any] = {
        "record": FACTS,
        "opened_by_kind": opener.kind.value,
        "opened_by": opener.id,
        "opened_at": NOW - timedelta(minutes=5),
        "activated": False,
    }
    values.update(kw)
    return CredentialsLetter(**values)


@pytest.mark.parametrize("opener", [COUNTER, OTHER_DOCTOR], ids=["counter-agent", "professional"])
def test_the_opener_prints_the_credentials_letter_again_shortly_after_opening(opener: Actor) -> None:
    assert decide(opener, Action.CREDENTIALS_LETTER, letter(opener), NOW).allowed


@pytest.mark.parametrize(
    ("actor", "reason"),
    [
        (Actor.counter_agent("agent-2"), "not-the-opener"),
        (AUTHORISED_DOCTOR, "not-the-opener"),
        (Actor.patient(HOLDER), "letters-are-printed-by-the-opener"),
        (Actor.operator("ops"), "letters-are-printed-by-the-opener"),
    ],
)
def test_only_the_opener_prints_the_credentials_letter(actor: Actor, reason: str) -> None:
    decision = decide(actor, Action.CREDENTIALS_LETTER, letter(), NOW)
    assert not decision.allowed and decision.reason == reason


def test_the_credentials_letter_is_not_reprinted_after_its_window() -> None:
    late = NOW + LETTER_REPRINT_WINDOW - timedelta(minutes=5)
    decision = decide(COUNTER, Action.CREDENTIALS_LETTER, letter(), late)
    assert not decision.allowed and decision.reason == "reprint-window-over"


def test_no_credentials_letter_once_the_holder_activated() -> None:
    decision = decide(COUNTER, Action.CREDENTIALS_LETTER, letter(activated=True), NOW)
    assert not decision.allowed and decision.reason == "account-already-activated"


def test_no_credentials_letter_for_a_closed_record() -> None:
    closed = dataclasses.replace(FACTS, status="closed")
    decision = decide(COUNTER, Action.CREDENTIALS_LETTER, letter(record=closed), NOW)
    assert not decision.allowed and decision.reason == "record-not-live"


def test_software_prints_the_letter_only_with_the_creation_scope() -> None:
    creation = Actor.software("client-1", "750000001", OTHER_DOCTOR.id, "10", frozenset({"dmp:creation"}))
    consultation = dataclasses.replace(creation, scopes=frozenset({"dmp:consultation"}))
    assert decide(creation, Action.CREDENTIALS_LETTER, letter(creation), NOW).allowed
    assert decide(consultation, Action.CREDENTIALS_LETTER, letter(consultation), NOW).reason == "outside-token-scopes"


def test_a_caregiver_with_a_delegation_reads_but_grants_no_access() -> None:
    caregiver = Ins(InsSystem.TEST_NIR, "160057505612345")
    record = dataclasses.replace(FACTS, delegates=frozenset({caregiver}))
    decision = decide(
        Actor.patient(caregiver), Action.CONSENT_DECLARE, NewAuthorisation(record, OTHER_DOCTOR.id, False, True), NOW
    )
    assert not decision.allowed and decision.reason == "delegates-give-no-consent"
    assert reads(Actor.patient(caregiver), document(record=record))


def test_credentials_are_issued_by_the_system_and_those_who_hand_them_over_never_by_the_batch() -> None:
    creation = Actor.software("client-1", "750000001", OTHER_DOCTOR.id, "10", frozenset({"dmp:creation"}))
    feeding = dataclasses.replace(creation, scopes=frozenset({"dmp:alimentation"}))
    issuers = (Actor.system("credentials-at-opening"), COUNTER, OTHER_DOCTOR, creation, Actor.operator("ops"))
    assert all(decide(actor, Action.CREDENTIALS_ISSUE, FACTS, NOW).allowed for actor in issuers)
    for refused in (Actor.insurer_feed(), Actor.patient(HOLDER), Actor.patient(STRANGER), feeding):
        assert not decide(refused, Action.CREDENTIALS_ISSUE, FACTS, NOW).allowed


def test_only_operators_read_the_deployment_statistics() -> None:
    assert decide(Actor.operator("ops"), Action.STATS_READ, None, NOW).allowed
    others = (Actor.patient(HOLDER), OTHER_DOCTOR, COUNTER, Actor.insurer_feed(), Actor.system("stats"))
    for refused in others:
        assert not decide(refused, Action.STATS_READ, None, NOW).allowed
