"""`opendmp audit verify` and `opendmp audit by-actor`, and the journal jobs, run in-process with
their settings from the environment, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from typer.testing import CliRunner

from opendmp.cli import app
from opendmp.identity.actor import Actor
from opendmp.journal.models import JournalCheckpoint, JournalEntry
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.record import service as records
from opendmp.runtime import Runtime
from tests import factories as f

DOCTOR = "10000000002"
Cli = Callable[..., Any]


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
def cli(runtime: Runtime, admin_url: str) -> Cli:
    env = {
        "OPENDMP_DATABASE_URL": runtime.settings.resolved_database_url,
        "OPENDMP_ADMIN_DATABASE_URL": admin_url,
        "OPENDMP_DATA_DIR": str(runtime.settings.data_dir),
        "OPENDMP_DEV_MODE": "true",
        "OPENDMP_ENV": "test",
    }

    def run(*args: str, **extra_env: str) -> Any:
        return CliRunner().invoke(app, list(args), env={**env, **extra_env}, catch_exceptions=False)

    return run


def followed_records(runtime: Runtime, count: int = 2) -> list[uuid.UUID]:
    """Records opened at a counter, each looked up once by the same doctor."""
    ids = []
    for _ in range(count):
        ins, traits = f.person()
        record_id = f.open_record(runtime, Actor.counter_agent("agent-3"), ins, traits).record.id
        with unit_of_work(runtime.sessions) as session:
            records.get_record(
                session, Actor.professional(DOCTOR, "10").at("192.0.2.9"), record_id, runtime.clock.now()
            )
        ids.append(record_id)
    return ids


def test_audit_verify_exits_zero_on_an_intact_journal_with_checkpoints(cli: Cli, runtime: Runtime) -> None:
    followed_records(runtime)
    sealed = cli("jobs", "run", "journal-checkpoint")
    assert sealed.exit_code == 0, sealed.stderr
    assert "journal-checkpoint: 2 done, 0 failed" in sealed.stderr
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.stderr
    assert "journal verified: every chain and checkpoint intact" in result.stderr
    assert "1 checkpoints" in result.stderr and "2 chains" in result.stderr


def test_audit_verify_names_the_first_broken_entry_by_chain_and_position_and_exits_one(
    cli: Cli, runtime: Runtime, admin: Engine
) -> None:
    first, second = followed_records(runtime)
    chain = max(first.hex, second.hex)
    with admin.begin() as connection:
        connection.execute(
            text("UPDATE journal_entry SET actor_id = 'someone-else' WHERE chain = :c AND seq = 2"), {"c": chain}
        )
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert f"first: chain {chain} entry 2: entry altered" in result.stderr
    assert result.stdout == ""


def test_audit_verify_fails_on_a_forged_checkpoint(cli: Cli, runtime: Runtime, admin: Engine) -> None:
    followed_records(runtime, 1)
    assert cli("jobs", "run", "journal-checkpoint").exit_code == 0
    with admin.begin() as connection:
        connection.execute(text("UPDATE journal_checkpoint SET signature = :s"), {"s": "A" * 86 + "=="})
    result = cli("audit", "verify")
    assert result.exit_code == 1 and "first: checkpoint 1: signature invalid" in result.stderr


def test_audit_verify_refuses_a_malformed_earlier_public_key(cli: Cli) -> None:
    result = cli("audit", "verify", OPENDMP_JOURNAL_PREVIOUS_PUBLIC_KEYS="not-a-key")
    assert result.exit_code == 2 and "OPENDMP_JOURNAL_PREVIOUS_PUBLIC_KEYS" in result.stderr


def test_audit_by_actor_lists_what_one_actor_did_across_records_and_is_journaled(cli: Cli, runtime: Runtime) -> None:
    ids = followed_records(runtime, 3)
    result = cli("audit", "by-actor", DOCTOR, "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {r["chain"] for r in rows} == {i.hex for i in ids}
    assert {(r["action"], r["actor_id"], r["source_address"]) for r in rows} == {("record:lookup", DOCTOR, "192.0.2.9")}
    with runtime.sessions() as session:
        searched = session.execute(
            select(JournalEntry).where(JournalEntry.chain == "system", JournalEntry.action == "journal:by-actor")
        ).scalar_one()
    assert (searched.actor_kind, searched.target_id, searched.purpose) == ("operator", DOCTOR, "forensics")
    assert searched.reason == "since=-;until=-;returned=3"


def test_audit_by_actor_keeps_to_the_dates_asked(cli: Cli, runtime: Runtime, clock: FrozenClock) -> None:
    followed_records(runtime, 1)
    clock.advance(timedelta(days=3))
    followed_records(runtime, 1)
    day = clock.now().date().isoformat()
    later = cli("audit", "by-actor", DOCTOR, "--since", day, "--json")
    earlier = cli("audit", "by-actor", DOCTOR, "--until", (clock.now() - timedelta(days=1)).date().isoformat())
    assert len(json.loads(later.stdout)) == 1
    assert earlier.exit_code == 0 and len(earlier.stdout.strip().splitlines()) == 1
    assert "record:lookup" in earlier.stdout
    assert cli("audit", "by-actor", DOCTOR, "--since", "last week").exit_code == 2


def test_journal_retention_job_redacts_old_payloads_and_verify_still_passes(
    cli: Cli, runtime: Runtime, clock: FrozenClock
) -> None:
    now = clock.now()
    clock.set(now - timedelta(days=365 * 21))
    followed_records(runtime, 2)
    clock.set(now)
    assert cli("jobs", "run", "journal-checkpoint").exit_code == 0
    # The CLI reads the real clock: everything older than 20 years is redacted, the rest kept.
    result = cli("jobs", "run", "journal-retention")
    assert result.exit_code == 0, result.stderr
    assert "journal-retention: 4 done, 0 failed" in result.stderr
    with runtime.sessions() as session:
        assert session.execute(select(JournalEntry).where(JournalEntry.action.is_(None))).scalars().all()
        assert session.execute(select(JournalCheckpoint)).scalars().all()
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.stderr
    assert "(4 redacted)" in verified.stderr


def test_audit_public_key_prints_the_key_that_checks_the_checkpoints(cli: Cli, runtime: Runtime) -> None:
    from cryptography.hazmat.primitives import serialization

    from opendmp.journal.checkpoint import key_id

    result = cli("audit", "public-key")
    assert result.exit_code == 0
    public = serialization.load_pem_public_key(result.stdout.encode())
    expected = runtime.keys.journal_signing_key.public_key()
    assert public == expected
    assert f"key id {key_id(expected)}" in result.stderr
