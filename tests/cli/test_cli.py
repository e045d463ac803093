"""The operator's CLI, run in-process with its real settings from the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from opendmp.cli import app
from opendmp.identity.actor import Actor, ActorKind
from opendmp.record.models import Record
from opendmp.runtime import Runtime
from tests import factories as f

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture
def cli(runtime: Runtime) -> Any:
    env = {
        "OPENDMP_DATABASE_URL": runtime.settings.resolved_database_url,
        "OPENDMP_DATA_DIR": str(runtime.settings.data_dir),
        "OPENDMP_DEV_MODE": "true",
        "OPENDMP_ENV": "test",
    }

    def run(*args: str, **extra_env: str) -> Any:
        return CliRunner().invoke(app, list(args), env={**env, **extra_env}, catch_exceptions=False)

    return run


def test_dev_token_prints_only_a_token_that_the_server_accepts(cli: Any, runtime: Runtime) -> None:
    f.add_professional(runtime, "10000000002", "10")
    result = cli("dev-token", "--rpps", "10000000002")
    assert result.exit_code == 0
    token = result.stdout.strip()
    assert "\n" not in token and token.count(".") == 2
    actor = runtime.verifier.verify(token)
    assert (actor.kind, actor.id, actor.profession) == (ActorKind.PROFESSIONAL, "10000000002", "10")


def test_dev_token_refuses_outside_dev_mode(cli: Any) -> None:
    result = cli("dev-token", "--operator", "alice", OPENDMP_DEV_MODE="false")
    assert result.exit_code != 0 and result.stdout == ""
    assert "dev mode" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_dev_token_for_an_unknown_professional_is_a_clear_error(cli: Any) -> None:
    result = cli("dev-token", "--rpps", "10000000999")
    assert result.exit_code == 4 and "no professional" in result.stderr


def test_professional_add_refuses_an_unknown_profession_code(cli: Any) -> None:
    result = cli("professional", "add", "--rpps", "10000000003", "--profession", "99", "--family", "X", "--given", "Y")
    assert result.exit_code == 2 and "profession" in result.stderr


def test_professional_add_with_an_unknown_finess_is_refused(cli: Any) -> None:
    result = cli(
        "professional",
        "add",
        "--rpps",
        "10000000003",
        "--profession",
        "21",
        "--family",
        "X",
        "--given",
        "Y",
        "--finess",
        "750009999",
    )
    assert result.exit_code == 4 and "FINESS" in result.stderr


def _open_args(ins: Any, traits: Any) -> list[str]:
    return [
        "record",
        "open",
        "--ins",
        ins.value,
        "--system",
        "test",
        "--family",
        traits.birth_family,
        "--given",
        traits.given_names,
        "--birth-date",
        traits.birth_date.isoformat(),
        "--gender",
        traits.gender.value,
        "--birthplace",
        traits.birthplace_code,
    ]


def test_the_record_lifecycle_from_the_command_line(cli: Any, runtime: Runtime) -> None:
    f.add_organisation(runtime)
    assert (
        cli(
            "professional",
            "add",
            "--rpps",
            "10000000021",
            "--profession",
            "21",
            "--family",
            "PETIT",
            "--given",
            "Anne",
            "--finess",
            "750000001",
        ).exit_code
        == 0
    )
    ins, traits = f.person()
    opened = cli(*_open_args(ins, traits), "--rpps", "10000000021")
    assert opened.exit_code == 0, opened.stderr
    record_id, status = opened.stdout.split()[:2]
    assert status == "active" and "channel=pharmacy" in opened.stdout
    assert cli(*_open_args(ins, traits), "--rpps", "10000000021").exit_code == 5  # already exists
    assert cli("record", "close", record_id).stdout.split()[1] == "closed"
    assert cli("record", "purge", record_id).exit_code == 6  # retention not over
    assert cli("record", "reopen", record_id).stdout.split()[1] == "active"
    assert cli("record", "suspend", record_id, "--reason", "fraude").stdout.split()[1] == "suspended"
    with runtime.sessions() as session:
        assert session.execute(select(Record.status)).scalar_one() == "suspended"


def test_bad_input_exits_non_zero_with_one_line_and_writes_nothing(cli: Any, runtime: Runtime) -> None:
    ins, traits = f.person()
    result = cli(*_open_args(ins, traits)[:3], ins.value[:13] + "00", *_open_args(ins, traits)[4:], "--agent", "a")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert cli("record", "close", "not-an-id").exit_code == 2
    with runtime.sessions() as session:
        assert session.execute(select(Record)).first() is None


def test_jobs_run_applies_the_timed_rules(cli: Any, runtime: Runtime) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.insurer_feed(), ins, traits)
    runtime.clock.advance(timedelta(weeks=7))  # type: ignore[attr-defined]
    # The CLI uses the real clock, which is later than the frozen one: the window is over.
    result = cli("jobs", "run", "objection-window")
    assert result.exit_code == 0 and "1 done" in result.stderr
    with runtime.sessions() as session:
        assert session.get(Record, view.record.id).status == "active"  # type: ignore[union-attr]
    assert cli("jobs", "run", "nope").exit_code == 2


def test_seed_then_audit_verify_passes_and_detects_tampering(cli: Any, runtime: Runtime) -> None:
    result = cli("seed", "--patients", "50", "--seed", "1")
    assert result.exit_code == 0 and "50 records" in result.stderr
    assert cli("audit", "verify").exit_code == 0
    if runtime.settings.resolved_database_url.startswith("sqlite"):
        with runtime.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE journal_entry SET actor_id = 'someone-else' WHERE seq = 1 "
                    "AND chain = (SELECT MIN(chain) FROM journal_entry WHERE chain != 'system')"
                )
            )
        failed = cli("audit", "verify")
        assert failed.exit_code == 1 and "entry altered" in failed.stderr


def test_directory_import_is_idempotent(cli: Any) -> None:
    files = [str(FIXTURES / "directory" / "rpps_sample.txt"), str(FIXTURES / "directory" / "finess_sample.csv")]
    first = cli("directory", "import", *files)
    assert first.exit_code == 0, first.stderr
    second = cli("directory", "import", *files)
    assert second.exit_code == 0 and " 0 created" in second.stderr


def test_a_held_ledger_entry_is_assigned_to_a_pharmacy_by_an_operator(cli: Any, runtime: Runtime) -> None:
    pharmacist = f.add_professional(runtime, "10000000021", "21")
    f.open_record(runtime, pharmacist, *f.person())
    held = cli("ledger", "held")
    assert held.exit_code == 0 and "1.00 EUR" in held.stdout
    entry_id = held.stdout.split()[0]
    assert cli("ledger", "assign", entry_id, "--finess", "750000001").exit_code == 4  # no such pharmacy yet
    f.add_organisation(runtime)
    assert cli("ledger", "assign", entry_id, "--finess", "750000001").exit_code == 0
    assert cli("ledger", "held").stdout.strip() == ""


def test_heirs_requests_are_recorded_after_a_death(cli: Any, runtime: Runtime) -> None:
    view = f.open_record(runtime, Actor.counter_agent("a"), *f.person())
    rid = str(view.record.id)
    assert cli("record", "heir-request", rid, "--name", "Jean Martin", "--relationship", "child").exit_code == 6
    assert cli("record", "death", rid, "--date", "2026-05-30").exit_code == 0
    result = cli("record", "heir-request", rid, "--name", "Jean Martin", "--relationship", "child")
    assert result.exit_code == 0 and len(result.stdout.strip()) == 36


def test_an_operator_replaces_an_nia_by_a_nir_and_merges_duplicates(cli: Any, runtime: Runtime) -> None:
    from opendmp.identity.ins import InsSystem

    nia, traits = f.person(system=InsSystem.NIA, order=700)
    first = f.open_record(runtime, Actor.counter_agent("a"), nia, traits)
    other_nia, _ = f.person(system=InsSystem.NIA, order=701)
    second = f.open_record(runtime, Actor.counter_agent("a"), other_nia, traits)
    updated = cli("record", "identity", str(first.record.id), "--ins", nia.value, "--system", "nir")
    assert updated.exit_code == 0, updated.stderr
    assert cli("record", "identity", str(first.record.id), "--birth-date", "1999-01-01").exit_code == 2  # vs NIR
    merged = cli("record", "merge", str(first.record.id), str(second.record.id))
    assert merged.exit_code == 0, merged.stderr
    with runtime.sessions() as session:
        assert session.get(Record, second.record.id).status == "merged"  # type: ignore[union-attr]


def _file_document(runtime: Runtime) -> Any:
    from opendmp.document import service as documents
    from opendmp.fhir.document import parse_document_reference
    from opendmp.kit.db import unit_of_work
    from tests.fhir.test_document_api import PDF, document_reference

    view = f.open_record(runtime, Actor.counter_agent("a"), *f.person())
    f.authorise(runtime, view.record.id, Actor.professional("10000000002", "10"))
    item = parse_document_reference(document_reference(view.record.id))
    with unit_of_work(runtime.sessions) as session:
        return documents.submit_document(
            session,
            Actor.professional("10000000002", "10"),
            item,
            PDF,
            runtime.clock.now(),
            runtime.vault,
            max_size=1_000_000,
        ).document


def test_audit_verify_content_checks_every_document_and_finds_a_tampered_one(cli: Any, runtime: Runtime) -> None:
    document = _file_document(runtime)
    result = cli("audit", "verify", "--content")
    assert result.exit_code == 0 and "1 documents intact" in result.stderr
    path = next(
        p for p in (runtime.settings.data_dir / "blobs").rglob("*") if p.is_file() and str(document.id) in p.name
    )
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF
    path.write_bytes(bytes(data))
    failed = cli("audit", "verify", "--content")
    assert failed.exit_code == 1 and str(document.id) in failed.stderr


def test_keys_rotate_rewraps_under_a_new_master_key_and_content_stays_readable(cli: Any, runtime: Runtime) -> None:
    import base64
    import os

    document = _file_document(runtime)
    old = base64.b64encode(runtime.keys.master_key).decode()
    new = base64.b64encode(os.urandom(32)).decode()
    rotated = cli("keys", "rotate", OPENDMP_MASTER_KEY=new, OPENDMP_PREVIOUS_MASTER_KEYS=old)
    assert rotated.exit_code == 0 and "1 data keys re-wrapped" in rotated.stderr, rotated.stderr
    # With only the new key, the content still decrypts: every data key is now under it.
    verified = cli("audit", "verify", "--content", OPENDMP_MASTER_KEY=new)
    assert verified.exit_code == 0, verified.stderr
    assert document.id
