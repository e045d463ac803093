"""Operators' commands of the access issue: the habilitation matrix and the emergency review queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opendmp.consent import service as consents
from opendmp.identity.actor import Actor
from opendmp.kit.db import unit_of_work
from opendmp.runtime import Runtime
from tests import factories as f
from tests.cli.test_cli import cli  # noqa: F401 - the fixture

ER_DOCTOR = Actor.professional("10000000006", "10")


def test_an_operator_exports_edits_and_imports_the_matrix(cli: Any, tmp_path: Path) -> None:  # noqa: F811
    exported = cli("matrix", "export")
    assert exported.exit_code == 0
    assert exported.stdout.startswith("profession,10,11,31,")
    edited = tmp_path / "matrix.csv"
    edited.write_text(exported.stdout.replace("\n21,1,", "\n21,0,", 1), encoding="utf-8")
    imported = cli("matrix", "import", str(edited), "--note", "pharmacists: no reports")
    assert imported.exit_code == 0, imported.stderr
    assert cli("matrix", "export").stdout == edited.read_text(encoding="utf-8")
    versions = cli("matrix", "versions").stdout.splitlines()
    assert [line.split()[0] for line in versions] == ["1", "2"]
    assert versions[1].endswith("pharmacists: no reports")
    assert cli("matrix", "export", "--version", "1").stdout == exported.stdout


def test_a_bad_matrix_file_is_refused_with_its_line_and_nothing_changes(cli: Any, tmp_path: Path) -> None:  # noqa: F811
    bad = tmp_path / "bad.csv"
    bad.write_text(cli("matrix", "export").stdout + "10,1\n", encoding="utf-8")
    result = cli("matrix", "import", str(bad))
    assert result.exit_code != 0
    assert "line " in result.stderr
    assert len(cli("matrix", "versions").stdout.splitlines()) == 1


def test_emergency_accesses_wait_in_the_review_queue_until_an_operator_closes_them(
    cli: Any,  # noqa: F811
    runtime: Runtime,
) -> None:
    ins, traits = f.person()
    record_id = f.open_record(runtime, Actor.counter_agent("agent"), ins, traits).record.id
    f.add_professional(runtime, ER_DOCTOR.id, "10")
    with unit_of_work(runtime.sessions) as session:
        consents.break_glass(session, ER_DOCTOR, record_id, runtime.clock.now(), reason="inconscient aux urgences")
    pending = json.loads(cli("emergency", "review", "--json").stdout)
    assert [(p["rpps"], p["record"], p["reason"]) for p in pending] == [
        (ER_DOCTOR.id, str(record_id), "inconscient aux urgences")
    ]
    closed = cli("emergency", "review", "--justified", pending[0]["id"], "--note", "urgence vitale")
    assert closed.exit_code == 0, closed.stderr
    assert json.loads(cli("emergency", "review", "--json").stdout) == []
    again = cli("emergency", "review", "--unjustified", pending[0]["id"])
    assert again.exit_code != 0 and "already reviewed" in again.stderr
