"""Run the benchmarks of the issue and print a markdown summary.

    .venv/bin/python bench/run.py                       # 1,000,000 records, SQLite then PostgreSQL
    .venv/bin/python bench/run.py --patients 20000 --db sqlite

For each database: bench/seed_bench.py (fresh store, `opendmp seed --patients N --seed 42`), then
bench/read_bench.py on the store just seeded. Each prints its full report; the figures are also
written as JSON in --out (default /tmp/opendmp-bench/results/).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import benchlib as bl
import read_bench
import seed_bench

HERE = Path(__file__).parent


def step(script: str, args: list[str], out: Path) -> dict[str, Any]:
    """Run one benchmark script as its own process (its own CPU accounting), echoing its report."""
    command = [sys.executable, str(HERE / script), *args, "--json", str(out)]
    print(f"$ {' '.join(command)}", flush=True)
    subprocess.run(command, check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def yes_no(ok: bool) -> str:
    return "met" if ok else "**missed**"


def summary(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    first = results[0][0]
    lines = [
        f"### OpenDMP benchmarks — {first['date'][:10]}",
        "",
        f"Machine: {bl.machine_line(first['machine'])}.",
        "",
        "| database | records | seed wall | records/s (goal ≥ 20,000) | seeder CPU µs/record | DB server CPU µs/record "
        "| peak RSS MB (goal ≤ 400) | other load (cores) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s, _ in results:
        peak = max(s["peak_rss_mb"], s["peak_tree_rss_mb"])
        lines.append(
            f"| {s['db']} | {s['counts']['record']:,} | {s['wall_s']:.0f} s | {s['records_per_s']:,} "
            f"({yes_no(s['records_per_s'] >= seed_bench.GOAL_RECORDS_PER_S)}) | {s['child_cpu_us_per_record']:.0f} "
            f"| {s['postgres_cpu_us_per_record'] or '—'} | {peak:.0f} ({yes_no(peak <= seed_bench.GOAL_PEAK_MB)}) "
            f"| {s['other_load_cores']:.2f} |"
        )
    lines += [
        "",
        "| database | c=1 p50 ms (goal ≤ 2) | c=1 p99 ms (goal ≤ 8) | c=1 req/s | c=16 req/s | c=16 p50 / p99 ms "
        "| server CPU ms/op (c=1) | DB server CPU ms/op (c=1) | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for _, r in results:
        c1, c16 = r["c1"], r["c16"]
        lines.append(
            f"| {r['db']} | {c1['p50_ms']:.2f} ({yes_no(c1['p50_ms'] <= read_bench.GOAL_P50_MS)}) "
            f"| {c1['p99_ms']:.2f} ({yes_no(c1['p99_ms'] <= read_bench.GOAL_P99_MS)}) "
            f"| {c1['requests_per_s']:,.0f} | {c16['requests_per_s']:,.0f} | {c16['p50_ms']:.1f} / {c16['p99_ms']:.1f} "
            f"| {c1['server_cpu_ms_per_op']:.2f} | {c1['postgres_cpu_ms_per_op'] or '—'} "
            f"| {c1['errors'] + c16['errors']} |"
        )
    lines += [
        "",
        "Commands: `opendmp db upgrade && opendmp seed --patients N --seed 42` on a fresh store; "
        "`taskset -c 0 opendmp serve --port 8123` with the load generator on core 1 "
        "(`POST /fhir/Patient/_search`, body `identifier=urn:oid:1.2.250.1.213.1.4.11|<NIR>`).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--requests", type=int, default=16000, help="requests at concurrency 16")
    parser.add_argument("--out", type=Path, default=bl.STATE_ROOT / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        common = ["--db", db, "--patients", str(args.patients), "--seed", str(args.seed)]
        seeded = step("seed_bench.py", common, args.out / f"seed-{db}-{args.patients}.json")
        read = step(
            "read_bench.py", [*common, "--requests", str(args.requests)], args.out / f"read-{db}-{args.patients}.json"
        )
        results.append((seeded, read))
    text = summary(results)
    (args.out / f"summary-{args.patients}.md").write_text(text + "\n")
    print("\n" + text, flush=True)


if __name__ == "__main__":
    main()
