"""The foundation's policy, rule by rule (pure: no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from opendmp.access.policy import Action, DocumentFacts, NewRecord, RecordFacts, decide
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins, InsSystem

NOW = datetime(2026, 6, 1, tzinfo=UTC)
HOLDER = Ins(InsSystem.TEST_NIR, "280057505612345")
PARENT = Ins(InsSystem.TEST_NIR, "170057505612345")
STRANGER = Ins(InsSystem.TEST_NIR, "190057505612345")
FACTS = RecordFacts(
    uuid.uuid4(),
    "active",
    HOLDER,
    representatives=frozenset({PARENT}),
    care_team=frozenset({"10000000001"}),
    blocked=frozenset({"10000000666"}),
)
DOCTOR = Actor.professional("10000000002", "10")


def test_the_holder_reads_their_record() -> None:
    decision = decide(Actor.patient(HOLDER), Action.RECORD_READ, FACTS, NOW)
    assert decision.allowed and decision.via == "holder"


def test_a_legal_representative_reads_the_record() -> None:
    decision = decide(Actor.patient(PARENT), Action.RECORD_READ, FACTS, NOW)
    assert decision.allowed and decision.via == "representative"


def test_another_person_reads_nothing() -> None:
    assert not decide(Actor.patient(STRANGER), Action.RECORD_READ, FACTS, NOW).allowed
    assert not decide(Actor.patient(STRANGER), Action.RECORD_LOOKUP, FACTS, NOW).allowed


def test_any_professional_may_look_a_record_up_but_not_read_its_content_yet() -> None:
    assert decide(DOCTOR, Action.RECORD_LOOKUP, FACTS, NOW).allowed
    assert not decide(DOCTOR, Action.RECORD_READ, FACTS, NOW).allowed


def test_a_blocked_professional_is_refused_everything_even_the_lookup() -> None:
    blocked = Actor.professional("10000000666", "10")
    for action in Action:
        assert not decide(blocked, action, FACTS, NOW).allowed


@pytest.mark.parametrize(
    "actor",
    [
        DOCTOR,
        Actor.counter_agent("agent"),
        Actor.insurer_feed(),
        Actor.software("lps", "750000001", "10000000002", "10"),
    ],
)
def test_openers_open_records(actor: Actor) -> None:
    assert decide(actor, Action.RECORD_OPEN, NewRecord(HOLDER), NOW).allowed


def test_a_person_opens_only_their_own_record_online() -> None:
    assert decide(Actor.patient(HOLDER), Action.RECORD_OPEN, NewRecord(HOLDER), NOW).allowed
    assert not decide(Actor.patient(STRANGER), Action.RECORD_OPEN, NewRecord(HOLDER), NOW).allowed


def test_operators_administer_but_never_read_content() -> None:
    operator = Actor.operator("ops")
    assert decide(operator, Action.RECORD_SUSPEND, FACTS, NOW).allowed
    assert decide(operator, Action.IDENTITY_MERGE, FACTS, NOW).allowed
    assert not decide(operator, Action.RECORD_READ, FACTS, NOW).allowed
    assert not decide(operator, Action.RECORD_OPEN, NewRecord(HOLDER), NOW).allowed


def test_the_insurer_feeds_but_cannot_read() -> None:
    feed = Actor.insurer_feed()
    assert not decide(feed, Action.RECORD_READ, FACTS, NOW).allowed
    assert not decide(feed, Action.RECORD_LOOKUP, FACTS, NOW).allowed


def test_only_the_insurer_suspends_not_the_holder() -> None:
    assert not decide(Actor.patient(HOLDER), Action.RECORD_SUSPEND, FACTS, NOW).allowed


def test_anything_without_a_rule_is_denied() -> None:
    decision = decide(DOCTOR, Action.RECORD_CLOSE, FACTS, NOW)
    assert not decision.allowed and decision.reason == "no-rule"


def _document(submitted_by: str = "10000000002", **flags: bool) -> DocumentFacts:
    return DocumentFacts(uuid.uuid4(), FACTS, "11488-4", frozenset({"10000000002"}), submitted_by, **flags)


def test_the_holder_masks_a_document_but_leaves_its_other_labels_to_the_author() -> None:
    holder = Actor.patient(HOLDER)
    assert decide(holder, Action.DOCUMENT_MASK, _document(), NOW).allowed
    assert not decide(holder, Action.DOCUMENT_UPDATE, _document(), NOW).allowed
    assert decide(DOCTOR, Action.DOCUMENT_UPDATE, _document(), NOW).allowed


def test_the_holder_manages_the_documents_they_filed_themselves() -> None:
    holder = Actor.patient(HOLDER)
    own = _document(submitted_by=HOLDER.value)
    assert decide(holder, Action.DOCUMENT_UPDATE, own, NOW).allowed
    assert decide(holder, Action.DOCUMENT_DELETE, own, NOW).allowed


def test_a_document_invisible_to_the_patient_is_hidden_from_the_holder_not_from_its_author() -> None:
    hidden = _document(invisible_to_patient=True)
    assert not decide(Actor.patient(HOLDER), Action.DOCUMENT_READ, hidden, NOW).allowed
    assert decide(DOCTOR, Action.DOCUMENT_READ, hidden, NOW).allowed


def test_a_professional_who_is_not_an_author_reads_no_document_yet() -> None:
    assert not decide(Actor.professional("10000000009", "10"), Action.DOCUMENT_READ, _document(), NOW).allowed
