"""Demo start time: `opendmp demo` on a fresh data folder, from launch until /healthz answers
(migration, records, synthetic documents, the sample patient, the provider), then stopped.

    .venv/bin/python bench/demo_start.py                     # 2,000 patients, the default
    .venv/bin/python bench/demo_start.py --documents-per-week 0   # the same without documents

Goal (docs task): ready in under about a minute on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import benchlib as bl
import httpx

GOAL_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--documents-per-week", type=float, default=None, help="default: the demo's")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--data-dir", type=Path, default=bl.STATE_ROOT / "demo-start")
    args = parser.parse_args()
    if args.data_dir.exists():
        shutil.rmtree(args.data_dir)
    args.data_dir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
    env["OPENDMP_DATA_DIR"] = str(args.data_dir / "store")
    command = [bl.OPENDMP, "demo", "--patients", str(args.patients), "--port", str(args.port)]
    if args.documents_per_week is not None:
        command += ["--documents-per-week", str(args.documents_per_week)]
    machine = bl.machine()
    log = args.data_dir / "demo.log"
    started = time.perf_counter()
    with log.open("wb") as sink:
        child = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{args.port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if child.poll() is not None:
            raise SystemExit(f"the demo stopped:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    wall = time.perf_counter() - started
    load = os.getloadavg()
    os.killpg(child.pid, signal.SIGTERM)
    child.wait(timeout=60)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with sqlite3.connect(args.data_dir / "store" / "opendmp.sqlite3") as db:
        records = db.execute("SELECT count(*) FROM record").fetchone()[0]
        documents = db.execute("SELECT count(*) FROM document").fetchone()[0]
    print(
        "\n".join(
            [
                "== opendmp demo start ==",
                f"date      {bl.now_iso()}",
                f"machine   {bl.machine_line(machine)}; load average at ready {load[0]:.1f}",
                f"dataset   {records:,} records, {documents:,} documents",
                f"command   {' '.join(command[1:])} (fresh data folder)",
                f"figures   ready after {wall:.1f} s wall; demo process CPU {usage.ru_utime + usage.ru_stime:.1f} s",
                f"goal      <= {GOAL_S:.0f} s: {'MET' if wall <= GOAL_S else 'MISSED'} ({wall:.1f} s)",
            ]
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
