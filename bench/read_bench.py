"""Patient read by INS over HTTP: `POST /fhir/Patient/_search` with the form body
`identifier=urn:oid:1.2.250.1.213.1.4.11|<NIR>`, as a doctor (a profession-10 professional).

The server is `opendmp serve` pinned to core 0 (`taskset -c 0`), dev mode; this process, the load
generator, pins itself to core 1. Loopback only, bounded loops only.

    (a) concurrency 1: sequential requests on one keep-alive connection (http.client), after a
        warm-up: p50/p95/p99/max latency, requests/s;
    (b) concurrency 16: 16 threads, one keep-alive connection each, a fixed number of requests:
        requests/s, p50/p99;
    (c) CPU-seconds per operation of the server process (/proc/<pid>/stat utime + stime), and on
        PostgreSQL of the database server too.

Every answer must be 200 with a Bundle of total 1; anything else is counted as an error.

    .venv/bin/python bench/read_bench.py --db sqlite --patients 1000000

The store seeded by bench/seed_bench.py for the same --db and --patients is reused when it holds
that many records; otherwise it is seeded first (and that takes a while at 1,000,000).

Goal (issue): p50 <= 2 ms and p99 <= 8 ms at concurrency 1, with 1,000,000 records.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import benchlib as bl
import seed_bench

DEMO_SYSTEM = "urn:oid:1.2.250.1.213.1.4.11"
GOAL_P50_MS = 2.0
GOAL_P99_MS = 8.0
PATH = "/fhir/Patient/_search"


def ensure_seeded(t: bl.Target, patients: int, seed_value: int) -> dict[str, Any] | None:
    """Reuse the seeded store when it holds `patients` records, else seed it (returns the figures)."""
    state = t.load_state()
    if state and state.get("patients") == patients and state.get("seed") == seed_value:
        try:
            if bl.table_counts(t)["record"] >= patients:
                return None
        except Exception as error:  # a missing or foreign database: seed again
            print(f"stored dataset unusable ({type(error).__name__}): seeding again", flush=True)
    print(f"seeding {patients:,} records on {t.db} first…", flush=True)
    result = seed_bench.seed(t, patients, seed_value, None, 4 * 3600)
    print(seed_bench.report(result), flush=True)
    return result


def pick(t: bl.Target, count: int, seed_value: int) -> tuple[str, list[str], int]:
    """A doctor's RPPS and `count` NIRs drawn with a seeded generator (same data, same picks)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(t.database_url)
    try:
        with engine.connect() as conn:
            rpps = conn.execute(
                text("SELECT rpps FROM professional WHERE profession = '10' ORDER BY rpps LIMIT 1")
            ).scalar_one()
            nirs = sorted(
                conn.execute(
                    text("SELECT ins_value FROM patient WHERE ins_system = :s"), {"s": DEMO_SYSTEM.split(":")[-1]}
                ).scalars()
            )
    finally:
        engine.dispose()
    return rpps, random.Random(seed_value).sample(nirs, min(count, len(nirs))), len(nirs)


