"""The dashboard's figures come from aggregates maintained with each event (weekly counters,
activations, first documents, openers, feeders, weekly users), agree with a recount of the
tables, are rebuilt alike by the backfill, and are for operators only. Both databases."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from opendmp.auth.account_models import SessionStage
from opendmp.auth.sessions import SessionPolicy, start
from opendmp.identity.actor import Actor
from opendmp.jobs import JobContext, run_jobs
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import AccessDenied
from opendmp.runtime import Runtime
from opendmp.stats import counters
from opendmp.stats.dashboard import dashboard_figures
from opendmp.stats.models import (
    ActivationCount,
    DocumentTypeCount,
    DocumentWeekCount,
    Feeder,
    FilledCount,
    Opener,
    OpeningRegionCount,
    OpeningWeekCount,
    WeekActiveCount,
    WeekUser,
)
from tests import factories as f
from tests.integration.test_patient_login import a_record, activate, auth_secrets
from tests.integration.test_stats import _openers, _submit

OPERATOR = Actor.operator("ops-1")
TARGET = 1000


def figures(runtime: Runtime, actor: Actor = OPERATOR) -> dict[str, Any]:
    with unit_of_work(runtime.sessions) as session:
        return dashboard_figures(session, actor, runtime.clock.now(), target=TARGET)


def test_weekly_counters_match_the_daily_ones_and_give_channels_regions_and_the_cumulative(
    runtime: Runtime, clock: FrozenClock
) -> None:
    openers = _openers(runtime)
    for n, actor in enumerate(openers.values()):
        f.open_record(runtime, actor, *f.person(order=100 + n), residence_department="69")
    clock.advance(timedelta(weeks=1))
    ins, traits = f.person(order=200)
    f.open_record(runtime, Actor.patient(ins), ins, traits, residence_department="2A")
    shown = figures(runtime)
    assert shown["recordsOpened"] == 7 and shown["thisWeek"]["opened"] == 1
    assert shown["openedByChannel"]["pharmacy"] == 1 and shown["openedByChannel"]["patient-online"] == 1
    assert [(r["code"], r["opened"]) for r in shown["regions"]] == [("84", 6), ("94", 1)]
    assert [w["opened"] for w in shown["weekly"]] == [6, 1]
    assert [w["cumulative"] for w in shown["weekly"]] == [6, 7]
    with runtime.sessions() as session:
        daily = counters.openings(session)
        weekly: Counter[tuple[date, str]] = Counter()
        for row in session.execute(select(OpeningWeekCount)).scalars():
            weekly[(row.week, row.channel)] += row.count
    by_week: Counter[tuple[date, str]] = Counter()
    for key, n in daily.items():
        by_week[(counters.week_of(key.day), key.channel)] += n
    assert weekly == by_week


def test_pharmacies_and_nurses_that_opened_a_record_are_counted_once_each(runtime: Runtime) -> None:
    openers = _openers(runtime)
    from opendmp.record.models import Channel

    for n in range(3):
        f.open_record(runtime, openers[Channel.PHARMACY], *f.person(order=10 + n))
    f.open_record(runtime, openers[Channel.NURSE], *f.person(order=20))
    f.open_record(runtime, openers[Channel.INSURER_COUNTER], *f.person(order=21))
    assert figures(runtime)["openers"] == {"pharmacies": 1, "nurses": 1}


def test_an_establishments_software_filing_counts_it_as_feeding_and_university_hospitals_apart(
    runtime: Runtime,
) -> None:
    chu = f.add_organisation(runtime, "690000003", "university-hospital", "69", name="CHU de Lyon")
    clinic = f.add_organisation(runtime, "750000009", "clinic", name="Clinique")
    view = f.open_record(runtime, Actor.counter_agent("agent-1"), *f.person(order=3))
    _submit(runtime, Actor.software("lps-1", chu, "10000000004", "10"), view.record.id)
    _submit(runtime, Actor.software("lps-1", chu, "10000000004", "10"), view.record.id)
    _submit(runtime, Actor.software("lps-2", clinic, "10000000005", "10"), view.record.id)
    _submit(runtime, f.add_professional(runtime, "10000000002", "10"), view.record.id)
    shown = figures(runtime)
    assert shown["feedingEstablishments"] == {"establishments": 2, "universityHospitals": 1}
    assert shown["documents"]["added"] == 4
    assert shown["documents"]["bySource"]["establishment"] == 3 and shown["documents"]["bySource"]["liberal"] == 1
    assert shown["documents"]["byType"] == [
        {"typeCode": "11488-4", "classCode": "10", "label": shown["documents"]["byType"][0]["label"], "added": 4}
    ]


def test_a_record_without_a_document_30_days_after_its_opening_week_counts_as_still_empty(
    runtime: Runtime, clock: FrozenClock
) -> None:
    doctor = f.add_professional(runtime, "10000000002", "10")
    agent = Actor.counter_agent("agent-1")
    empty = f.open_record(runtime, agent, *f.person(order=1))
    filled = f.open_record(runtime, agent, *f.person(order=2))
    filled_late = f.open_record(runtime, agent, *f.person(order=3))
    _submit(runtime, doctor, filled.record.id)
    _submit(runtime, doctor, filled.record.id)  # a second document changes nothing
    clock.advance(timedelta(days=31))
    assert figures(runtime)["emptyAfter30Days"]["opened"] == 0  # their week ended less than 30 days ago
    clock.advance(timedelta(days=7))
    f.open_record(runtime, agent, *f.person(order=4))  # too recent to be counted empty
    _submit(runtime, doctor, filled_late.record.id)  # filled after 30 days: no longer empty
    shown = figures(runtime)["emptyAfter30Days"]
    assert (shown["opened"], shown["empty"], shown["share"]) == (3, 1, round(1 / 3, 4))
    assert empty.record.id not in (filled.record.id, filled_late.record.id)


def test_the_activation_rate_counts_each_holders_first_activation(runtime: Runtime) -> None:
    secrets = auth_secrets(runtime)
    ins, record_id = a_record(runtime, order=1)
    a_record(runtime, order=2)
    activate(runtime, record_id, ins, secrets)
    shown = figures(runtime)["activation"]
    assert shown == {"activated": 1, "rate": 0.5}


def test_weekly_active_users_count_each_user_once_a_week_by_a_keyed_hash(runtime: Runtime, clock: FrozenClock) -> None:
    key = auth_secrets(runtime).pepper
    policy = SessionPolicy.from_settings(runtime.settings)
    doctor, other = Actor.professional("10000000002", "10"), Actor.professional("10000000003", "10")

    def sign_in(actor: Actor) -> None:
        with unit_of_work(runtime.sessions) as session:
            start(
                session,
                actor,
                SessionStage.AUTHENTICATED,
                clock.now(),
                policy,
                auth_secrets(runtime).random,
                activity_key=key,
            )

    sign_in(doctor)
    sign_in(doctor)
    sign_in(other)
    clock.advance(timedelta(weeks=1))
    sign_in(doctor)
    assert [w["users"] for w in figures(runtime)["weeklyActiveUsers"]] == [2, 1]
    with runtime.sessions() as session:
        hashes = session.execute(select(WeekUser.user_hash)).scalars().all()
    assert len(set(hashes)) == 3 and not any("10000000002" in h for h in hashes)


def test_the_projection_reaches_the_target_at_the_pace_of_the_last_four_weeks(
    runtime: Runtime, clock: FrozenClock
) -> None:
    agent = Actor.counter_agent("agent-1")
    for week in range(4):
        for n in range(5):
            f.open_record(runtime, agent, *f.person(order=10 * week + n))
        clock.advance(timedelta(weeks=1))
    shown = figures(runtime)
    assert shown["recordsOpened"] == 20 and shown["projection"]["pacePerWeek"] == 5
    # 980 records left at 5 a week: 196 weeks from today.
    assert shown["projection"]["reachedOn"] == (clock.now().date() + timedelta(days=196 * 7)).isoformat()


def test_the_backfill_rebuilds_the_dashboards_aggregates_as_they_were_maintained(runtime: Runtime) -> None:
    openers = _openers(runtime)
    views = [f.open_record(runtime, actor, *f.person(order=100 + n)) for n, actor in enumerate(openers.values())]
    from opendmp.record.models import Channel

    _submit(runtime, openers[Channel.ESTABLISHMENT], views[0].record.id)
    secrets = auth_secrets(runtime)
    ins, record_id = a_record(runtime, order=300)
    activate(runtime, record_id, ins, secrets)
    before = figures(runtime)
    with unit_of_work(runtime.sessions) as session:
        for model in (OpeningWeekCount, OpeningRegionCount, DocumentWeekCount, DocumentTypeCount, Opener, Feeder):
            session.execute(delete(model))
        for model in (FilledCount, ActivationCount):
            session.execute(delete(model))
    assert figures(runtime)["recordsOpened"] == 0
    [result] = run_jobs(JobContext(runtime.sessions, runtime.vault), runtime.clock.now(), ["stats-backfill"])
    assert result.failed == 0
    assert figures(runtime) == before


def test_only_operators_read_the_dashboards_figures(runtime: Runtime) -> None:
    with pytest.raises(AccessDenied):
        figures(runtime, Actor.professional("10000000002", "10"))
    with pytest.raises(AccessDenied):
        figures(runtime, Actor.counter_agent("agent-1"))


def test_the_new_aggregates_hold_no_patient_identifier() -> None:
    for model in (OpeningWeekCount, DocumentWeekCount, ActivationCount, FilledCount, WeekUser, WeekActiveCount):
        names = {column.name for column in model.__table__.columns}  # type: ignore[attr-defined]
        assert not names & {"record_id", "ins_value", "ins_system", "rpps", "finess", "opened_by", "user_id"}


def test_cached_figures_are_shared_for_their_lifetime_and_the_policy_still_answers_each_time(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opendmp.stats import dashboard

    moments = iter([100.0, 105.0, 111.0])
    monkeypatch.setattr(dashboard.time, "monotonic", lambda: next(moments))
    cache = dashboard.FiguresCache(ttl=10)
    agent = Actor.counter_agent("agent-1")

    def read(actor: Actor = OPERATOR) -> dict[str, Any]:
        with unit_of_work(runtime.sessions) as session:
            return dashboard.cached_figures(session, actor, runtime.clock.now(), target=TARGET, cache=cache)

    f.open_record(runtime, agent, *f.person(order=1))
    assert read()["recordsOpened"] == 1  # t=100: computed
    f.open_record(runtime, agent, *f.person(order=2))
    assert read()["recordsOpened"] == 1  # t=105: the same figures
    with pytest.raises(AccessDenied):
        read(Actor.professional("10000000002", "10"))  # refused before the cache is asked
    assert read()["recordsOpened"] == 2  # t=111: recomputed
