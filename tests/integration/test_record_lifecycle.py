"""The record lifecycle, one test per rule, on SQLite and PostgreSQL through the real services."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from opendmp.config import OpeningPolicy
from opendmp.consent.models import Authorisation
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins, InsSystem, StrictTraits
from opendmp.identity.models import InsLookup, Patient, TraitsLookup
from opendmp.jobs import run_jobs
from opendmp.journal.models import JournalEntry
from opendmp.journal.service import entries_of
from opendmp.journal.verify import verify_all
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import AccessDenied, HiddenFromActor, InvalidInput
from opendmp.record import service as records
from opendmp.record.errors import (
    ChannelMismatch,
    InvalidConsent,
    InvalidTransition,
    ObjectionWindowClosed,
    RecordAlreadyExists,
    RecordClosed,
    RecordNotFound,
    RecordRefused,
    RetentionNotOver,
    TooManyRepresentatives,
)
from opendmp.record.models import Channel, Record, RecordStatus
from opendmp.runtime import Runtime
from opendmp.stats.models import RemunerationEntry
from tests import factories as f

OPERATOR = f.OPERATOR


def _actions(runtime: Runtime, record_id: object) -> list[tuple[str, str]]:
    with runtime.sessions() as session:
        return [(e.action, e.outcome) for e in entries_of(session, record_id)]  # type: ignore[arg-type]


def _status(runtime: Runtime, record_id: object) -> str:
    with runtime.sessions() as session:
        return session.execute(select(Record.status).where(Record.id == record_id)).scalar_one()


# ---------------------------------------------------------------- opening


def test_a_pharmacist_opens_a_record_with_consent_and_the_pharmacy_earns_one_euro(runtime: Runtime) -> None:
    finess = f.add_organisation(runtime)
    pharmacist = f.add_professional(runtime, "10000000021", "21", finess=finess)
    ins, traits = f.person()
    view = f.open_record(runtime, pharmacist, ins, traits)
    assert view.record.status == RecordStatus.ACTIVE and view.record.channel == Channel.PHARMACY
    assert view.record.consent_collected_by == pharmacist.id
    with runtime.sessions() as session:
        entry = session.execute(select(RemunerationEntry)).scalar_one()
    assert (entry.beneficiary, entry.finess, entry.amount_cents, entry.status) == ("pharmacy", finess, 100, "due")
    assert ("record:open", "success") in _actions(runtime, view.record.id)


def test_a_nurse_opening_a_record_earns_one_euro_by_rpps(runtime: Runtime) -> None:
    nurse = f.add_professional(runtime, "10000000060", "60")
    view = f.open_record(runtime, nurse, *f.person())
    assert view.record.channel == Channel.NURSE
    with runtime.sessions() as session:
        entry = session.execute(select(RemunerationEntry)).scalar_one()
    assert (entry.beneficiary, entry.rpps, entry.amount_cents) == ("nurse", nurse.id, 100)


def test_nurses_earn_nothing_before_the_2020_rule_takes_effect(runtime: Runtime, clock: FrozenClock) -> None:
    clock.set(clock.now().replace(year=2019))
    nurse = f.add_professional(runtime, "10000000060", "60")
    f.open_record(runtime, nurse, *f.person())
    with runtime.sessions() as session:
        assert session.execute(select(func.count()).select_from(RemunerationEntry)).scalar_one() == 0


def test_a_pharmacist_without_a_known_pharmacy_leaves_a_held_ledger_entry(runtime: Runtime) -> None:
    pharmacist = f.add_professional(runtime, "10000000021", "21")
    f.open_record(runtime, pharmacist, *f.person())
    with runtime.sessions() as session:
        entry = session.execute(select(RemunerationEntry)).scalar_one()
    assert entry.status == "held" and entry.finess is None


def test_the_professional_who_opens_with_the_patient_present_joins_the_care_team(runtime: Runtime) -> None:
    doctor = f.add_professional(runtime)
    view = f.open_record(runtime, doctor, *f.person())
    with runtime.sessions() as session:
        auth = session.execute(select(Authorisation)).scalar_one()
    assert (auth.record_id, auth.rpps, auth.kind, auth.granted_via) == (
        view.record.id,
        doctor.id,
        "care-team",
        "opening",
    )
    assert ("consent:authorise", "success") in _actions(runtime, view.record.id)


@pytest.mark.parametrize(
    ("opener", "channel"),
    [
        (Actor.professional("10000000002", "10"), Channel.HEALTH_PROFESSIONAL),
        (Actor.professional("10000000021", "21"), Channel.PHARMACY),
        (Actor.professional("10000000060", "60"), Channel.NURSE),
        (Actor.counter_agent("agent-1", "750000099"), Channel.INSURER_COUNTER),
        (Actor.software("lps", "750000002", "10000000002", "10"), Channel.ESTABLISHMENT),
        (Actor.insurer_feed(), Channel.AUTOMATIC),
    ],
)
def test_the_channel_is_derived_from_the_opener(runtime: Runtime, opener: Actor, channel: Channel) -> None:
    assert f.open_record(runtime, opener, *f.person()).record.channel == channel


def test_the_patient_opens_their_own_record_online(runtime: Runtime) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.patient(ins), ins, traits, consent_at=None)
    assert view.record.channel == Channel.PATIENT_ONLINE and view.record.consent_method == "online"


def test_a_channel_that_contradicts_the_opener_is_refused(runtime: Runtime) -> None:
    with pytest.raises(ChannelMismatch):
        f.open_record(runtime, Actor.professional("10000000002", "10"), *f.person(), channel=Channel.PHARMACY)
    with runtime.sessions() as session:
        assert session.execute(select(func.count()).select_from(Record)).scalar_one() == 0


def test_one_record_per_person(runtime: Runtime) -> None:
    ins, traits = f.person()
    f.open_record(runtime, Actor.counter_agent("a"), ins, traits)
    with pytest.raises(RecordAlreadyExists):
        f.open_record(runtime, Actor.counter_agent("b"), ins, traits)


def test_opening_without_consent_is_refused_outside_the_opt_out_policy(runtime: Runtime) -> None:
    with pytest.raises(InvalidConsent):
        f.open_record(runtime, Actor.counter_agent("a"), *f.person(), consent_at=None)


def test_traits_contradicting_the_nir_are_refused_and_nothing_is_written(runtime: Runtime) -> None:
    ins, traits = f.person()
    wrong = StrictTraits(traits.birth_family, traits.given_names, traits.birth_date, traits.gender, "69123")
    with pytest.raises(InvalidInput):
        f.open_record(runtime, Actor.counter_agent("a"), ins, wrong)
    with runtime.sessions() as session:
        assert session.execute(select(func.count()).select_from(JournalEntry)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(Record)).scalar_one() == 0


# ---------------------------------------------------------------- opt-out


def test_under_opt_out_the_insurer_opens_and_the_record_waits_six_weeks(runtime: Runtime, clock: FrozenClock) -> None:
    view = f.open_record(runtime, Actor.insurer_feed(), *f.person(), consent_at=None)
    assert view.record.status == RecordStatus.PENDING_OBJECTION
    assert view.record.objection_deadline == clock.now() + timedelta(weeks=6)
    clock.advance(timedelta(weeks=6) - timedelta(seconds=1))
    run_jobs(runtime.job_context(), clock.now(), ["objection-window"])
    assert _status(runtime, view.record.id) == RecordStatus.PENDING_OBJECTION
    clock.advance(timedelta(seconds=1))
    run_jobs(runtime.job_context(), clock.now(), ["objection-window"])
    assert _status(runtime, view.record.id) == RecordStatus.ACTIVE
    assert ("record:activate", "success") in _actions(runtime, view.record.id)


def test_automatic_opening_needs_the_opt_out_policy(runtime: Runtime) -> None:
    with pytest.raises(ChannelMismatch):
        f.open_record(runtime, Actor.insurer_feed(), *f.person(), policy=OpeningPolicy.OPT_IN)


def test_the_person_may_object_within_the_window_and_the_record_is_then_purged(
    runtime: Runtime, clock: FrozenClock
) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.insurer_feed(), ins, traits)
    with unit_of_work(runtime.sessions) as session:
        assert (
            records.object_to_record(session, Actor.patient(ins), view.record.id, clock.now()).record.status
            == RecordStatus.OBJECTED
        )
    run_jobs(runtime.job_context(), clock.now(), ["purge"])
    assert _status(runtime, view.record.id) == RecordStatus.PURGED
    with runtime.sessions() as session:
        assert session.get(Patient, view.record.id) is None


def test_after_an_objection_only_the_person_reopens_a_record(runtime: Runtime, clock: FrozenClock) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.insurer_feed(), ins, traits)
    with unit_of_work(runtime.sessions) as session:
        records.object_to_record(session, Actor.patient(ins), view.record.id, clock.now())
    run_jobs(runtime.job_context(), clock.now(), ["purge"])
    with pytest.raises(RecordRefused):
        f.open_record(runtime, Actor.insurer_feed(), ins, traits)
    again = f.open_record(runtime, Actor.counter_agent("a"), ins, traits)
    assert again.record.id != view.record.id and again.record.status == RecordStatus.ACTIVE


def test_objecting_after_the_window_is_refused(runtime: Runtime, clock: FrozenClock) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.insurer_feed(), ins, traits)
    clock.advance(timedelta(weeks=7))
    with pytest.raises(ObjectionWindowClosed), unit_of_work(runtime.sessions) as session:
        records.object_to_record(session, Actor.patient(ins), view.record.id, clock.now())


# ---------------------------------------------------------------- closing, reopening, deletion, suspension


def test_the_holder_closes_and_the_archive_is_kept_ten_years(runtime: Runtime, clock: FrozenClock) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.counter_agent("a"), ins, traits)
    with unit_of_work(runtime.sessions) as session:
        closed = records.close_record(session, Actor.patient(ins), view.record.id, clock.now())
    assert closed.record.status == RecordStatus.CLOSED
    assert closed.record.purge_after is not None and closed.record.purge_after.year == clock.now().year + 10
    with pytest.raises(RetentionNotOver), unit_of_work(runtime.sessions) as session:
        records.purge_record(session, OPERATOR, view.record.id, clock.now())
    clock.advance(timedelta(days=3653))
    run_jobs(runtime.job_context(), clock.now(), ["purge"])
    assert _status(runtime, view.record.id) == RecordStatus.PURGED


def test_closing_a_closed_record_is_refused(runtime: Runtime, clock: FrozenClock) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.counter_agent("a"), ins, traits)
    with unit_of_work(runtime.sessions) as session:
        records.close_record(session, Actor.patient(ins), view.record.id, clock.now())
    with pytest.raises(RecordClosed), unit_of_work(runtime.sessions) as session:
        records.close_record(session, Actor.patient(ins), view.record.id, clock.now())


def test_reopening_restores_a_closed_record(runtime: Runtime, clock: FrozenClock) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.counter_agent("a"), ins, traits)
    with unit_of_work(runtime.sessions) as session:
        records.close_record(session, Actor.patient(ins), view.record.id, clock.now())
    with unit_of_work(runtime.sessions) as session:
        reopened = records.reopen_record(session, Actor.patient(ins), view.record.id, clock.now())
    assert reopened.record.status == RecordStatus.ACTIVE and reopened.record.purge_after is None
    assert [a for a, _ in _actions(runtime, view.record.id)][-2:] == ["record:close", "record:reopen"]


def test_a_deletion_request_is_honoured_by_the_next_purge(runtime: Runtime, clock: FrozenClock) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.counter_agent("a"), ins, traits)
    with unit_of_work(runtime.sessions) as session:
        asked = records.request_deletion(session, Actor.patient(ins), view.record.id, clock.now())
    assert asked.record.deletion_due == clock.now() + timedelta(days=90)
    run_jobs(runtime.job_context(), clock.now(), ["purge"])
    assert _status(runtime, view.record.id) == RecordStatus.PURGED
    with runtime.sessions() as session:
        assert session.get(Patient, view.record.id) is None
        assert session.execute(select(TraitsLookup)).first() is None
        # Only the INS stays, pointing at the tombstone, so that no automatic opening follows.
        assert session.execute(select(InsLookup.record_id)).scalar_one() == view.record.id


def test_only_an_operator_suspends_and_lifts_a_suspension(runtime: Runtime, clock: FrozenClock) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.counter_agent("a"), ins, traits)
    with pytest.raises(AccessDenied), unit_of_work(runtime.sessions) as session:
        records.suspend_record(session, Actor.patient(ins), view.record.id, "fraud", clock.now())
    with unit_of_work(runtime.sessions) as session:
        assert (
            records.suspend_record(session, OPERATOR, view.record.id, "fraud", clock.now()).record.status
            == RecordStatus.SUSPENDED
        )
    with pytest.raises(InvalidTransition), unit_of_work(runtime.sessions) as session:
        records.reopen_record(session, Actor.patient(ins), view.record.id, clock.now())
    with unit_of_work(runtime.sessions) as session:
        assert (
            records.reopen_record(session, OPERATOR, view.record.id, clock.now()).record.status == RecordStatus.ACTIVE
        )
    assert ("record:suspend", "denied") in _actions(runtime, view.record.id)


# ---------------------------------------------------------------- minors, death


def test_a_minor_has_at_most_two_legal_representatives(runtime: Runtime, clock: FrozenClock) -> None:
    ins, traits = f.minor(clock.now().date())
    parents = [records.RepresentativeIn(f.person(born=date(1980, 1, 1))[0], "MARTIN", "JEAN") for _ in range(3)]
    view = f.open_record(runtime, Actor.counter_agent("a"), ins, traits, representatives=tuple(parents[:1]))
    with unit_of_work(runtime.sessions) as session:
        records.add_representative(session, Actor.patient(parents[0].ins), view.record.id, parents[1], clock.now())
    with pytest.raises(TooManyRepresentatives), unit_of_work(runtime.sessions) as session:
        records.add_representative(session, OPERATOR, view.record.id, parents[2], clock.now())


def test_at_eighteen_the_holder_alone_exercises_the_rights(runtime: Runtime, clock: FrozenClock) -> None:
    ins, traits = f.person(born=date(2009, 3, 1))
    parent = records.RepresentativeIn(f.person(born=date(1980, 1, 1))[0], "MARTIN", "JEAN")
    view = f.open_record(runtime, Actor.counter_agent("a"), ins, traits, representatives=(parent,))
    with unit_of_work(runtime.sessions) as session:
        assert records.get_record(session, Actor.patient(parent.ins), view.record.id, clock.now())
    clock.set(clock.now().replace(year=2027, month=3, day=1))
    run_jobs(runtime.job_context(), clock.now(), ["majority"])
    with pytest.raises(HiddenFromActor), unit_of_work(runtime.sessions) as session:
        records.get_record(session, Actor.patient(parent.ins), view.record.id, clock.now())


def test_a_death_closes_the_record_and_heirs_requests_are_recorded(runtime: Runtime, clock: FrozenClock) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.counter_agent("a"), ins, traits)
    with pytest.raises(InvalidTransition), unit_of_work(runtime.sessions) as session:
        records.record_heir_request(session, OPERATOR, view.record.id, "Jean Martin", "son", "", clock.now())
    with unit_of_work(runtime.sessions) as session:
        dead = records.declare_death(session, OPERATOR, view.record.id, clock.now().date(), clock.now())
    assert dead.record.status == RecordStatus.CLOSED and dead.record.close_reason == "death"
    with unit_of_work(runtime.sessions) as session:
        records.record_heir_request(
            session, OPERATOR, view.record.id, "Jean Martin", "son", "medical history", clock.now()
        )
    with pytest.raises(InvalidTransition), unit_of_work(runtime.sessions) as session:
        records.reopen_record(session, OPERATOR, view.record.id, clock.now())


# ---------------------------------------------------------------- identity


def test_a_nir_replacing_an_nia_keeps_the_old_identifier_resolvable(runtime: Runtime, clock: FrozenClock) -> None:
    nia, traits = f.person(system=InsSystem.NIA, order=500)
    view = f.open_record(runtime, Actor.counter_agent("a"), nia, traits)
    nir = Ins(InsSystem.NIR, nia.value)
    with unit_of_work(runtime.sessions) as session:
        records.update_identity(session, OPERATOR, view.record.id, records.IdentityChange(new_ins=nir), clock.now())
    with unit_of_work(runtime.sessions) as session:
        for ins in (nia, nir):
            found = records.find_by_ins(session, Actor.counter_agent("b"), ins, clock.now())
            assert found is not None and found.record.id == view.record.id
    assert ("identity:update", "success") in _actions(runtime, view.record.id)


def test_two_records_of_one_person_merge_with_nothing_lost(runtime: Runtime, clock: FrozenClock) -> None:
    nia, traits = f.person(system=InsSystem.NIA, order=600)
    nir = Ins(InsSystem.NIR, nia.value)
    doctor = f.add_professional(runtime)
    duplicate = f.open_record(runtime, doctor, nia, traits)
    survivor = f.open_record(runtime, Actor.counter_agent("a"), nir, traits)
    with unit_of_work(runtime.sessions) as session:
        records.merge_records(session, OPERATOR, survivor.record.id, duplicate.record.id, clock.now(), runtime.vault)
    with runtime.sessions() as session:
        assert session.execute(select(Authorisation.record_id)).scalar_one() == survivor.record.id
    with unit_of_work(runtime.sessions) as session:
        found = records.find_by_ins(session, doctor, nia, clock.now())
        assert found is not None and found.record.id == survivor.record.id
        with pytest.raises(RecordNotFound):
            records.get_record(session, doctor, duplicate.record.id, clock.now())
    assert _status(runtime, duplicate.record.id) == RecordStatus.MERGED
    assert ("identity:merge", "success") in _actions(runtime, duplicate.record.id)
    assert ("identity:merge", "success") in _actions(runtime, survivor.record.id)


# ---------------------------------------------------------------- lookups and the journal


def test_a_professional_lookup_by_ins_is_journaled_in_the_records_chain(runtime: Runtime, clock: FrozenClock) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.counter_agent("a"), ins, traits)
    doctor = Actor.professional("10000000002", "10")
    with unit_of_work(runtime.sessions) as session:
        assert records.find_by_ins(session, doctor, ins, clock.now()) is not None
    with runtime.sessions() as session:
        last = entries_of(session, view.record.id)[-1]
    assert (last.action, last.actor_kind, last.actor_id) == ("record:lookup", "professional", doctor.id)


def test_someone_elses_record_is_hidden_and_the_refusal_journaled(runtime: Runtime, clock: FrozenClock) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.counter_agent("a"), ins, traits)
    stranger = Actor.patient(f.person(born=date(1990, 1, 1))[0])
    with pytest.raises(HiddenFromActor), unit_of_work(runtime.sessions) as session:
        records.get_record(session, stranger, view.record.id, clock.now())
    assert ("record:lookup", "denied") in _actions(runtime, view.record.id)


def test_the_journal_of_every_transition_verifies(runtime: Runtime, clock: FrozenClock) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, f.add_professional(runtime), ins, traits)
    with unit_of_work(runtime.sessions) as session:
        records.close_record(session, Actor.patient(ins), view.record.id, clock.now())
    with unit_of_work(runtime.sessions) as session:
        records.reopen_record(session, Actor.patient(ins), view.record.id, clock.now())
    with runtime.sessions() as session:
        assert list(verify_all(session)) == []
