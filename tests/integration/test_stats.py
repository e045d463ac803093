"""The statistics counters move with each opening and document in the event's transaction, the
bulk seeder keeps them, the backfill rebuilds them, and they hold no health data."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from opendmp.document import service as documents
from opendmp.fhir.document import parse_document_reference
from opendmp.identity.actor import Actor
from opendmp.jobs import JobContext, run_jobs
from opendmp.kit.db import unit_of_work
from opendmp.record.models import Channel, Record
from opendmp.runtime import Runtime
from opendmp.seed import seed_platform
from opendmp.stats import counters
from opendmp.stats.models import DocumentCount, OpeningCount
from tests import factories as f
from tests.fhir.test_document_api import PDF, document_reference


def _openings(runtime: Runtime) -> Counter[counters.OpeningKey]:
    with runtime.sessions() as session:
        return counters.openings(session)


def _by_channel(runtime: Runtime) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for key, count in _openings(runtime).items():
        totals[key.channel] += count
    return dict(totals)


def _openers(runtime: Runtime) -> dict[Channel, Actor]:
    pharmacy = f.add_organisation(runtime, "750000001", "pharmacy")
    office = f.add_organisation(runtime, "750000002", "insurer-office", name="CPAM de Paris")
    hospital = f.add_organisation(runtime, "690000003", "university-hospital", "69", name="CHU de Lyon")
    return {
        Channel.PHARMACY: f.add_professional(runtime, "10000000021", "21", finess=pharmacy),
        Channel.NURSE: f.add_professional(runtime, "10000000060", "60"),
        Channel.HEALTH_PROFESSIONAL: f.add_professional(runtime, "10000000010", "10"),
        Channel.INSURER_COUNTER: Actor.counter_agent("agent-1", office),
        Channel.ESTABLISHMENT: Actor.software("lps-1", hospital, "10000000011", "10"),
        Channel.AUTOMATIC: Actor.insurer_feed(),
    }


def test_each_opening_counts_once_by_channel_region_department_and_organisation_kind(runtime: Runtime) -> None:
    openers = _openers(runtime)
    for n, actor in enumerate(openers.values()):
        f.open_record(runtime, actor, *f.person(order=100 + n), residence_department="69")
    ins, traits = f.person(order=200)
    f.open_record(runtime, Actor.patient(ins), ins, traits, residence_department="2A")
    by_channel = _by_channel(runtime)
    assert by_channel == {channel.value: 1 for channel in [*openers, Channel.PATIENT_ONLINE]}
    day = runtime.clock.now().date()
    keys = set(_openings(runtime))
    assert counters.OpeningKey(day, "pharmacy", "84", "69", "pharmacy") in keys
    assert counters.OpeningKey(day, "establishment", "84", "69", "university-hospital") in keys
    assert counters.OpeningKey(day, "insurer-counter", "84", "69", "insurer-office") in keys
    assert counters.OpeningKey(day, "health-professional", "84", "69", "") in keys
    assert counters.OpeningKey(day, "patient-online", "94", "2A", "") in keys
    maintained = _openings(runtime)
    with runtime.sessions() as session:
        assert counters.recount_openings(session) == maintained


def test_a_failed_opening_leaves_the_counters_as_they_were(runtime: Runtime) -> None:
    counter = Actor.counter_agent("agent-1")
    f.open_record(runtime, counter, *f.person(order=1))
    before = _openings(runtime)
    with pytest.raises(RuntimeError), unit_of_work(runtime.sessions) as session:
        from opendmp.config import OpeningPolicy
        from opendmp.record import service as records

        now = runtime.clock.now()
        records.open_record(session, counter, f.opening(*f.person(order=2), now), now, policy=OpeningPolicy.OPT_OUT)
        assert sum(counters.openings(session).values()) == 2  # moved inside the transaction
        raise RuntimeError("the edge fails after the opening")
    assert _openings(runtime) == before


def _submit(runtime: Runtime, actor: Actor, record_id: Any, *, fail: bool = False) -> None:
    f.authorise(runtime, record_id, actor)
    item = parse_document_reference(document_reference(record_id, PDF))
    with unit_of_work(runtime.sessions) as session:
        documents.submit_document(session, actor, item, PDF, runtime.clock.now(), runtime.vault, max_size=10_000_000)
        if fail:
            raise RuntimeError("rolled back")


def _documents(runtime: Runtime) -> Counter[counters.DocumentKey]:
    with runtime.sessions() as session:
        return counters.documents(session)


def test_documents_count_by_source_class_and_type_and_roll_back_with_their_transaction(runtime: Runtime) -> None:
    centre = f.add_organisation(runtime, "750000004", "health-centre", name="Centre de santé")
    hospital = f.add_organisation(runtime, "750000005", "hospital", name="Hôpital")
    liberal = f.add_professional(runtime, "10000000002", "10")
    salaried = f.add_professional(runtime, "10000000003", "10", finess=centre)
    view = f.open_record(runtime, Actor.counter_agent("agent-1"), *f.person(order=3))
    _submit(runtime, liberal, view.record.id)
    _submit(runtime, salaried, view.record.id)
    _submit(runtime, Actor.software("lps-1", hospital, "10000000004", "10"), view.record.id)
    with pytest.raises(RuntimeError):
        _submit(runtime, liberal, view.record.id, fail=True)
    added = _documents(runtime)
    with runtime.sessions() as session:
        assert counters.recount_documents(session) == added
    by_source = Counter[str]()
    for key, count in added.items():
        by_source[key.source] += count
    assert by_source == {"liberal": 1, "health-centre": 1, "establishment": 1}
    assert {key.type_code for key in added} == {"11488-4"} and {key.class_code for key in added} == {"10"}


def test_the_bulk_seeder_keeps_the_counters_equal_to_a_recount(runtime: Runtime) -> None:
    seed_platform(runtime, patients=300, seed=5, batch=120)  # batches over 100: the COPY path
    with runtime.sessions() as session:
        maintained, recounted = counters.openings(session), counters.recount_openings(session)
        total = session.execute(select(func.count()).select_from(Record)).scalar_one()
    assert sum(maintained.values()) == total == 300
    assert maintained == recounted
    assert {key.organisation_kind for key in maintained} >= {"pharmacy", "insurer-office"}


def test_the_backfill_rebuilds_the_same_counts_and_is_idempotent(runtime: Runtime) -> None:
    seed_platform(runtime, patients=150, seed=9, batch=60)
    view = f.open_record(runtime, Actor.counter_agent("agent-1"), *f.person(order=4))
    _submit(runtime, f.add_professional(runtime, "10000000002", "10"), view.record.id)
    opened, added = _openings(runtime), _documents(runtime)
    with unit_of_work(runtime.sessions) as session:  # a store from before the counters
        session.execute(delete(OpeningCount))
        session.execute(delete(DocumentCount))
    context = JobContext(runtime.sessions, runtime.vault)
    for _ in range(2):
        [result] = run_jobs(context, runtime.clock.now(), ["stats-backfill"])
        assert (result.done, result.failed) == (151 + 1, 0)
        assert _openings(runtime) == opened and _documents(runtime) == added


def test_the_backfill_runs_only_when_named() -> None:
    from opendmp.jobs import JOBS

    assert JOBS["stats-backfill"].on_demand


def test_counters_hold_no_identifier() -> None:
    for model in (OpeningCount, DocumentCount):
        names = {column.name for column in model.__table__.columns}
        assert not names & {"record_id", "ins_value", "ins_system", "rpps", "finess", "opened_by"}
