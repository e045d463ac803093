"""`opendmp vsm show RECORD` and the demo's VSM: the sample patient's summary, read from the
command line as a professional or the holder (development mode), decided by the policy."""

from __future__ import annotations

import json
from typing import Any

from opendmp.identity.actor import Actor
from opendmp.kit.db import unit_of_work
from opendmp.runtime import Runtime
from opendmp.summary import service as summaries
from opendmp.summary.demo import DEMO_VSM, write_demo_vsm
from opendmp.summary.forms import to_json
from tests import factories as f
from tests.cli.test_cli import cli  # noqa: F401 - the fixture
from tests.fhir.test_summaries import GP, OTHER_DOCTOR, a_record


def test_the_demo_patient_gets_a_vsm_by_the_demo_doctor_once(runtime: Runtime) -> None:
    doctor = f.add_professional(runtime, "10000000099", "10", family="LAMBERT", given="Hélène")
    ins, traits = f.person(order=801)
    view = f.open_record(runtime, Actor.counter_agent("agent"), ins, traits)
    assert write_demo_vsm(runtime, ins.value, doctor)
    assert not write_demo_vsm(runtime, ins.value, doctor)
    with unit_of_work(runtime.sessions) as session:
        summary = summaries.read_summary(session, doctor, view.record.id, "vsm", runtime.clock.now(), runtime.vault)
    assert summary.author_rpps == doctor.id and summary.version == 1
    assert summary.copy["form"] == to_json(DEMO_VSM)


def test_vsm_show_reads_as_a_professional_or_the_holder_and_the_policy_decides(
    cli: Any,  # noqa: F811
    runtime: Runtime,
) -> None:
    record_id, ins = a_record(runtime)
    missing = cli("vsm", "show", str(record_id), "--rpps", GP.id)
    assert missing.exit_code == 4 and "no VSM" in missing.stderr
    with unit_of_work(runtime.sessions) as session:
        summaries.submit_vsm(session, GP, record_id, DEMO_VSM, runtime.clock.now(), runtime.vault, max_size=10**6)
    shown = cli("vsm", "show", str(record_id), "--rpps", GP.id, "--json")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["form"] == to_json(DEMO_VSM)
    text = cli("vsm", "show", str(record_id), "--ins", ins.value)
    assert text.exit_code == 0 and "VSM version 1" in text.stdout and "Hypertension" in text.stdout
    # An authorised doctor reads it too (class 11, synthèse); a doctor without access does not.
    assert cli("vsm", "show", str(record_id), "--rpps", OTHER_DOCTOR.id).exit_code == 0
    f.add_professional(runtime, "10000000098", "10")
    assert cli("vsm", "show", str(record_id), "--rpps", "10000000098").exit_code == 4
    outside = cli("vsm", "show", str(record_id), "--rpps", GP.id, OPENDMP_DEV_MODE="false")
    assert outside.exit_code == 2 and "development mode only" in outside.stderr
    assert cli("dlu", "show", str(record_id), "--rpps", GP.id).exit_code == 4
