"""Patient content: adding a sealed item, and the emergency summary of a record with many items.

    PYTHONPATH=src .venv/bin/python bench/content/content_bench.py [--items 200] [--runs 200]

A fresh SQLite store in a temporary folder (WAL, synchronous=FULL, as shipped), one record,
one transaction per call, through the real services (policy, journal, key store, AES-GCM).
Deterministic dataset: 3 items (blood group, treatment, person to notify) then `--items`
allergies numbered 0..N-1. Prints the machine, the dataset, the command and the medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: tests.factories, bench.benchlib

from bench.benchlib import machine, machine_line
from tests import factories as f

from opendmp import migrate
from opendmp.config import Environment, Settings
from opendmp.content import service as content
from opendmp.content.schemas import Allergy, BloodGroup, PersonToNotify, Treatment
from opendmp.identity.actor import Actor
from opendmp.kit.db import unit_of_work
from opendmp.runtime import build_runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="opendmp-content-bench-"))
    url = f"sqlite:///{folder}/content.sqlite3"
    migrate.upgrade(url)
    settings = Settings(
        env=Environment.TEST, dev_mode=True, data_dir=folder / "data", database_url=url, journal_checkpoint_interval=0
    )
    runtime = build_runtime(settings)
    ins, traits = f.person()
    record_id = f.open_record(runtime, Actor.counter_agent("bench"), ins, traits).record.id
    holder = Actor.patient(ins)
    keys = runtime.vault.keys
    with unit_of_work(runtime.sessions) as session:
        for data in (BloodGroup("278149003"), Treatment("B01AA03"), PersonToNotify("P", "SPS", phone="0600000000")):
            content.add_content(session, holder, record_id, data, runtime.clock.now(), keys)
    adds = []
    for i in range(args.items):
        started = time.perf_counter()
        with unit_of_work(runtime.sessions) as session:
            content.add_content(session, holder, record_id, Allergy(text=f"allergie {i}"), runtime.clock.now(), keys)
        adds.append(time.perf_counter() - started)
    summaries = []
    for _ in range(args.runs):
        started = time.perf_counter()
        with unit_of_work(runtime.sessions) as session:
            content.emergency_summary(session, holder, record_id, runtime.clock.now(), keys)
        summaries.append(time.perf_counter() - started)
    runtime.close()
    print(machine_line(machine()))
    print(f"dataset: 1 record, {3 + args.items} items (3 + {args.items} allergies); SQLite in {folder}")
    print(f"command: {' '.join(sys.argv)}")
    print(f"add one item: median {statistics.median(adds) * 1000:.2f} ms over {len(adds)} transactions")
    print(
        f"emergency summary ({3 + args.items} items decrypted): median {statistics.median(summaries) * 1000:.2f} ms "
        f"over {len(summaries)} transactions"
    )


if __name__ == "__main__":
    main()
