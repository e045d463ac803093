"""The holder's consents through the real services and database: each rule, its journal entry and
its notification, on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from opendmp.access.policy import EmergencyMode
from opendmp.consent import service as consents
from opendmp.consent.errors import EmergencyReasonRequired, NoSuchConsent, UnknownProfessional
from opendmp.document import service as documents
from opendmp.fhir.document import VISIBILITY_SYSTEM, parse_document_reference
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins
from opendmp.journal.service import entries_of
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import AccessDenied, DomainError, HiddenFromActor
from opendmp.notify import service as notify
from opendmp.notify.models import ChannelKind, OutboxMessage
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.test_document_api import PDF, document_reference

DOCTOR = Actor.professional("10000000002", "10")
AUTHOR = Actor.professional("10000000003", "10")
PHARMACIST = Actor.professional("10000000004", "21")
MEDECIN_TRAITANT = Actor.professional("10000000005", "10")
EMERGENCY_DOCTOR = Actor.professional("10000000006", "10")


@pytest.fixture
def record(runtime: Runtime) -> tuple[Ins, uuid.UUID]:
    ins, traits = f.person()
    record_id = f.open_record(runtime, Actor.counter_agent("agent"), ins, traits).record.id
    for actor in (DOCTOR, AUTHOR, PHARMACIST, MEDECIN_TRAITANT, EMERGENCY_DOCTOR):
        f.add_professional(runtime, actor.id, actor.profession or "10", family=f"DR{actor.id[-1]}")
    with unit_of_work(runtime.sessions) as session:
        notify.set_contact(
            session, f.OPERATOR, record_id, ChannelKind.EMAIL, "patient@example.org", runtime.clock.now()
        )
    return ins, record_id


def run(runtime: Runtime, use_case: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    with unit_of_work(runtime.sessions) as session:
        return use_case(session, *args, runtime.clock.now(), **kw)


def publish(runtime: Runtime, record_id: uuid.UUID, author: Actor = AUTHOR, **extra: Any) -> uuid.UUID:
    f.authorise(runtime, record_id, author)
    item = parse_document_reference(document_reference(record_id, PDF + uuid.uuid4().bytes, **extra))
    with unit_of_work(runtime.sessions) as session:
        stored = documents.submit_document(
            session, author, item, PDF, runtime.clock.now(), runtime.vault, max_size=1_000_000
        )
        return stored.document.id


def can_read(runtime: Runtime, actor: Actor, document_id: uuid.UUID) -> bool:
    try:
        with unit_of_work(runtime.sessions) as session:
            documents.get_document(session, actor, document_id, runtime.clock.now())
        return True
    except HiddenFromActor:
        return False


def journal_actions(runtime: Runtime, record_id: uuid.UUID) -> list[tuple[str, str, str | None]]:
    with runtime.sessions() as session:
        return [(e.action, e.outcome, e.actor_id) for e in entries_of(session, record_id)]


def outbox(runtime: Runtime, record_id: uuid.UUID) -> list[OutboxMessage]:
    with runtime.sessions() as session:
        return list(session.execute(select(OutboxMessage).where(OutboxMessage.record_id == record_id)).scalars())


def test_the_holder_authorises_a_professional_who_then_reads_and_the_holder_is_told(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    document_id = publish(runtime, record_id)
    assert not can_read(runtime, DOCTOR, document_id)
    run(runtime, consents.authorise, Actor.patient(ins), record_id, DOCTOR.id)
    assert can_read(runtime, DOCTOR, document_id)
    assert ("consent:authorise", "success", ins.value) in journal_actions(runtime, record_id)
    assert any(m.category == "consent-change" for m in outbox(runtime, record_id))


def test_a_professional_declaration_is_journaled_with_the_declarers_rpps_and_notified(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    _, record_id = record
    run(runtime, consents.authorise, DOCTOR, record_id, DOCTOR.id, care_team=True, patient_present=True)
    assert ("consent:authorise", "success", DOCTOR.id) in journal_actions(runtime, record_id)
    messages = outbox(runtime, record_id)
    assert [m.category for m in messages] == ["consent-change"]
    assert "autorisé" in messages[0].body


def test_a_professional_cannot_authorise_themselves_without_the_patient(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    _, record_id = record
    with pytest.raises(AccessDenied):
        run(runtime, consents.authorise, DOCTOR, record_id, DOCTOR.id, care_team=True, patient_present=False)
    assert ("consent:declare", "denied", DOCTOR.id) in journal_actions(runtime, record_id)


def test_an_unknown_rpps_is_refused_and_journaled(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    ins, record_id = record
    with pytest.raises(UnknownProfessional):
        run(runtime, consents.authorise, Actor.patient(ins), record_id, "19999999999")
    assert ("consent:authorise", "failure", ins.value) in journal_actions(runtime, record_id)


def test_revoking_a_consent_that_does_not_exist_is_refused_and_journaled(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    with pytest.raises(NoSuchConsent):
        run(runtime, consents.revoke, Actor.patient(ins), record_id, DOCTOR.id)
    assert ("consent:revoke", "failure", ins.value) in journal_actions(runtime, record_id)


def test_a_revocation_is_effective_on_the_very_next_request(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    ins, record_id = record
    document_id = publish(runtime, record_id)
    f.authorise(runtime, record_id, DOCTOR)
    assert can_read(runtime, DOCTOR, document_id)
    run(runtime, consents.revoke, Actor.patient(ins), record_id, DOCTOR.id)
    assert not can_read(runtime, DOCTOR, document_id)


def test_blocked_professional_cannot_read_any_document_even_their_own(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    own = publish(runtime, record_id, AUTHOR)
    run(runtime, consents.block, Actor.patient(ins), record_id, AUTHOR.id)
    assert not can_read(runtime, AUTHOR, own)
    with pytest.raises(HiddenFromActor), unit_of_work(runtime.sessions) as session:
        documents.search_documents(session, AUTHOR, record_id, documents.DocumentQuery(), runtime.clock.now())
    run(runtime, consents.unblock, Actor.patient(ins), record_id, AUTHOR.id)
    assert can_read(runtime, AUTHOR, own)


def test_a_professional_cannot_unblock_themselves(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    ins, record_id = record
    run(runtime, consents.block, Actor.patient(ins), record_id, DOCTOR.id)
    with pytest.raises(DomainError):
        run(runtime, consents.unblock, DOCTOR, record_id, DOCTOR.id)
    assert ("consent:manage", "denied", DOCTOR.id) in journal_actions(runtime, record_id)


def test_an_access_window_closes_by_itself(runtime: Runtime, clock: FrozenClock, record: tuple[Ins, uuid.UUID]) -> None:
    ins, record_id = record
    document_id = publish(runtime, record_id)
    run(runtime, consents.authorise, Actor.patient(ins), record_id, DOCTOR.id, window_days=7)
    clock.advance(timedelta(days=6, hours=23))
    assert can_read(runtime, DOCTOR, document_id)
    clock.advance(timedelta(hours=2))
    assert not can_read(runtime, DOCTOR, document_id)


def test_a_pharmacys_access_lasts_three_days(
    runtime: Runtime, clock: FrozenClock, record: tuple[Ins, uuid.UUID]
) -> None:
    _, record_id = record
    document_id = publish(runtime, record_id)
    run(runtime, consents.authorise, PHARMACIST, record_id, PHARMACIST.id, care_team=True, patient_present=True)
    assert can_read(runtime, PHARMACIST, document_id)
    clock.advance(timedelta(days=3, seconds=1))
    assert not can_read(runtime, PHARMACIST, document_id)


def test_the_medecin_traitant_reads_masked_documents_others_do_not(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    document_id = publish(runtime, record_id)
    with unit_of_work(runtime.sessions) as session:
        documents.update_metadata(
            session,
            Actor.patient(ins),
            document_id,
            documents.MetadataChange(masked_from_professionals=True),
            runtime.clock.now(),
        )
    f.authorise(runtime, record_id, DOCTOR)
    run(runtime, consents.designate_medecin_traitant, Actor.patient(ins), record_id, MEDECIN_TRAITANT.id)
    assert can_read(runtime, MEDECIN_TRAITANT, document_id)
    assert can_read(runtime, AUTHOR, document_id)
    assert not can_read(runtime, DOCTOR, document_id)
    run(runtime, consents.authorise, Actor.patient(ins), record_id, DOCTOR.id, masked_access=True)
    assert can_read(runtime, DOCTOR, document_id)


def test_the_medecin_traitant_must_be_a_doctor(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    ins, record_id = record
    with pytest.raises(DomainError, match="doctor"):
        run(runtime, consents.designate_medecin_traitant, Actor.patient(ins), record_id, PHARMACIST.id)


def test_default_masking_masks_every_new_document(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    ins, record_id = record
    f.authorise(runtime, record_id, DOCTOR)
    run(runtime, consents.set_preferences, Actor.patient(ins), record_id, mask_new_documents=True)
    document_id = publish(runtime, record_id)
    assert can_read(runtime, AUTHOR, document_id)
    assert not can_read(runtime, DOCTOR, document_id)


def test_an_emergency_access_without_a_reason_is_refused_and_journaled(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    _, record_id = record
    with pytest.raises(EmergencyReasonRequired):
        run(runtime, consents.break_glass, EMERGENCY_DOCTOR, record_id, reason="  ")
    assert ("emergency:access", "failure", EMERGENCY_DOCTOR.id) in journal_actions(runtime, record_id)


def test_an_ineligible_role_cannot_break_the_glass(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    _, record_id = record
    with pytest.raises(AccessDenied):
        run(runtime, consents.break_glass, PHARMACIST, record_id, reason="malaise au comptoir")
    with pytest.raises(AccessDenied):
        run(runtime, consents.break_glass, EMERGENCY_DOCTOR, record_id, reason="appel", mode=EmergencyMode.SAMU)
    assert ("emergency:access", "denied", PHARMACIST.id) in journal_actions(runtime, record_id)


def test_breaking_the_glass_reads_for_two_hours_notifies_and_awaits_review(
    runtime: Runtime, clock: FrozenClock, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    document_id = publish(runtime, record_id)
    run(runtime, consents.designate_medecin_traitant, Actor.patient(ins), record_id, MEDECIN_TRAITANT.id)
    with unit_of_work(runtime.sessions) as session:
        notify.set_professional_contact(
            session, f.OPERATOR, MEDECIN_TRAITANT.id, "dr5@medecin.mssante.fr", runtime.clock.now()
        )
    assert not can_read(runtime, EMERGENCY_DOCTOR, document_id)
    run(runtime, consents.break_glass, EMERGENCY_DOCTOR, record_id, reason="patient inconscient aux urgences")
    assert can_read(runtime, EMERGENCY_DOCTOR, document_id)
    categories = {(m.category, m.recipient_kind) for m in outbox(runtime, record_id)}
    assert ("emergency-access", "holder") in categories
    assert ("emergency-access", "professional") in categories
    pending = run(runtime, consents.pending_reviews, f.OPERATOR)
    assert [p.rpps for p in pending] == [EMERGENCY_DOCTOR.id]
    run(runtime, consents.review, f.OPERATOR, pending[0].id, justified=True, note="urgence vitale")
    assert run(runtime, consents.pending_reviews, f.OPERATOR) == []
    clock.advance(timedelta(hours=2))
    assert not can_read(runtime, EMERGENCY_DOCTOR, document_id)


def test_the_holder_turns_emergency_access_off_beforehand(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    ins, record_id = record
    run(runtime, consents.set_preferences, Actor.patient(ins), record_id, break_glass=False)
    with pytest.raises(AccessDenied, match="turned-off-by-the-holder"):
        run(runtime, consents.break_glass, EMERGENCY_DOCTOR, record_id, reason="inconscient")


def test_the_holder_sees_every_consent_and_emergency_access(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    ins, record_id = record
    holder = Actor.patient(ins)
    run(runtime, consents.authorise, holder, record_id, DOCTOR.id)
    run(runtime, consents.block, holder, record_id, AUTHOR.id)
    run(runtime, consents.break_glass, EMERGENCY_DOCTOR, record_id, reason="inconscient")
    view = run(runtime, consents.consents_of, holder, record_id)
    assert [a.rpps for a in view.authorisations] == [DOCTOR.id]
    assert [b.rpps for b in view.blocks] == [AUTHOR.id]
    assert [e.rpps for e in view.emergencies] == [EMERGENCY_DOCTOR.id]
    with pytest.raises(HiddenFromActor):
        run(runtime, consents.consents_of, DOCTOR, record_id)


def test_an_imported_matrix_applies_on_the_next_request_and_exports_as_imported(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    _, record_id = record
    document_id = publish(runtime, record_id)  # a consultation report, class 10
    f.authorise(runtime, record_id, PHARMACIST)
    assert can_read(runtime, PHARMACIST, document_id)
    current = run(runtime, consents.export_matrix, f.OPERATOR)
    stricter = current.to_csv().replace("\n21,1,", "\n21,0,", 1)
    version = run(runtime, consents.import_matrix, f.OPERATOR, stricter, note="pharmacists: no reports")
    assert version == current.version + 1
    assert not can_read(runtime, PHARMACIST, document_id)
    assert run(runtime, consents.export_matrix, f.OPERATOR).to_csv() == stricter
    assert run(runtime, consents.export_matrix, f.OPERATOR, version=current.version).to_csv() == current.to_csv()


def test_a_matrix_with_an_unknown_profession_is_refused_naming_the_line(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    current = run(runtime, consents.export_matrix, f.OPERATOR)
    with pytest.raises(DomainError) as error:
        run(runtime, consents.import_matrix, f.OPERATOR, current.to_csv() + "77,1,1,1,1,1,1,1,1,1,1,1,1\n")
    assert error.value.field and error.value.field.startswith("line ")


def test_an_invisible_document_reaches_the_patient_a_month_later(
    runtime: Runtime, clock: FrozenClock, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    security = [{"coding": [{"system": VISIBILITY_SYSTEM, "code": "INVISIBLE_PATIENT"}]}]
    document_id = publish(runtime, record_id, securityLabel=security)
    assert not can_read(runtime, Actor.patient(ins), document_id)
    clock.advance(timedelta(days=30))
    assert can_read(runtime, Actor.patient(ins), document_id)


def test_the_holder_is_told_of_each_new_professional_reading_the_record_once(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    _, record_id = record
    document_id = publish(runtime, record_id)
    f.authorise(runtime, record_id, DOCTOR)
    assert can_read(runtime, DOCTOR, document_id)
    assert can_read(runtime, DOCTOR, document_id)
    first = [m for m in outbox(runtime, record_id) if m.category == "first-access"]
    assert len(first) == 1 and "DR2" in first[0].body.upper()


def test_the_holder_is_told_after_two_weeks_of_a_document_hidden_from_them(
    runtime: Runtime, clock: FrozenClock, record: tuple[Ins, uuid.UUID]
) -> None:
    from opendmp.jobs import run_jobs

    _, record_id = record
    security = [{"coding": [{"system": VISIBILITY_SYSTEM, "code": "INVISIBLE_PATIENT"}]}]
    publish(runtime, record_id, securityLabel=security)
    before = len(outbox(runtime, record_id))
    clock.advance(timedelta(days=13))
    run_jobs(runtime.job_context(), clock.now(), ["invisible-notice"])
    assert len(outbox(runtime, record_id)) == before
    clock.advance(timedelta(days=2))
    run_jobs(runtime.job_context(), clock.now(), ["invisible-notice"])
    run_jobs(runtime.job_context(), clock.now(), ["invisible-notice"])
    told = [m for m in outbox(runtime, record_id)[before:] if m.category == "new-document"]
    assert len(told) == 1


def test_a_minors_confidential_document_is_hidden_from_the_representatives_not_from_the_minor(
    runtime: Runtime, clock: FrozenClock
) -> None:
    from datetime import date

    from opendmp.record import service as records

    ins, traits = f.minor(clock.now().date())
    parent = records.RepresentativeIn(f.person(born=date(1980, 1, 1))[0], "MARTIN", "JEAN")
    record_id = f.open_record(runtime, Actor.counter_agent("a"), ins, traits, representatives=(parent,)).record.id
    f.add_professional(runtime, AUTHOR.id, "10")
    security = [{"coding": [{"system": VISIBILITY_SYSTEM, "code": "INVISIBLE_REPRESENTANTS_LEGAUX"}]}]
    confidential = publish(runtime, record_id, securityLabel=security)
    ordinary = publish(runtime, record_id)
    assert can_read(runtime, Actor.patient(ins), confidential)
    assert not can_read(runtime, Actor.patient(parent.ins), confidential)
    assert can_read(runtime, Actor.patient(parent.ins), ordinary)
    with unit_of_work(runtime.sessions) as session:
        listed, total = documents.search_documents(
            session, Actor.patient(parent.ins), record_id, documents.DocumentQuery(), clock.now()
        )
    assert [d.document.id for d in listed] == [ordinary] and total == 1


def test_the_journal_keeps_a_minors_confidential_acts_from_the_representatives(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """CSP L1111-5: the representatives see neither the document nor that someone wrote or read it."""
    from datetime import date

    from opendmp.journal import reading
    from opendmp.record import service as records

    ins, traits = f.minor(clock.now().date())
    parent = records.RepresentativeIn(f.person(born=date(1980, 1, 1))[0], "MARTIN", "JEAN")
    record_id = f.open_record(runtime, Actor.counter_agent("a"), ins, traits, representatives=(parent,)).record.id
    f.add_professional(runtime, AUTHOR.id, "10")
    security = [{"coding": [{"system": VISIBILITY_SYSTEM, "code": "INVISIBLE_REPRESENTANTS_LEGAUX"}]}]
    confidential = str(publish(runtime, record_id, securityLabel=security))
    ordinary = str(publish(runtime, record_id))
    assert can_read(runtime, AUTHOR, uuid.UUID(confidential))  # a read by the author, journaled

    def seen_by(reader: Actor) -> tuple[set[str], int]:
        with unit_of_work(runtime.sessions) as session:
            page = reading.read_record_journal(session, reader, record_id, reading.EntryQuery(), clock.now())
        return {e.target_id for e in page.entries if e.target_type == "document"}, page.total

    minors_view, minors_total = seen_by(Actor.patient(ins))
    parents_view, parents_total = seen_by(Actor.patient(parent.ins))
    assert {confidential, ordinary} <= minors_view
    assert ordinary in parents_view and confidential not in parents_view
    assert parents_total < minors_total  # the total leaves them out too: paging stays right


def test_establishment_software_files_and_reads_for_a_professional_of_the_care_team_only(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    _, record_id = record
    f.authorise(runtime, record_id, DOCTOR)
    for_doctor = Actor.software("lps-chu", "750000001", DOCTOR.id, "10")
    for_stranger = Actor.software("lps-chu", "750000001", PHARMACIST.id, "21")
    item = parse_document_reference(document_reference(record_id, PDF))
    with unit_of_work(runtime.sessions) as session:
        filed = documents.submit_document(
            session, for_doctor, item, PDF, runtime.clock.now(), runtime.vault, max_size=1_000_000
        ).document.id
    assert can_read(runtime, for_doctor, filed)
    with pytest.raises(AccessDenied), unit_of_work(runtime.sessions) as session:
        documents.submit_document(
            session, for_stranger, item, PDF, runtime.clock.now(), runtime.vault, max_size=1_000_000
        )
    assert not can_read(runtime, PHARMACIST, filed)  # authorised on nothing here


def test_the_insurer_files_the_reimbursement_history_but_reads_nothing(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    _, record_id = record
    feed = Actor.insurer_feed()
    clinical = parse_document_reference(document_reference(record_id, PDF))
    with pytest.raises(DomainError), unit_of_work(runtime.sessions) as session:
        documents.submit_document(session, feed, clinical, PDF, runtime.clock.now(), runtime.vault, max_size=1_000_000)
    resource = document_reference(record_id, PDF + b"remb", type_code=None)
    resource["type"] = {"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.12", "code": "REMB"}]}
    remb = parse_document_reference(resource)
    with unit_of_work(runtime.sessions) as session:
        filed = documents.submit_document(
            session, feed, remb, PDF + b"remb", runtime.clock.now(), runtime.vault, max_size=1_000_000
        ).document.id
    assert not can_read(runtime, feed, filed)
    assert not can_read(runtime, Actor.counter_agent("agent"), filed)


def test_the_habilitation_matrix_keeps_imaging_from_an_authorised_pharmacist(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    _, record_id = record
    imaging = publish(runtime, record_id, type={"coding": [{"system": "http://loinc.org", "code": "18748-4"}]})
    f.authorise(runtime, record_id, PHARMACIST, DOCTOR)
    assert not can_read(runtime, PHARMACIST, imaging)
    assert can_read(runtime, DOCTOR, imaging)


def test_each_read_is_journaled_with_its_purpose(runtime: Runtime, record: tuple[Ins, uuid.UUID]) -> None:
    ins, record_id = record
    document_id = publish(runtime, record_id)
    run(runtime, consents.break_glass, EMERGENCY_DOCTOR, record_id, reason="inconscient")
    for actor in (Actor.patient(ins), AUTHOR, EMERGENCY_DOCTOR):
        assert can_read(runtime, actor, document_id)
    with runtime.sessions() as session:
        purposes = {e.actor_id: e.purpose for e in entries_of(session, record_id) if e.action == "document:read"}
    assert purposes == {ins.value: "patient-access", AUTHOR.id: "care", EMERGENCY_DOCTOR.id: "emergency"}


def test_only_the_holder_chooses_an_access_window_and_a_professional_never_outlasts_the_holders_default(
    runtime: Runtime, clock: FrozenClock, record: tuple[Ins, uuid.UUID]
) -> None:
    ins, record_id = record
    with pytest.raises(DomainError, match="access window"):
        run(runtime, consents.authorise, PHARMACIST, record_id, PHARMACIST.id, patient_present=True, window_days=365)
    assert ("consent:authorise", "failure", PHARMACIST.id) in journal_actions(runtime, record_id)
    run(runtime, consents.set_preferences, Actor.patient(ins), record_id, default_window_days=1)
    document_id = publish(runtime, record_id)
    run(runtime, consents.authorise, DOCTOR, record_id, DOCTOR.id, care_team=True, patient_present=True)
    clock.advance(timedelta(days=1, seconds=1))
    assert not can_read(runtime, DOCTOR, document_id)  # the holder's 1 day, not the platform's 365


def test_a_refusal_in_the_middle_of_a_bundle_keeps_nothing_of_it_but_the_trace(
    runtime: Runtime, record: tuple[Ins, uuid.UUID]
) -> None:
    _, record_id = record
    theirs = publish(runtime, record_id, AUTHOR)  # a document DOCTOR may not replace
    f.authorise(runtime, record_id, DOCTOR)
    first = parse_document_reference(document_reference(record_id, PDF + b"first"))
    second = parse_document_reference(
        document_reference(
            record_id,
            PDF + b"second",
            relatesTo=[{"code": "replaces", "target": {"reference": f"DocumentReference/{theirs}"}}],
        )
    )
    with pytest.raises(AccessDenied), unit_of_work(runtime.sessions) as session:
        documents.submit_set(
            session,
            DOCTOR,
            documents.SubmissionSetIn("urn:oid:1.2.3.4.5"),
            [(first, PDF + b"first"), (second, PDF + b"second")],
            runtime.clock.now(),
            runtime.vault,
            max_size=1_000_000,
        )
    with unit_of_work(runtime.sessions) as session:
        listed, total = documents.search_documents(
            session, Actor.patient(record[0]), record_id, documents.DocumentQuery(), runtime.clock.now()
        )
    assert [d.document.id for d in listed] == [theirs] and total == 1  # the bundle's first document is gone
    assert ("document:replace", "denied", DOCTOR.id) in journal_actions(runtime, record_id)
