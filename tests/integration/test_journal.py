"""The tamper-evident journal, on SQLite and PostgreSQL: any altered, deleted, reordered or
truncated entry is named by chain and position; checkpoints are signed and checked; retention
drops old payloads and every chain still verifies; the application role cannot rewrite it.

Tampering goes through the admin connection, as an attacker with the admin role would."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.exc import ProgrammingError

from opendmp.config import Environment, Settings
from opendmp.identity.actor import Actor
from opendmp.jobs import run_jobs
from opendmp.journal import repository as repo
from opendmp.journal import service as journal
from opendmp.journal.checkpoint import CheckpointTicker, digest_of, key_id, take_checkpoint, trusted_keys
from opendmp.journal.models import GENESIS_HASH, JournalCheckpoint, JournalEntry, JournalHead
from opendmp.journal.retention import redact_expired, retention_cutoff
from opendmp.journal.verify import ChainBreak, Verification
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.record import service as records
from opendmp.runtime import Runtime, build_runtime
from tests import factories as f
from tests.conftest import _reset_postgres

DOCTOR_RPPS = "10000000002"
PAYLOAD_COLUMNS = ("actor_kind", "actor_id", "action", "target_type", "outcome", "reason", "source_address")


@pytest.fixture
def admin_url(database_url: str, request: pytest.FixtureRequest) -> str:
    if database_url.startswith("sqlite"):
        return database_url
    admin, _ = request.getfixturevalue("postgres_database")
    return str(admin)


@pytest.fixture
def admin(admin_url: str) -> Iterator[Engine]:
    engine = create_engine(admin_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_runtime(tmp_path: Path, clock: FrozenClock, postgres_database: tuple[str, str]) -> Iterator[Runtime]:
    """A runtime on PostgreSQL only, connected as the application role (for rules about roles)."""
    admin, app = postgres_database
    _reset_postgres(admin)
    settings = Settings(env=Environment.TEST, dev_mode=True, data_dir=tmp_path / "data", database_url=app)
    runtime = build_runtime(settings, clock, pool_size=2)
    yield runtime
    runtime.close()


def problems(runtime: Runtime, **kw: Any) -> list[ChainBreak]:
    verification = Verification(keys=trusted_keys(runtime.keys.journal_signing_key), **kw)
    with repo.snapshot(runtime.engine) as connection:
        return list(verification.run(connection))


def checkpoint(runtime: Runtime) -> int:
    return take_checkpoint(runtime.sessions, runtime.keys.journal_signing_key, runtime.clock.now()).seq


def a_record(runtime: Runtime, lookups: int = 3) -> str:
    """A record whose chain has a few entries: opened, then looked up by a doctor."""
    ins, traits = f.person()
    record_id = f.open_record(runtime, Actor.counter_agent("agent-1", "750000001"), ins, traits).record.id
    doctor = Actor.professional(DOCTOR_RPPS, "10").at("192.0.2.10")
    for _ in range(lookups):
        runtime.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
        with unit_of_work(runtime.sessions) as session:
            records.get_record(session, doctor, record_id, runtime.clock.now())
    return record_id.hex


def chain_length(runtime: Runtime, chain: str) -> int:
    with runtime.sessions() as session:
        return int(session.execute(select(func.max(JournalEntry.seq)).where(JournalEntry.chain == chain)).scalar_one())


def run(admin: Engine, sql: str, **params: Any) -> None:
    with admin.begin() as connection:
        connection.execute(text(sql), params)


# ---------------------------------------------------------------- an intact journal


def test_an_intact_journal_with_checkpoints_verifies(runtime: Runtime) -> None:
    chains = [a_record(runtime) for _ in range(3)]
    checkpoint(runtime)
    a_record(runtime)
    checkpoint(runtime)
    with unit_of_work(runtime.sessions) as session:  # after the last checkpoint: covered by its chain
        records.get_record(session, Actor.professional(DOCTOR_RPPS, "10"), uuid.UUID(chains[0]), runtime.clock.now())
    verification = Verification(keys=trusted_keys(runtime.keys.journal_signing_key))
    with repo.snapshot(runtime.engine) as connection:
        assert list(verification.run(connection)) == []
    assert (verification.chains, verification.checkpoints, verification.sealed_chains) == (4, 2, 4)
    with runtime.sessions() as session:
        assert verification.entries == session.execute(select(func.count()).select_from(JournalEntry)).scalar_one()


def test_each_checkpoint_lists_only_the_heads_that_moved_and_chains_to_the_previous(runtime: Runtime) -> None:
    first, second = a_record(runtime), a_record(runtime)
    one = take_checkpoint(runtime.sessions, runtime.keys.journal_signing_key, runtime.clock.now())
    with unit_of_work(runtime.sessions) as session:
        records.get_record(session, Actor.professional(DOCTOR_RPPS, "10"), uuid.UUID(second), runtime.clock.now())
    two = take_checkpoint(runtime.sessions, runtime.keys.journal_signing_key, runtime.clock.now())
    three = take_checkpoint(runtime.sessions, runtime.keys.journal_signing_key, runtime.clock.now())
    assert (one.changed, two.changed, three.changed) == (2, 1, 0)
    assert one.chains == two.chains == three.chains == 2
    with runtime.sessions() as session:
        rows = session.execute(select(JournalCheckpoint).order_by(JournalCheckpoint.seq)).scalars().all()
        head = session.get(JournalHead, second)
    assert [r.prev_digest for r in rows] == [GENESIS_HASH, one.digest, two.digest]
    assert head is not None and head.checkpointed_seq == head.seq
    expected = digest_of(2, journal.iso(two.at), 2, one.digest, [(second, head.seq, head.hash)])
    assert rows[1].digest == expected
    assert rows[1].key_id == key_id(runtime.keys.journal_signing_key.public_key())
    assert first != second


def test_a_head_that_moved_while_sealing_is_sealed_by_the_next_checkpoint(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = a_record(runtime)
    with runtime.sessions() as session:  # the head as a checkpoint read it, just before the last append
        earlier = session.execute(
            select(JournalEntry.seq, JournalEntry.hash).where(
                JournalEntry.chain == chain, JournalEntry.seq == chain_length(runtime, chain) - 1
            )
        ).one()
    real = repo.unsealed_heads
    monkeypatch.setattr(repo, "unsealed_heads", lambda session: [(chain, earlier[0], earlier[1], 0)])
    checkpoint(runtime)
    monkeypatch.setattr(repo, "unsealed_heads", real)
    with runtime.sessions() as session:
        head = session.get(JournalHead, chain)
        assert head is not None and head.checkpointed_seq == earlier[0] < head.seq  # it had moved on
        assert [h[1] for h in repo.unsealed_heads(session)] == [head.seq]
    assert take_checkpoint(runtime.sessions, runtime.keys.journal_signing_key, runtime.clock.now()).changed == 1
    assert problems(runtime) == []


def test_entries_of_the_foundation_form_still_verify(runtime: Runtime, admin: Engine) -> None:
    """Entries written before revision 0005 have one hash over every field and no payload_hash."""
    fields: dict[str, Any] = {
        "chain": "system",
        "seq": 1,
        "at": runtime.clock.now(),
        "actor_kind": "system",
        "actor_id": "seed",
        "actor_organisation": None,
        "action": "directory:seed",
        "target_type": "directory",
        "target_id": None,
        "outcome": "success",
        "reason": "organisations=1",
        "source_address": None,
        "prev_hash": GENESIS_HASH,
    }
    digest = journal.legacy_hash(fields)
    with admin.begin() as connection:
        connection.execute(JournalEntry.__table__.insert(), [{**fields, "id": uuid.uuid4(), "hash": digest}])
        connection.execute(JournalHead.__table__.insert(), [{"chain": "system", "seq": 1, "hash": digest}])
    with unit_of_work(runtime.sessions) as session:  # the next entry is of the current form
        journal.append(
            session, Actor.system("job:test"), journal.Event("a:b", "t", None), record_id=None, at=fields["at"]
        )
    assert problems(runtime) == []
    run(admin, "UPDATE journal_entry SET reason = 'organisations=2' WHERE chain = 'system' AND seq = 1")
    assert [(p.chain, p.seq) for p in problems(runtime)] == [("system", 1)]


# ---------------------------------------------------------------- tampering with entries

TAMPERED = st.sampled_from([*PAYLOAD_COLUMNS, "at", "prev_hash", "hash", "payload_hash"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(column=TAMPERED, position=st.integers(min_value=1, max_value=4))
def test_altered_entry_is_named_by_chain_and_position(
    runtime: Runtime, admin: Engine, column: str, position: int
) -> None:
    chain = a_record(runtime, lookups=3)
    where = {"chain": chain, "seq": position}
    with admin.connect() as connection:
        before = connection.execute(
            text(f"SELECT {column} FROM journal_entry WHERE chain = :chain AND seq = :seq"),
            where,
        ).scalar_one()
    changed: Any
    if column == "at" and isinstance(before, str):  # SQLite's text
        changed = before[:-1] + ("7" if before[-1] != "7" else "8")
    elif column == "at":
        changed = before + timedelta(microseconds=1)
    elif column in ("hash", "prev_hash", "payload_hash"):
        changed = ("1" if before[0] != "1" else "2") + before[1:]
    else:
        changed = (before or "") + "x"
    update = f"UPDATE journal_entry SET {column} = :v WHERE chain = :chain AND seq = :seq"
    run(admin, update, v=changed, **where)
    try:
        found = problems(runtime)
        assert found, f"altering {column} of entry {position} went unnoticed"
        assert (found[0].chain, found[0].seq) == (chain, position)
    finally:
        run(admin, update, v=before, **where)
    assert problems(runtime) == []


def test_deleted_entry_breaks_its_chain(runtime: Runtime, admin: Engine) -> None:
    chain = a_record(runtime)
    run(admin, "DELETE FROM journal_entry WHERE chain = :c AND seq = 2", c=chain)
    found = problems(runtime)
    assert found[0].chain == chain and found[0].seq == 3
    assert "sequence gap" in found[0].problem


def test_renumbered_chain_after_a_deletion_is_still_detected(runtime: Runtime, admin: Engine) -> None:
    chain = a_record(runtime)
    length = chain_length(runtime, chain)
    run(admin, "DELETE FROM journal_entry WHERE chain = :c AND seq = 2", c=chain)
    for seq in range(3, length + 1):
        run(admin, "UPDATE journal_entry SET seq = :n WHERE chain = :c AND seq = :s", n=seq - 1, c=chain, s=seq)
    found = problems(runtime)
    assert (found[0].chain, found[0].seq) == (chain, 2)


def test_reordered_entries_are_detected(runtime: Runtime, admin: Engine) -> None:
    chain = a_record(runtime)
    run(admin, "UPDATE journal_entry SET seq = -1 WHERE chain = :c AND seq = 2", c=chain)
    run(admin, "UPDATE journal_entry SET seq = 2 WHERE chain = :c AND seq = 3", c=chain)
    run(admin, "UPDATE journal_entry SET seq = 3 WHERE chain = :c AND seq = -1", c=chain)
    found = problems(runtime)
    assert (found[0].chain, found[0].seq) == (chain, 2)


def test_truncated_chain_after_the_last_checkpoint_is_caught_by_its_head(runtime: Runtime, admin: Engine) -> None:
    chain = a_record(runtime)
    length = chain_length(runtime, chain)
    run(admin, "DELETE FROM journal_entry WHERE chain = :c AND seq = :s", c=chain, s=length)
    found = problems(runtime)
    assert [(p.chain, p.seq) for p in found] == [(chain, length)]
    assert "head does not match" in found[0].problem


def test_truncated_chain_below_checkpoint_is_detected(runtime: Runtime, admin: Engine) -> None:
    """The attacker deletes the last entries and rewrites the head to the new last one: the
    chain alone looks whole, the checkpoint does not."""
    chain = a_record(runtime)
    checkpoint(runtime)
    length = chain_length(runtime, chain)
    with admin.begin() as connection:
        connection.execute(
            text("DELETE FROM journal_entry WHERE chain = :c AND seq >= :s"), {"c": chain, "s": length - 1}
        )
        last = connection.execute(
            text("SELECT seq, hash FROM journal_entry WHERE chain = :c ORDER BY seq DESC LIMIT 1"), {"c": chain}
        ).one()
        connection.execute(
            text("UPDATE journal_head SET seq = :s, hash = :h, checkpointed_seq = :s WHERE chain = :c"),
            {"s": last[0], "h": last[1], "c": chain},
        )
    found = problems(runtime)
    assert [(p.chain, p.seq) for p in found] == [(chain, length)]
    assert "checkpoint 1 sealed this entry" in found[0].problem


def test_rewritten_chain_is_caught_by_the_checkpoint(runtime: Runtime, admin: Engine) -> None:
    """Rewriting an entry and re-hashing everything after it (head included) passes the chain's
    own checks; the signed checkpoint still holds the old head."""
    chain = a_record(runtime)
    checkpoint(runtime)
    with admin.begin() as connection:
        rows = connection.execute(
            select(JournalEntry.__table__).where(JournalEntry.chain == chain).order_by(JournalEntry.seq)
        ).mappings()
        entries = [dict(r) for r in rows]
        entries[1]["actor_id"] = "someone-else"
        prev = entries[0]["hash"]
        for entry in entries[1:]:
            entry["prev_hash"] = prev
            entry["payload_hash"] = journal.entry_payload_hash(entry)
            entry["hash"] = journal.entry_hash(entry)
            prev = entry["hash"]
            connection.execute(
                JournalEntry.__table__.update()
                .where(JournalEntry.id == entry["id"])
                .values(
                    actor_id=entry["actor_id"],
                    prev_hash=entry["prev_hash"],
                    payload_hash=entry["payload_hash"],
                    hash=entry["hash"],
                )
            )
        connection.execute(JournalHead.__table__.update().where(JournalHead.chain == chain).values(hash=prev))
    found = problems(runtime)
    assert [(p.chain, p.seq) for p in found] == [(chain, len(entries))]
    assert "differs from the head sealed by checkpoint 1" in found[0].problem


def test_deleted_chain_below_checkpoint_is_detected(runtime: Runtime, admin: Engine) -> None:
    chain = a_record(runtime)
    checkpoint(runtime)
    run(admin, "DELETE FROM journal_entry WHERE chain = :c", c=chain)
    run(admin, "DELETE FROM journal_head WHERE chain = :c", c=chain)
    found = problems(runtime)
    assert [(p.chain, "chain deleted" in p.problem) for p in found] == [(chain, True)]


# ---------------------------------------------------------------- tampering with checkpoints


def test_checkpoint_with_forged_signature_is_detected(runtime: Runtime, admin: Engine) -> None:
    a_record(runtime)
    checkpoint(runtime)
    checkpoint(runtime)
    forger = Ed25519PrivateKey.generate()
    with admin.connect() as connection:
        digest = connection.execute(text("SELECT digest FROM journal_checkpoint WHERE seq = 2")).scalar_one()
    forged = base64.b64encode(forger.sign(digest.encode("ascii"))).decode()
    run(admin, "UPDATE journal_checkpoint SET signature = :s WHERE seq = 2", s=forged)
    assert [str(p) for p in problems(runtime)] == ["checkpoint 2: signature invalid"]
    # Signed with the forger's own key, named by its own key id: not a trusted key.
    run(admin, "UPDATE journal_checkpoint SET key_id = :k WHERE seq = 2", k=key_id(forger.public_key()))
    assert "not a trusted journal key" in problems(runtime)[0].problem


def test_altered_checkpoint_is_detected(runtime: Runtime, admin: Engine) -> None:
    chain = a_record(runtime)
    checkpoint(runtime)
    run(admin, "UPDATE journal_checkpoint_head SET hash = :h WHERE chain = :c", h="f" * 64, c=chain)
    found = [str(p) for p in problems(runtime)]
    assert found[0] == "checkpoint 1: altered: its digest does not match its content"
    assert any(f"chain {chain}" in p and "differs from the head sealed" in p for p in found)


def test_deleted_checkpoint_breaks_the_checkpoint_chain(runtime: Runtime, admin: Engine) -> None:
    for _ in range(3):
        a_record(runtime)
        checkpoint(runtime)
    run(admin, "DELETE FROM journal_checkpoint_head WHERE checkpoint_seq = 2")
    run(admin, "DELETE FROM journal_checkpoint WHERE seq = 2")
    found = [str(p) for p in problems(runtime)]
    assert found[:2] == [
        "checkpoint 3: numbering gap: expected checkpoint 2",
        "checkpoint 3: link broken: prev_digest differs from the previous digest",
    ]


def test_a_checkpoint_signed_by_an_earlier_key_verifies_with_its_public_key(runtime: Runtime) -> None:
    a_record(runtime)
    earlier = Ed25519PrivateKey.generate()
    take_checkpoint(runtime.sessions, earlier, runtime.clock.now())
    assert "not a trusted journal key" in problems(runtime)[0].problem
    from cryptography.hazmat.primitives import serialization

    raw = earlier.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    keys = trusted_keys(runtime.keys.journal_signing_key, base64.b64encode(raw).decode())
    with repo.snapshot(runtime.engine) as connection:
        assert list(Verification(keys=keys).run(connection)) == []


# ---------------------------------------------------------------- the ticker and the job


def test_the_served_app_seals_the_journal_in_the_background_and_stops_with_it(runtime: Runtime) -> None:
    a_record(runtime)
    sealed = threading.Event()

    def tick() -> None:
        take_checkpoint(runtime.sessions, runtime.keys.journal_signing_key, runtime.clock.now())
        sealed.set()

    ticker = CheckpointTicker(tick, interval=0.01)
    ticker.start()
    try:
        assert sealed.wait(timeout=30)
    finally:
        ticker.stop()
    assert not ticker.running
    assert not any(t.name == "journal-checkpoint" and t.is_alive() for t in threading.enumerate())
    assert problems(runtime) == []


def test_the_app_starts_and_stops_its_checkpoint_ticker(runtime: Runtime) -> None:
    from litestar.testing import TestClient

    from opendmp.app import create_app

    runtime.settings.journal_checkpoint_interval = 3600  # the suite turns the ticker off; this test needs it
    app = create_app(runtime=runtime)
    with TestClient(app=app):
        assert app.state.checkpoint_ticker.running
    assert not app.state.checkpoint_ticker.running
    assert not any(t.name == "journal-checkpoint" and t.is_alive() for t in threading.enumerate())


def test_the_checkpoint_job_seals_what_the_other_jobs_journaled(runtime: Runtime) -> None:
    a_record(runtime)
    results = {r.name: r for r in run_jobs(runtime.job_context(), runtime.clock.now(), ["journal-checkpoint"])}
    assert results["journal-checkpoint"].done == 1 and results["journal-checkpoint"].failed == 0
    assert problems(runtime) == []


# ---------------------------------------------------------------- retention


def test_retention_keeps_chains_verifiable(runtime: Runtime, clock: FrozenClock, admin_url: str) -> None:
    now = clock.now()
    clock.set(now - timedelta(days=365 * 21))
    old_chain = a_record(runtime, lookups=2)
    checkpoint(runtime)
    clock.set(now)
    with unit_of_work(runtime.sessions) as session:  # a recent entry in the same chain keeps its payload
        records.get_record(session, Actor.professional(DOCTOR_RPPS, "10"), uuid.UUID(old_chain), now)
    recent_chain = a_record(runtime, lookups=1)
    old_length = chain_length(runtime, old_chain)

    report = redact_expired(runtime.sessions, admin_url, 20, now)

    assert report.redacted == old_length - 1 and not report.failed
    with runtime.sessions() as session:
        rows = session.execute(select(JournalEntry).where(JournalEntry.chain == old_chain)).scalars().all()
        redacted = [e for e in rows if e.action is None]
        assert len(redacted) == old_length - 1
        assert all(e.payload_hash and all(getattr(e, c) is None for c in PAYLOAD_COLUMNS) for e in redacted)
        assert all(
            e.actor_id is not None
            for e in session.execute(select(JournalEntry).where(JournalEntry.chain == recent_chain)).scalars()
        )
        run_entry = session.execute(
            select(JournalEntry).where(JournalEntry.chain == "system", JournalEntry.action == "journal:redact")
        ).scalar_one()
        assert run_entry.reason == f"before={journal.iso(retention_cutoff(now, 20))};redacted={old_length - 1}"
    checkpoint(runtime)
    verification = Verification(
        keys=trusted_keys(runtime.keys.journal_signing_key), redact_before=retention_cutoff(now, 20)
    )
    with repo.snapshot(runtime.engine) as connection:
        assert list(verification.run(connection)) == []
    assert verification.redacted == old_length - 1
    assert redact_expired(runtime.sessions, admin_url, 20, now).redacted == 0


def test_payload_removed_before_the_retention_period_is_detected(runtime: Runtime, admin: Engine) -> None:
    chain = a_record(runtime)
    columns = ", ".join(f"{c} = NULL" for c in (*PAYLOAD_COLUMNS, "actor_organisation", "target_id", "purpose"))
    run(admin, f"UPDATE journal_entry SET {columns} WHERE chain = :c AND seq = 2", c=chain)
    cutoff = retention_cutoff(runtime.clock.now(), 20)
    found = problems(runtime, redact_before=cutoff)
    assert [(p.chain, p.seq, p.problem) for p in found] == [
        (chain, 2, "payload removed before the retention period ended")
    ]


@pytest.mark.postgres
def test_retention_through_the_application_role_is_refused_and_journaled(
    pg_runtime: Runtime, clock: FrozenClock
) -> None:
    runtime = pg_runtime
    now = clock.now()
    clock.set(now - timedelta(days=365 * 21))
    a_record(runtime, lookups=1)
    clock.set(now)
    report = redact_expired(runtime.sessions, runtime.settings.resolved_database_url, 20, now)
    assert report.failed and report.redacted == 0 and "InsufficientPrivilege" in (report.error or "")
    with runtime.sessions() as session:
        outcome = session.execute(
            select(JournalEntry.outcome).where(JournalEntry.action == "journal:redact")
        ).scalar_one()
    assert outcome == "failure"


@pytest.mark.postgres
def test_application_role_cannot_update_or_delete_journal(pg_runtime: Runtime) -> None:
    """The service's own connection, the application role, appends and seals, and can change
    nothing already written."""
    runtime = pg_runtime
    a_record(runtime)
    checkpoint(runtime)  # INSERT into the checkpoint tables: allowed
    for statement in (
        "UPDATE journal_entry SET actor_id = 'x'",
        "DELETE FROM journal_entry",
        "TRUNCATE journal_entry",
        "UPDATE journal_checkpoint SET digest = 'x'",
        "DELETE FROM journal_checkpoint",
        "UPDATE journal_checkpoint_head SET hash = 'x'",
        "DELETE FROM journal_checkpoint_head",
    ):
        with runtime.engine.connect() as connection, pytest.raises(ProgrammingError):
            connection.execute(text(statement))


# ---------------------------------------------------------------- purpose


def test_purpose_is_kept_and_hashed_with_the_payload(runtime: Runtime, admin: Engine) -> None:
    with unit_of_work(runtime.sessions) as session:
        entry = journal.append(
            session,
            Actor.professional(DOCTOR_RPPS, "10"),
            journal.Event("record:read", "record", None, purpose="emergency"),
            record_id=None,
            at=runtime.clock.now(),
        )
        entry_id = entry["id"]
    with runtime.sessions() as session:
        stored = session.get(JournalEntry, entry_id)
        assert stored is not None and stored.purpose == "emergency"
    run(admin, "UPDATE journal_entry SET purpose = 'care' WHERE chain = 'system'")
    assert [p.problem for p in problems(runtime)] == ["entry altered: its payload does not match its payload_hash"]


# ---------------------------------------------------------------- parallel verification


def test_verification_split_across_processes_finds_the_same_problems(runtime: Runtime, admin: Engine) -> None:
    chains = sorted(a_record(runtime, lookups=1) for _ in range(6))
    checkpoint(runtime)
    for chain in (chains[0], chains[-1]):
        run(admin, "UPDATE journal_entry SET reason = 'x' WHERE chain = :c AND seq = 2", c=chain)
    keys = trusted_keys(runtime.keys.journal_signing_key)
    alone, split = Verification(keys=keys), Verification(keys=keys)
    with repo.snapshot(runtime.engine) as connection:
        expected = list(alone.run(connection))
    with repo.snapshot(runtime.engine) as connection:
        found = list(split.run(connection, database_url=runtime.settings.resolved_database_url, workers=3))
    assert [(p.chain, p.seq) for p in expected] == [(chains[0], 2), (chains[-1], 2)]
    assert found == expected
    assert (split.entries, split.chains, split.unreported) == (alone.entries, alone.chains, 0)


# ---------------------------------------------------------------- reading a record's journal


def test_a_journal_page_is_newest_first_by_time_even_for_an_entry_appended_late(runtime: Runtime) -> None:
    """The holder's journal pages go by the time of the act (then seq), not by the order of
    appending: an entry appended last with an earlier time sits at its time. Pages bounded by
    the first page's seq neither shift nor grow while the chain does."""
    record_id = uuid.uuid4()
    start = runtime.clock.now()
    actor = Actor.system("job:test")
    times = [start + timedelta(minutes=m) for m in (1, 2, 3, 4, 5)] + [start + timedelta(seconds=30)]
    with unit_of_work(runtime.sessions) as session:
        for i, at in enumerate(times):
            journal.append(session, actor, journal.Event(f"act:{i}", "record", None), record_id=record_id, at=at)
    with runtime.sessions() as session:
        first, total, up_to = repo.record_entries(session, record_id, repo.EntryQuery(count=4))
        assert [e.action for e in first] == ["act:4", "act:3", "act:2", "act:1"]
        assert (total, up_to) == (6, 6)
    with unit_of_work(runtime.sessions) as session:  # the chain grows after the first page
        journal.append(session, actor, journal.Event("act:6", "record", None), record_id=record_id, at=start)
    with runtime.sessions() as session:
        second, total, _ = repo.record_entries(session, record_id, repo.EntryQuery(offset=4, count=4, up_to_seq=up_to))
        assert [e.action for e in second] == ["act:0", "act:5"]
        assert total == 6
        oldest, _, _ = repo.record_entries(session, record_id, repo.EntryQuery(count=2, newest_first=False))
        assert [e.action for e in oldest] == ["act:6", "act:5"]
