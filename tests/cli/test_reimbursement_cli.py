"""`opendmp feed reimbursements` and `feed generate` from the shell: summary, rejects file,
non-zero exit on rejects or unreadable files, idempotent re-feeding, a crash mid-chunk leaves
nothing half-written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from opendmp.cli import app
from opendmp.feed.models import ReimbursementBatch, ReimbursementClaim
from opendmp.identity.actor import Actor
from opendmp.journal.models import JournalEntry
from opendmp.runtime import Runtime
from tests.factories import open_record, person
from tests.live import OPENDMP, server_env


@pytest.fixture
def cli(runtime: Runtime) -> Any:
    env = {
        "OPENDMP_DATABASE_URL": runtime.settings.resolved_database_url,
        "OPENDMP_DATA_DIR": str(runtime.settings.data_dir),
        "OPENDMP_DEV_MODE": "true",
        "OPENDMP_ENV": "test",
    }

    def run(*args: str) -> Any:
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)

    return run


def _lines(nir: str, count: int, prefix: str = "K") -> str:
    base = {
        "nir": nir,
        "care_date": "2026-05-02",
        "system": "NABM",
        "code": "1104",
        "label": "NFS",
        "executant_finess": "750000001",
        "paid": "7.83",
        "reimbursed": "4.70",
    }
    return "".join(json.dumps({**base, "claim_id": f"{prefix}{i}"}) + "\n" for i in range(count))


def _count(runtime: Runtime, model: Any) -> int:
    with runtime.sessions() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_feeding_prints_a_summary_writes_rejects_and_exits_1_when_a_line_was_refused(
    cli: Any, runtime: Runtime, tmp_path: Path
) -> None:
    ins, traits = person(order=41)
    open_record(runtime, Actor.insurer_feed(), ins, traits)
    good = tmp_path / "good.ndjson"
    good.write_text(_lines(ins.value, 3))
    result = cli("feed", "reimbursements", str(good))
    assert result.exit_code == 0, result.output
    assert "3 filed in 1 record batches" in result.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "claim_id,nir,care_date,system,code,label,executant_finess,paid,reimbursed\n"
        f"Z1,{ins.value},2026-05-02,NGAP,G,Consultation,750000001,30.00,21.00\n"
        f"Z2,{ins.value},2999-01-01,NGAP,G,Consultation,750000001,30.00,21.00\n"
    )
    rejects = tmp_path / "rejects.csv"
    result = cli(
        "feed", "reimbursements", str(good), str(bad), str(tmp_path / "missing.ndjson"), "--rejects", str(rejects)
    )
    assert result.exit_code == 1
    assert "1 filed" in result.stdout and "3 already fed" in result.stdout and "1 rejected" in result.stdout
    assert "unreadable file" in result.stderr and "missing.ndjson" in result.stderr
    assert "bad.csv,3,Z2,care_date: 2999-01-01 is in the future" in rejects.read_text()
    assert _count(runtime, ReimbursementClaim) == 4


def test_generate_writes_a_deterministic_file_the_feed_accepts(cli: Any, runtime: Runtime, tmp_path: Path) -> None:
    ins, traits = person(order=42)
    open_record(runtime, Actor.insurer_feed(), ins, traits)
    first, second = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    for out in (first, second):
        assert cli("feed", "generate", str(out), "--lines", "300", "--seed", "9", "--from-records").exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    result = cli("feed", "reimbursements", str(first))
    assert result.exit_code == 0, result.output
    assert "300 filed" in result.stdout


def test_parsing_in_a_second_process_files_the_same_lines(cli: Any, runtime: Runtime, tmp_path: Path) -> None:
    ins, traits = person(order=43)
    open_record(runtime, Actor.insurer_feed(), ins, traits)
    claims = tmp_path / "c.ndjson"
    assert cli("feed", "generate", str(claims), "--lines", "250", "--seed", "3", "--from-records").exit_code == 0
    result = cli("feed", "reimbursements", str(claims), "--chunk", "100", "--parse-in-worker")
    assert result.exit_code == 0, result.output
    assert "read 250 lines: 250 filed in 3 record batches" in result.stdout
    again = cli("feed", "reimbursements", str(claims))
    assert "250 already fed" in again.stdout and _count(runtime, ReimbursementClaim) == 250


def test_a_crash_mid_chunk_leaves_nothing_half_written_and_feeding_again_completes(
    cli: Any, runtime: Runtime, tmp_path: Path
) -> None:
    ins, traits = person(order=43)
    record_id = open_record(runtime, Actor.insurer_feed(), ins, traits).record.id
    path = tmp_path / "day.ndjson"
    path.write_text(_lines(ins.value, 6))
    env = server_env(runtime.settings, OPENDMP_FAILPOINT="reimbursement.before-claim-index")
    crashed = subprocess.run([OPENDMP, "feed", "reimbursements", str(path)], env=env, capture_output=True, check=False)
    assert crashed.returncode == 137  # killed with the chunk's batch rows flushed, not committed
    assert _count(runtime, ReimbursementBatch) == 0 and _count(runtime, ReimbursementClaim) == 0
    assert cli("feed", "reimbursements", str(path)).exit_code == 0
    assert _count(runtime, ReimbursementClaim) == 6 and _count(runtime, ReimbursementBatch) == 1
    with runtime.sessions() as session:
        entries = session.execute(
            select(func.count()).where(JournalEntry.chain == record_id.hex, JournalEntry.action.like("document:%"))
        ).scalar_one()
    assert entries == 1