class Server:
    """`taskset -c <core> opendmp serve --port <port>`, started and stopped by its pid."""

    def __init__(self, t: bl.Target, port: int, core: int) -> None:
        self.port = port
        self.log = t.data_dir / "server.log"
        self.command = f"taskset -c {core} {t.describe_command(['serve', '--port', str(port)])}"
        with self.log.open("ab") as stderr:
            self.process = subprocess.Popen(
                ["taskset", "-c", str(core), bl.OPENDMP, "serve", "--port", str(port)],
                env=t.env,
                stdout=stderr,
                stderr=stderr,
            )
        if not bl.wait_until(self.ready, timeout=60, interval=0.2):
            self.stop()
            raise SystemExit(f"the server did not answer /healthz within 60 s (see {self.log})")

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise SystemExit(f"the server exited with code {self.process.returncode} (see {self.log})")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Client:
    """One keep-alive connection; `search` returns (latency in seconds, ok)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/fhir+json",
        }
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def search(self, body: bytes) -> tuple[float, bool]:
        started = time.perf_counter()
        try:
            self.conn.request("POST", PATH, body=body, headers=self.headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return time.perf_counter() - started, False
        elapsed = time.perf_counter() - started
        if response.status != 200:
            return elapsed, False
        try:
            bundle = json.loads(data)
        except ValueError:
            return elapsed, False
        return elapsed, bundle.get("resourceType") == "Bundle" and bundle.get("total") == 1

    def close(self) -> None:
        self.conn.close()


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def summarise(latencies: list[float], wall: float, errors: int) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "errors": errors,
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(latencies) / wall, 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
        "p50_ms": round(percentile(ordered, 50) * 1000, 3),
        "p95_ms": round(percentile(ordered, 95) * 1000, 3),
        "p99_ms": round(percentile(ordered, 99) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


class Meter:
    """CPU of the server process (and PostgreSQL's) and of the machine across a phase."""

    def __init__(self, server_pid: int, postgres: bool) -> None:
        self.server_pid, self.postgres = server_pid, postgres

    def __enter__(self) -> Meter:
        self.server0 = bl.cpu_seconds(self.server_pid)
        self.pg_meter = bl.PostgresCpu(bl.PG_DATABASE, interval=0.5) if self.postgres else None
        if self.pg_meter:
            self.pg_meter.start()
        self.busy0 = bl.busy_cpu_seconds()
        self.client0 = time.process_time()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.started
        self.server = bl.cpu_seconds(self.server_pid) - self.server0
        self.pg = self.pg_meter.stop() if self.pg_meter else 0.0
        self.client = time.process_time() - self.client0
        self.others = max(0.0, bl.busy_cpu_seconds() - self.busy0 - self.server - self.pg - self.client)

    def figures(self, operations: int) -> dict[str, Any]:
        per = max(1, operations)
        return {
            "server_cpu_s": round(self.server, 3),
            "server_cpu_ms_per_op": round(self.server / per * 1000, 3),
            "postgres_cpu_ms_per_op": round(self.pg / per * 1000, 3) if self.postgres else None,
            "client_cpu_ms_per_op": round(self.client / per * 1000, 3),
            "other_load_cores": round(self.others / self.wall, 2),
        }


def sequential(port: int, token: str, bodies: list[bytes], warmup: int, meter: Meter) -> dict[str, Any]:
    client = Client(port, token)
    for i in range(warmup):
        client.search(bodies[i % len(bodies)])
    latencies: list[float] = []
    errors = 0
    with meter:
        for body in bodies:
            elapsed, ok = client.search(body)
            latencies.append(elapsed)
            errors += not ok
    client.close()
    return {**summarise(latencies, meter.wall, errors), **meter.figures(len(bodies))}


def concurrent(port: int, token: str, bodies: list[bytes], threads: int, total: int, meter: Meter) -> dict[str, Any]:
    per_thread = total // threads
    results: list[tuple[list[float], int]] = [([], 0)] * threads
    start = threading.Barrier(threads + 1)

    def worker(index: int) -> None:
        client = Client(port, token)
        client.search(bodies[index % len(bodies)])  # connect before the clock starts
        latencies: list[float] = []
        errors = 0
        start.wait()
        for n in range(per_thread):
            elapsed, ok = client.search(bodies[(index + n * threads) % len(bodies)])
            latencies.append(elapsed)
            errors += not ok
        results[index] = (latencies, errors)
        client.close()

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    with meter:
        start.wait()
        for thread in pool:
            thread.join()
    latencies = [x for lat, _ in results for x in lat]
    errors = sum(e for _, e in results)
    return {**summarise(latencies, meter.wall, errors), **meter.figures(len(latencies)), "threads": threads}


def run(args: argparse.Namespace) -> dict[str, Any]:
    t = bl.target(args.db, args.patients, args.data_dir)
    seeded = ensure_seeded(t, args.patients, args.seed)
    rpps, nirs, population = pick(t, args.nirs, args.seed)
    bodies = [urllib.parse.urlencode({"identifier": f"{DEMO_SYSTEM}|{nir}"}).encode() for nir in nirs]
    token = bl.run_opendmp(t, ["dev-token", "--rpps", rpps]).strip()
    machine = bl.machine()  # before pinning: nproc counts the cores this process may use
    server = Server(t, args.port, args.server_core)
    try:
        os.sched_setaffinity(0, {args.client_core})  # the load generator stays off the server's core
        postgres = t.db == "postgres"
        c1 = sequential(args.port, token, bodies, args.warmup, Meter(server.pid, postgres))
        c16 = concurrent(args.port, token, bodies, args.concurrency, args.requests, Meter(server.pid, postgres))
    finally:
        server.stop()
    return {
        "benchmark": "read",
        "date": bl.now_iso(),
        "machine": machine,
        "database": bl.server_version(t),
        "db": t.db,
        "patients": population,
        "seed": args.seed,
        "nirs": len(nirs),
        "rpps": rpps,
        "server_command": server.command,
        "client": f"this script pinned to core {args.client_core}: http.client keep-alive, POST {PATH}",
        "warmup": args.warmup,
        "c1": c1,
        "c16": c16,
        "seeded_now": seeded,
    }


def report(r: dict[str, Any]) -> str:
    c1, c16 = r["c1"], r["c16"]
    met = c1["p50_ms"] <= GOAL_P50_MS and c1["p99_ms"] <= GOAL_P99_MS

    def cpu(p: dict[str, Any]) -> str:
        pg = f", PostgreSQL {p['postgres_cpu_ms_per_op']:.3f} ms" if p["postgres_cpu_ms_per_op"] is not None else ""
        return (
            f"server CPU {p['server_cpu_ms_per_op']:.3f} ms/op{pg}, client {p['client_cpu_ms_per_op']:.3f} ms/op; "
            f"other processes used {p['other_load_cores']:.2f} cores meanwhile"
        )

    lines = [
        f"== opendmp read-by-INS benchmark ({r['db']}) ==",
        f"date      {r['date']}",
        f"machine   {bl.machine_line(r['machine'])}",
        f"database  {r['database']}",
        f"dataset   {r['patients']:,} patients (seed {r['seed']}); {r['nirs']:,} NIRs drawn with random.Random"
        f"({r['seed']}); as the doctor RPPS {r['rpps']} (dev token)",
        f"server    {r['server_command']}",
        f"client    {r['client']} (body identifier={DEMO_SYSTEM}|<NIR>)",
        "figures",
        f"  concurrency 1: {c1['requests']:,} requests after {r['warmup']} warm-up, {c1['errors']} errors; "
        f"p50 {c1['p50_ms']:.2f} ms, p95 {c1['p95_ms']:.2f} ms, p99 {c1['p99_ms']:.2f} ms, "
        f"max {c1['max_ms']:.2f} ms; {c1['requests_per_s']:,.0f} requests/s",
        f"    {cpu(c1)}",
        f"  concurrency {c16['threads']}: {c16['requests']:,} requests, {c16['errors']} errors; "
        f"{c16['requests_per_s']:,.0f} requests/s; p50 {c16['p50_ms']:.2f} ms, p99 {c16['p99_ms']:.2f} ms, "
        f"max {c16['max_ms']:.2f} ms",
        f"    {cpu(c16)}",
        f"goal      p50 <= {GOAL_P50_MS} ms and p99 <= {GOAL_P99_MS} ms at concurrency 1: "
        f"{'MET' if met else 'MISSED'} (p50 {c1['p50_ms']:.2f} ms, p99 {c1['p99_ms']:.2f} ms)",
    ]
    if c1["errors"] or c16["errors"]:
        lines.append(f"ERRORS    {c1['errors'] + c16['errors']} requests did not answer 200 with total 1")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, default=None, help="default /tmp/opendmp-bench/<db>-<N>")
    parser.add_argument("--nirs", type=int, default=2000, help="NIRs drawn, one request each at concurrency 1")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=16000, help="requests at the higher concurrency")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    result = run(args)
    print(report(result), flush=True)
    bl.save_json(args.json, result)


if __name__ == "__main__":
    main()
