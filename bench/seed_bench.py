"""Seeding benchmark: `opendmp db upgrade` then `opendmp seed --patients N --seed 42` on a fresh
store, in a subprocess, measured from outside (wall time, records/s, the child's CPU and peak
memory, and on PostgreSQL the server's CPU).

    .venv/bin/python bench/seed_bench.py --db sqlite --patients 1000000
    .venv/bin/python bench/seed_bench.py --db postgres --patients 1000000

Goal (issue): >= 20,000 records/s with journal and ledger, peak memory <= 400 MB.
The store is kept in /tmp/opendmp-bench/<db>-<N>/ for bench/read_bench.py.
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import benchlib as bl

GOAL_RECORDS_PER_S = 20_000
GOAL_PEAK_MB = 400


class MemorySampler(threading.Thread):
    """Samples the resident memory of a process tree every `interval` seconds (bounded by the
    child's life): the peak of the sum, which ru_maxrss (largest single process) cannot give."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                total = sum(bl.rss_bytes(p) for p in bl.descendants(self.pid))
            except OSError:
                break
            self.peak = max(self.peak, total)
            self.stopped.wait(self.interval)


def seed(t: bl.Target, patients: int, seed_value: int, batch: int | None, timeout: float) -> dict[str, Any]:
    """Reset the store, migrate, seed; return the measurements."""
    bl.reset(t)
    log = t.data_dir / "seed.log"
    upgrade_started = time.perf_counter()
    bl.run_opendmp(t, ["db", "upgrade"], log=log)
    upgrade_s = time.perf_counter() - upgrade_started

    args = ["seed", "--patients", str(patients), "--seed", str(seed_value)]
    if batch is not None:
        args += ["--batch", str(batch)]
    pg_meter = bl.PostgresCpu(bl.PG_DATABASE) if t.db == "postgres" else None
    if pg_meter:
        pg_meter.start()
    busy_before = bl.busy_cpu_seconds()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine = bl.machine()  # the load average as the seed starts
    with log.open("ab") as stderr:
        started = time.perf_counter()
        child = subprocess.Popen([bl.OPENDMP, *args], env=t.env, stdout=subprocess.DEVNULL, stderr=stderr)
        sampler = MemorySampler(child.pid)
        sampler.start()
        try:
            code = child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise SystemExit(f"seed did not finish within {timeout:.0f} s (see {log})") from None
        finally:
            sampler.stopped.set()
        wall = time.perf_counter() - started
    sampler.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = bl.busy_cpu_seconds() - busy_before
    pg_cpu = pg_meter.stop() if pg_meter else None
    text = log.read_text(errors="replace")
    if code != 0:
        raise SystemExit(f"opendmp seed failed with exit code {code}:\n{text[-3000:]}")
    # The CLI's own line: "N records, P professionals, O organisations in X s (Y records/s)".
    match = re.search(r"(\d+) records, (\d+) professionals, (\d+) organisations in ([\d.]+) s", text)
    in_process_s = float(match.group(4)) if match else None
    counts = bl.table_counts(t)
    user = usage.ru_utime - usage_before.ru_utime
    system = usage.ru_stime - usage_before.ru_stime
    result: dict[str, Any] = {
        "benchmark": "seed",
        "date": bl.now_iso(),
        "machine": machine,
        "database": bl.server_version(t),
        "db": t.db,
        "patients": patients,
        "seed": seed_value,
        "command": f"{t.describe_command(['db', 'upgrade'])} && {t.describe_command(args)}",
        "counts": counts,
        "professionals": int(match.group(2)) if match else None,
        "organisations": int(match.group(3)) if match else None,
        "upgrade_s": round(upgrade_s, 2),
        "wall_s": round(wall, 2),
        "records_per_s": round(counts["record"] / wall),
        "in_process_s": in_process_s,
        "in_process_records_per_s": round(counts["record"] / in_process_s) if in_process_s else None,
        "child_cpu_s": round(user + system, 2),
        "child_user_s": round(user, 2),
        "child_system_s": round(system, 2),
        "child_cpu_us_per_record": round((user + system) / max(1, counts["record"]) * 1e6, 1),
        "postgres_cpu_s": round(pg_cpu, 2) if pg_cpu is not None else None,
        "postgres_cpu_us_per_record": round(pg_cpu / max(1, counts["record"]) * 1e6, 1) if pg_cpu else None,
        # What the rest of the machine burnt meanwhile (other users' processes): in cores.
        "other_load_cores": round(max(0.0, busy - (user + system) - (pg_cpu or 0.0)) / wall, 2),
        # ru_maxrss is in KiB on Linux: the largest of the waited-for children (here, the seeder).
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "peak_tree_rss_mb": round(sampler.peak / 1024 / 1024, 1),
        "database_bytes": bl.database_size(t),
    }
    t.save_state(patients=patients, seed=seed_value, records=counts["record"], seeded_at=result["date"])
    return result


def report(r: dict[str, Any]) -> str:
    counts = r["counts"]
    met_rate = r["records_per_s"] >= GOAL_RECORDS_PER_S
    met_mem = r["peak_rss_mb"] <= GOAL_PEAK_MB and r["peak_tree_rss_mb"] <= GOAL_PEAK_MB
    pg = (
        f"\n  PostgreSQL server CPU {r['postgres_cpu_s']:.1f} s ({r['postgres_cpu_us_per_record']:.0f} µs/record; "
        "this database's backends and autovacuum, plus checkpointer, background and WAL writers)"
        if r["postgres_cpu_s"] is not None
        else ""
    )
    lines = [
        f"== opendmp seed benchmark ({r['db']}) ==",
        f"date      {r['date']}",
        f"machine   {bl.machine_line(r['machine'])}",
        f"database  {r['database']}",
        f"dataset   {counts['record']:,} records (seed {r['seed']}), {r['professionals']:,} professionals, "
        f"{r['organisations']:,} organisations; {counts['journal_entry']:,} journal entries, "
        f"{counts['remuneration_entry']:,} ledger entries, {counts['authorisation']:,} authorisations, "
        f"{counts['legal_representative']:,} legal representatives; "
        f"{r['database_bytes'] / 1024**3:.2f} GiB on disk",
        f"command   {r['command']}",
        "figures",
        f"  wall {r['wall_s']:.1f} s (process start to exit) -> {r['records_per_s']:,} records/s",
        f"  in-process (the CLI's own timing, without start-up) {r['in_process_s']} s "
        f"-> {r['in_process_records_per_s'] or 0:,} records/s",
        f"  seeder CPU {r['child_cpu_s']:.1f} s (user {r['child_user_s']:.1f}, system {r['child_system_s']:.1f}; "
        f"{r['child_cpu_us_per_record']:.0f} µs/record){pg}",
        f"  peak memory: ru_maxrss {r['peak_rss_mb']:.0f} MB; sampled process tree RSS {r['peak_tree_rss_mb']:.0f} MB",
        f"  other processes on the machine used {r['other_load_cores']:.2f} of the {r['machine']['cores']} cores "
        "meanwhile",
        f"  migration (db upgrade) {r['upgrade_s']:.1f} s, not counted",
        f"goal      >= {GOAL_RECORDS_PER_S:,} records/s: {'MET' if met_rate else 'MISSED'} "
        f"({r['records_per_s']:,}/s); peak memory <= {GOAL_PEAK_MB} MB: {'MET' if met_mem else 'MISSED'} "
        f"({max(r['peak_rss_mb'], r['peak_tree_rss_mb']):.0f} MB)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch", type=int, default=None, help="records per transaction (default: the CLI's)")
    parser.add_argument("--data-dir", type=Path, default=None, help="default /tmp/opendmp-bench/<db>-<N>")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="give up after this many seconds")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    t = bl.target(args.db, args.patients, args.data_dir)
    result = seed(t, args.patients, args.seed, args.batch, args.timeout)
    print(report(result), flush=True)
    bl.save_json(args.json, result)


if __name__ == "__main__":
    main()
