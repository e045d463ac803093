"""`opendmp content|vaccination|directives`, and the demo's sample patient filled by the hook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from opendmp.cli import app
from opendmp.content.demo import ANSWERS, fill_sample
from opendmp.identity.actor import Actor
from opendmp.identity.models import Patient
from opendmp.runtime import Runtime
from tests import factories as f

DOCTOR = "10000000002"
STRANGER = "10000000003"


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


@pytest.fixture
def nir(runtime: Runtime) -> str:
    ins, traits = f.person()
    f.open_record(runtime, Actor.counter_agent("agent"), ins, traits)
    f.add_professional(runtime, DOCTOR, "10", family="DEMO")
    f.add_professional(runtime, STRANGER, "10")
    return ins.value


def test_the_demo_hook_fills_the_sample_record_once(runtime: Runtime, nir: str, cli: Any) -> None:
    assert fill_sample(runtime, nir, DOCTOR)
    assert not fill_sample(runtime, nir, DOCTOR)  # once per data set
    summary = cli("content", "summary", nir, "--rpps", DOCTOR)
    assert summary.exit_code == 0, summary.output
    assert "A Rh+" in summary.output and "Pénicilline" in summary.output and "Ramipril" in summary.output
    assert "Camille DEMO" in summary.output and "Directives anticipées : oui (version 1" in summary.output
    as_json = cli("content", "summary", nir, "--ins", nir, "--json")
    assert json.loads(as_json.stdout)["type"] == "collection"
    due = cli("vaccination", "due", nir, "--ins", nir)
    assert due.exit_code == 0, due.output
    assert "Grippe" in due.output and "déclarée par le patient" in due.output
    assert "[à faire]" in due.output or "[en retard]" in due.output


def test_an_unauthorised_professional_is_told_no_such_patient(runtime: Runtime, nir: str, cli: Any) -> None:
    result = cli("content", "summary", nir, "--rpps", STRANGER)
    assert result.exit_code == 4 and "no such" in result.output


def test_acting_as_a_person_needs_dev_mode(nir: str, cli: Any) -> None:
    result = cli("vaccination", "due", nir, "--ins", nir, OPENDMP_DEV_MODE="false")
    assert result.exit_code != 0 and "dev mode" in result.output


def test_a_resource_file_adds_an_item_and_an_unknown_code_exits_2(nir: str, cli: Any, tmp_path: Path) -> None:
    allergy = {
        "resourceType": "AllergyIntolerance",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "762952008"}]},
    }
    path = tmp_path / "allergy.json"
    path.write_text(json.dumps(allergy))
    added = cli("content", "add", nir, str(path), "--ins", nir)
    assert added.exit_code == 0 and "allergy v1 Arachide" in added.output
    allergy["code"]["coding"][0]["code"] = "1"  # type: ignore[index]
    path.write_text(json.dumps(allergy))
    refused = cli("content", "add", nir, str(path), "--ins", nir)
    assert refused.exit_code == 2 and "AllergyIntolerance.code" in refused.output
    listed = cli("content", "list", nir, "--kind", "allergy", "--ins", nir)
    assert listed.output.count("allergy v1") == 1


def test_a_vaccination_in_the_future_exits_2_and_a_doctor_records_one(runtime: Runtime, nir: str, cli: Any) -> None:
    with f.in_session(runtime) as session:
        record_id = session.execute(select(Patient.record_id)).scalar_one()
    f.authorise(runtime, record_id, Actor.professional(DOCTOR, "10"))
    future = cli("vaccination", "add", nir, "--vaccine", "J07BB02", "--date", "2030-01-01", "--rpps", DOCTOR)
    assert future.exit_code == 2 and "Immunization.occurrenceDateTime" in future.output
    given = cli(
        "vaccination", "add", nir, "--vaccine", "J07BB02", "--date", "2026-01-10", "--lot", "L1", "--rpps", DOCTOR
    )
    assert given.exit_code == 0 and f"RPPS {DOCTOR}" in given.output


def test_directives_with_missing_answers_name_each_and_exit_2(nir: str, cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({k: v for k, v in ANSWERS.items() if k not in ("sedation", "free_text")}))
    refused = cli("directives", "write", nir, str(path), "--ins", nir)
    assert refused.exit_code == 2 and "sedation, free_text" in refused.output
    path.write_text(json.dumps({**ANSWERS, "trusted_person_name": None, "no_trusted_person": True}))
    written = cli("directives", "write", nir, str(path), "--ins", nir)
    assert written.exit_code == 0 and "version 1" in written.output
    again = cli("directives", "write", nir, str(path), "--ins", nir)
    assert "version 2, replaces DocumentReference/" in again.output
    professional = cli("directives", "write", nir, str(path), "--rpps", DOCTOR)
    assert professional.exit_code != 0


def test_a_free_note_is_added_and_listed(nir: str, cli: Any) -> None:
    added = cli("content", "note", nir, "--text", "Porteuse d'un pacemaker", "--title", "À savoir", "--ins", nir)
    assert added.exit_code == 0, added.output
    listed = cli("content", "list", nir, "--kind", "note", "--ins", nir)
    assert "À savoir : Porteuse d'un pacemaker" in listed.output
    empty = cli("content", "note", nir, "--text", "  ", "--ins", nir)
    assert empty.exit_code == 2 and "note.text" in empty.output
