"""The bulk seeder writes exactly what `open_record` writes, and is deterministic."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from opendmp.config import OpeningPolicy
from opendmp.consent.models import Authorisation
from opendmp.identity.ins import Ins, InsSystem
from opendmp.identity.models import InsLookup, Patient, TraitsLookup
from opendmp.journal.models import JournalEntry, JournalHead
from opendmp.journal.verify import verify_all
from opendmp.kit.db import unit_of_work
from opendmp.record import service as records
from opendmp.record.models import Record
from opendmp.runtime import Runtime
from opendmp.seed import seed_platform
from opendmp.stats import ledger
from opendmp.stats.models import RemunerationEntry
from tests import factories as f

# Ids, hashes and the record they belong to differ by nature; everything else must be equal.
VOLATILE = {"id", "record_id", "hash", "payload_hash", "prev_hash", "chain", "target_id", "rule_id"}
PER_RECORD = (Record, Patient, InsLookup, TraitsLookup, Authorisation, RemunerationEntry, JournalEntry, JournalHead)


def _rows_of(runtime: Runtime, model: Any, record_id: Any) -> list[dict[str, Any]]:
    with runtime.sessions() as session:
        if model in (JournalEntry, JournalHead):
            where = model.chain == record_id.hex
        elif model is Record:
            where = Record.id == record_id
        else:
            where = model.record_id == record_id
        rows = session.execute(select(model).where(where)).scalars().all()
        return sorted(
            ({c.key: getattr(r, c.key) for c in model.__table__.columns if c.key not in VOLATILE} for r in rows),
            key=repr,
        )


def test_the_bulk_path_writes_the_same_rows_as_open_record(runtime: Runtime) -> None:
    finess = f.add_organisation(runtime)
    pharmacist = f.add_professional(runtime, "10000000021", "21", finess=finess)
    now = runtime.clock.now()
    # Same person twice, under two identifier systems, so that the rows are comparable.
    ins, traits = f.person(order=11)
    twin = Ins(InsSystem.NIA, ins.value)
    via_service = f.open_record(runtime, pharmacist, ins, traits)
    with runtime.sessions() as session:
        rules = ledger.load_rules(session)
    plan = records.plan_opening(
        pharmacist, f.opening(twin, traits, now), now, policy=OpeningPolicy.OPT_OUT, rules=rules, pharmacy_known=True
    )
    # 99 other people alongside, so that write_plans takes its bulk path (COPY on PostgreSQL,
    # executemany on SQLite), the seeder's.
    others = [
        records.plan_opening(
            pharmacist,
            f.opening(*f.person(order=200 + n, born=date(1960 + n % 40, 1, 2)), now),
            now,
            policy=OpeningPolicy.OPT_OUT,
            rules=rules,
            pharmacy_known=True,
        )
        for n in range(99)
    ]
    with unit_of_work(runtime.sessions) as session:
        records.write_plans(session, [plan, *others])
    bulk_id = plan.record["id"]
    for model in PER_RECORD:
        service_rows = _rows_of(runtime, model, via_service.record.id)
        bulk_rows = _rows_of(runtime, model, bulk_id)
        for row in service_rows + bulk_rows:
            row.pop("ins_system", None)
        assert service_rows, model
        assert service_rows == bulk_rows, model
    with runtime.sessions() as session:
        assert list(verify_all(session)) == []


def test_seeding_is_deterministic_and_leaves_a_verifiable_journal(runtime: Runtime, tmp_path: Any) -> None:
    report = seed_platform(runtime, patients=300, seed=7, batch=100)
    assert report.records == 300
    with runtime.sessions() as session:
        first = session.execute(select(Patient.ins_value).order_by(Patient.ins_value)).scalars().all()
        channels = dict(session.execute(select(Record.channel, func.count()).group_by(Record.channel)).all())
        assert list(verify_all(session)) == []
    assert len(set(first)) == 300
    assert channels["pharmacy"] > channels["health-professional"]
    assert set(channels) <= {
        "pharmacy",
        "patient-online",
        "insurer-counter",
        "health-professional",
        "nurse",
        "establishment",
    }
    # Same seed, fresh store: same people.
    from opendmp import migrate
    from opendmp.runtime import build_runtime

    other_url = f"sqlite:///{tmp_path}/other.sqlite3"
    migrate.upgrade(other_url)
    other = build_runtime(runtime.settings.model_copy(update={"database_url": other_url}), runtime.clock)
    try:
        seed_platform(other, patients=300, seed=7, batch=100)
        with other.sessions() as session:
            assert session.execute(select(Patient.ins_value).order_by(Patient.ins_value)).scalars().all() == first
    finally:
        other.close()


def test_seeded_openings_happen_over_weeks(runtime: Runtime) -> None:
    seed_platform(runtime, patients=200, seed=3, batch=50)
    with runtime.sessions() as session:
        first, last = session.execute(select(func.min(Record.opened_at), func.max(Record.opened_at))).one()
    assert last - first > timedelta(weeks=20)
