"""`opendmp stats`: the deployment's figures from the counters, a table or only JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from opendmp.cli import app
from opendmp.identity.actor import Actor
from opendmp.journal.service import entries_of
from opendmp.runtime import Runtime
from opendmp.seed import seed_platform
from opendmp.stats import counters
from tests import factories as f


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


def test_stats_json_prints_only_json_with_the_total_and_the_counts_by_channel(cli: Any, runtime: Runtime) -> None:
    seed_platform(runtime, patients=200, seed=4, batch=100)
    with runtime.sessions() as session:
        recount = counters.recount_openings(session)
    by_channel: dict[str, int] = {}
    for key, count in recount.items():
        by_channel[key.channel] = by_channel.get(key.channel, 0) + count
    result = cli("stats", "--json")
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)  # nothing else on standard output
    assert figures["recordsOpened"] == 200
    assert figures["openedByChannel"] == by_channel
    assert figures["documentsAdded"] == 0 and figures["documentsBySource"] == {}


def test_stats_by_week_and_region_within_dates(cli: Any, runtime: Runtime) -> None:
    f.open_record(runtime, Actor.counter_agent("agent-1"), *f.person(order=1), residence_department="35")
    day = runtime.clock.now().date().isoformat()
    weekly = json.loads(cli("stats", "--json", "--by", "week", "--since", day, "--until", day).stdout)
    assert weekly["recordsOpened"] == 1 and [row["count"] for row in weekly["openedBy"]] == [1]
    regions = json.loads(cli("stats", "--json", "--by", "region").stdout)
    assert regions["openedBy"] == [{"key": "53", "label": "Bretagne", "count": 1}]
    before = json.loads(cli("stats", "--json", "--until", "2000-01-01").stdout)
    assert before["recordsOpened"] == 0 and before["openedByChannel"] == {}


def test_stats_table_is_readable_and_bad_options_are_clear_errors(cli: Any, runtime: Runtime) -> None:
    f.open_record(runtime, Actor.counter_agent("agent-1"), *f.person(order=2))
    table = cli("stats", "--by", "channel")
    assert table.exit_code == 0 and "insurer-counter" in table.stdout and "records opened" in table.stdout
    assert cli("stats", "--by", "county").exit_code == 2
    wrong = cli("stats", "--since", "22/11/2026")
    assert wrong.exit_code == 2 and "YYYY-MM-DD" in wrong.stderr and wrong.stdout == ""


def test_stats_json_carries_the_dashboards_figures_and_the_table_its_headline(cli: Any, runtime: Runtime) -> None:
    from opendmp.kit.db import unit_of_work
    from opendmp.stats.dashboard import dashboard_figures

    seed_platform(runtime, patients=120, seed=6, batch=60)
    result = cli("stats", "--json")
    assert result.exit_code == 0, result.stderr
    deployment = json.loads(result.stdout)["deployment"]
    with unit_of_work(runtime.sessions) as session:
        # The command runs on the system clock.
        shown = dashboard_figures(session, Actor.operator("cli"), datetime.now(UTC), target=40_000_000)
    assert deployment == shown  # the CLI prints what the dashboard shows
    assert deployment["recordsOpened"] == 120 and deployment["target"] == 40_000_000
    assert sum(region["opened"] for region in deployment["regions"]) == 120
    assert deployment["openers"]["pharmacies"] > 0
    table = cli("stats")
    assert table.exit_code == 0 and deployment["headline"] in table.stdout


def test_remuneration_statement_and_rules_from_the_command_line(cli: Any, runtime: Runtime, tmp_path: Any) -> None:
    f.add_organisation(runtime, "750000001", "pharmacy", name="Pharmacie du Centre")
    pharmacist = f.add_professional(runtime, "10000000021", "21", finess="750000001")
    f.open_record(runtime, pharmacist, *f.person(order=1))
    month = runtime.clock.now().strftime("%Y-%m")
    out = tmp_path / "releve.csv"
    done = cli("remuneration", "statement", "--month", month, "--format", "csv", "--out", str(out))
    assert done.exit_code == 0, done.stderr
    assert (
        out.read_text()
        .splitlines()[1]
        .endswith(";Pharmacie du Centre;" + runtime.clock.now().date().isoformat() + ";1;1,00")
    )
    pdf = tmp_path / "releve.pdf"
    assert (
        cli(
            "remuneration", "statement", "--month", month, "--finess", "750000001", "--format", "pdf", "--out", str(pdf)
        ).exit_code
        == 0
    )
    assert pdf.read_bytes().startswith(b"%PDF")
    assert cli("remuneration", "statement", "--month", "juin", "--out", str(out)).exit_code == 2
    rules = json.loads(cli("remuneration", "rules", "list", "--json").stdout)
    assert {(r["channel"], r["amountCents"]) for r in rules} == {("pharmacy", 100), ("nurse", 100)}
    assert (
        cli(
            "remuneration",
            "rules",
            "set",
            "--channel",
            "nurse",
            "--beneficiary",
            "nurse",
            "--amount",
            "1,20",
            "--from",
            "2030-01-01",
        ).exit_code
        == 0
    )
    assert (
        cli(
            "remuneration",
            "rules",
            "set",
            "--channel",
            "nurse",
            "--beneficiary",
            "nurse",
            "--amount",
            "un euro",
            "--from",
            "2031-01-01",
        ).exit_code
        == 2
    )
    overlap = cli(
        "remuneration",
        "rules",
        "set",
        "--channel",
        "nurse",
        "--beneficiary",
        "nurse",
        "--amount",
        "2",
        "--from",
        "2029-01-01",
        "--until",
        "2030-06-01",
    )
    assert overlap.exit_code != 0 and "already applies" in overlap.stderr


def test_backup_and_restore_from_the_command_line(
    cli: Any, runtime: Runtime, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    import base64
    import os

    monkeypatch.setenv("OPENDMP_BACKUP_KEY", base64.b64encode(os.urandom(32)).decode())
    if not runtime.settings.resolved_database_url.startswith("sqlite"):
        # pg_restore recreates the schema: it runs as the database's owner, like an operator would.
        admin, _ = request.getfixturevalue("postgres_database")
        monkeypatch.setenv("OPENDMP_ADMIN_DATABASE_URL", admin)
    f.open_record(runtime, Actor.counter_agent("agent-1"), *f.person(order=1))
    medium = tmp_path / "medium"  # the backup volume: nothing but the encrypted files lands there
    made = cli("backup", str(medium / "db.bak"))
    assert made.exit_code == 0, made.stderr
    assert cli("backup", str(medium / "keys.bak"), "--keystore").exit_code == 0
    assert sorted(p.name for p in medium.iterdir()) == ["db.bak", "keys.bak"]
    with runtime.sessions() as session:
        taken = [e.target_type for e in entries_of(session, None) if e.action == "backup:take"]
    assert taken == ["database", "keystore"]  # a copy of every record left: journaled
    f.open_record(runtime, Actor.counter_agent("agent-1"), *f.person(order=2))  # lost by the restore
    runtime.engine.dispose()
    done = cli("restore", str(medium / "db.bak"), "--keystore", str(medium / "keys.bak"))
    assert done.exit_code == 0, done.stderr
    assert "journal and every document's hash verified" in done.stderr
    assert json.loads(cli("stats", "--json").stdout)["recordsOpened"] == 1
    assert cli("restore", str(medium / "keys.bak")).exit_code != 0  # a key-store backup is not a database
    assert cli("restore", str(tmp_path / "missing.bak")).exit_code == 2
