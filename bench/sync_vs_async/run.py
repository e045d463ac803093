"""Sync or async database access on the record-open path: measure both.

    .venv/bin/python bench/sync_vs_async/run.py --db sqlite|postgres [--repeats 3]

Creates throwaway tables (a temp SQLite file, or a temp PostgreSQL database created and dropped
here), serves benchapp.py with uvicorn (1 worker, pinned to core 0 with taskset), drives it from
client.py (pinned to core 1) over loopback, and prints machine info and a table: p50/p99 latency,
requests/s, server CPU per request (from /proc/<pid>/stat), errors, for

  open   - insert a record row and a patient row, SELECT ... FOR UPDATE a journal head, insert the
           journal entry chained to it, update the head, commit
  lookup - SELECT one record row by primary key (in a transaction, as opendmp's unit of work)

each served by a sync handler + Session (thread pool) and by an async handler + AsyncSession,
at concurrency 1 and 16. Runs are repeated (--repeats) in alternating order (sync first, then
async first, ...), and the figures pool the repeats. After the runs every journal chain is
verified (links, hashes, heads), so that a race in either variant would show.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benchapp  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


# ------------------------------------------------------------------ machine


def machine_info() -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    mem = next(
        line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    import sqlite3

    versions = []
    for name in ("litestar", "uvicorn", "uvloop", "httptools", "SQLAlchemy", "psycopg", "aiosqlite", "greenlet"):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} -")
    return [
        f"nproc: {os.cpu_count()}  memory: {int(mem) // 1024} MiB  cpu: {model}",
        f"kernel: {platform.release()}  python: {platform.python_version()}  sqlite: {sqlite3.sqlite_version}",
        "packages: " + ", ".join(versions),
        f"load average at start: {Path('/proc/loadavg').read_text().split()[:3]}",
    ]


# ------------------------------------------------------------------ database


class Database:
    def __init__(self, kind: str, heads: int, seeded: int) -> None:
        self.kind, self.heads, self.seeded = kind, heads, seeded
        self.tmp = Path(tempfile.mkdtemp(prefix="opendmp-syncasync-"))
        self.pg_name: str | None = None
        if kind == "sqlite":
            path = self.tmp / "bench.sqlite3"
            self.sync_url, self.async_url = f"sqlite:///{path}", f"sqlite+aiosqlite:///{path}"
        else:
            self.pg_name = f"opendmp_bench_syncasync_{os.getpid()}"
            base = f"postgres@127.0.0.1:5432/{self.pg_name}"
            self.sync_url = self.async_url = f"postgresql+psycopg://{base}"
        self.version = ""

    def create(self) -> None:
        from sqlalchemy import create_engine, insert, text

        if self.pg_name:
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.pg_name}"'))
            admin.dispose()
        engine = benchapp.make_sync_engine(self.sync_url, 2)
        benchapp.Base.metadata.create_all(engine)
        now = datetime.now(UTC)
        with engine.begin() as conn:
            if self.pg_name:
                self.version = conn.execute(text("SHOW server_version")).scalar_one()
                settings = conn.execute(
                    text("SELECT name || '=' || setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit')")
                ).scalars()
                self.version = f"PostgreSQL {self.version} ({', '.join(settings)})"
            else:
                mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()
                sync = conn.exec_driver_sql("PRAGMA synchronous").scalar_one()
                self.version = f"SQLite file {self.sync_url[10:]} (journal_mode={mode}, synchronous={sync})"
            conn.execute(
                insert(benchapp.JournalHead),
                [{"chain": benchapp.chain_name(i), "seq": 0, "hash": benchapp.GENESIS_HASH} for i in range(self.heads)],
            )
            conn.execute(
                insert(benchapp.Record),
                [
                    {
                        "id": uuid.UUID(int=i),
                        "status": "active",
                        "version": 1,
                        "channel": "health_professional",
                        "opened_at": now,
                        "opened_by": "seed",
                        "consent_at": now,
                        "consent_method": "oral",
                        "updated_at": now,
                    }
                    for i in range(1, self.seeded + 1)
                ],
            )
        engine.dispose()

    def verify(self) -> tuple[int, int, list[str]]:
        """(journal entries, records opened, problems): every chain checked link by link."""
        from sqlalchemy import func, select

        engine = benchapp.make_sync_engine(self.sync_url, 2)
        problems: list[str] = []
        with engine.connect() as conn:
            heads = {h.chain: h for h in conn.execute(select(benchapp.JournalHead))}
            entries = conn.execute(
                select(benchapp.JournalEntry).order_by(benchapp.JournalEntry.chain, benchapp.JournalEntry.seq)
            ).all()
            opened = conn.execute(select(func.count()).select_from(benchapp.Patient)).scalar_one()
        engine.dispose()
        last: dict[str, Any] = {}
        for e in entries:
            prev = last.get(e.chain)
            want_seq, want_prev = (prev.seq + 1, prev.hash) if prev else (1, benchapp.GENESIS_HASH)
            if e.seq != want_seq or e.prev_hash != want_prev:
                problems.append(f"chain {e.chain} broken at seq {e.seq}")
            fields = dict(e._mapping)
            if fields["at"].tzinfo is not None:  # PostgreSQL answers in the session's time zone
                fields["at"] = fields["at"].astimezone(UTC)
            if benchapp.entry_hash(fields) != e.hash:
                problems.append(f"chain {e.chain} seq {e.seq}: hash mismatch")
            last[e.chain] = e
        for chain, head in heads.items():
            tail = last.get(chain)
            got = (tail.seq, tail.hash) if tail else (0, benchapp.GENESIS_HASH)
            if got != (head.seq, head.hash):
                problems.append(f"chain {chain}: head does not match its last entry")
        return len(entries), opened, problems

    def drop(self) -> None:
        from sqlalchemy import create_engine, text

        if self.pg_name:
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ------------------------------------------------------------------ server and client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def niced(level: int) -> list[str]:
    return ["nice", "-n", str(level)] if level else []


def start_server(db: Database, port: int, pool_size: int, server_core: str, nice: int) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        BENCH_SYNC_URL=db.sync_url,
        BENCH_ASYNC_URL=db.async_url,
        BENCH_HEADS=str(db.heads),
        BENCH_POOL_SIZE=str(pool_size),
        PYTHONDONTWRITEBYTECODE="1",
    )
    cmd = [*niced(nice),
        "taskset", "-c", server_core, sys.executable, "-m", "uvicorn", "benchapp:create_app", "--factory",
        "--app-dir", str(HERE), "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    log = (db.tmp / "server.log").open("wb")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)  # nice, taskset exec: same pid
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited: {(db.tmp / 'server.log').read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                if json.load(response)["pid"] == server.pid:
                    return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("server did not start")


def busy_cores(seconds: float) -> float:
    """How many cores the whole machine kept busy over a short sample."""
    from client import system_busy

    before = system_busy()
    time.sleep(seconds)
    return (system_busy() - before) / seconds


def wait_quiet(limit_s: float) -> float:
    """Wait (up to limit_s) until other work on the machine leaves it idle: others share it."""
    deadline = time.monotonic() + limit_s
    while True:
        load = busy_cores(1.0)
        if load < 0.35 or time.monotonic() >= deadline:
            return load


def connects(port: int, mode: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        return int(json.load(response)["connects"][mode])


def run_client(args: argparse.Namespace, db: Database, port: int, server_pid: int, **kw: Any) -> dict[str, Any]:
    n = kw["requests"]
    idle = wait_quiet(args.quiet_wait)
    connected = connects(port, kw["mode"])
    cmd = [*niced(args.nice),
        "taskset", "-c", args.client_core, sys.executable, str(HERE / "client.py"),
        "--port", str(port), "--mode", kw["mode"], "--route", kw["route"],
        "--concurrency", str(kw["concurrency"]), "--requests", str(n),
        "--warmup", str(max(args.min_warmup, n // 10)), "--seeded", str(db.seeded),
        "--server-pid", str(server_pid),
    ]  # fmt: skip
    if db.pg_name:
        cmd += ["--postgres-db", db.pg_name]
    done = subprocess.run(cmd, capture_output=True, check=False, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"client failed: {done.stderr.decode()}")
    result = json.loads(done.stdout)
    result["busy_before"] = idle
    result["new_connections"] = connects(port, kw["mode"]) - connected  # warm-up included
    return result


# ------------------------------------------------------------------ figures


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    lat = sorted(x for r in runs for x in r["latencies_ms"])
    wall = sum(r["wall_s"] for r in runs)
    n = sum(r["requests"] for r in runs)
    own = sum(r["server_cpu_s"] + r["postgres_cpu_s"] + r["client_cpu_s"] for r in runs)
    return {
        "ok": len(lat),
        "new_connections": sum(r["new_connections"] for r in runs),
        "errors": sum(r["errors"] + r["warmup_errors"] for r in runs),
        "error_samples": sorted({s for r in runs for s in r["error_samples"]})[:3],
        "mean": statistics.fmean(lat) if lat else float("nan"),
        "p50": percentile(lat, 0.50),
        "p99": percentile(lat, 0.99),
        "rps": len(lat) / wall,
        "rps_each": [r["ok"] / r["wall_s"] for r in runs],
        "server_cpu_ms": 1000 * sum(r["server_cpu_s"] for r in runs) / n,
        "pg_cpu_ms": 1000 * sum(r["postgres_cpu_s"] for r in runs) / n,
        "server_util": sum(r["server_cpu_s"] for r in runs) / wall,
        "other_load": max(0.0, (sum(r["system_busy_s"] for r in runs) - own) / wall),
    }


def table(results: dict[tuple[str, int, str], dict[str, Any]], pg: bool) -> list[str]:
    head = "| path | conc | access | ok | errors | p50 ms | p99 ms | mean ms | req/s (each run) | server CPU ms/req |"
    rule = "|---|---:|---|---:|---:|---:|---:|---:|---|---:|"
    if pg:
        head += " PG backend CPU ms/req |"
        rule += "---:|"
    head += " server core busy | other load (cores) | new db conns |"
    rule += "---:|---:|---:|"
    lines = [head, rule]
    for (route, conc, mode), f in results.items():
        each = "/".join(f"{x:.0f}" for x in f["rps_each"])
        line = (
            f"| {route} | {conc} | {mode} | {f['ok']} | {f['errors']} | {f['p50']:.2f} | {f['p99']:.2f} | {f['mean']:.2f} "
            f"| {f['rps']:.0f} ({each}) | {f['server_cpu_ms']:.2f} |"
        )
        if pg:
            line += f" {f['pg_cpu_ms']:.2f} |"
        line += f" {100 * f['server_util']:.0f}% | {f['other_load']:.2f} | {f['new_connections']} |"
        lines.append(line)
    lines += ["", "async relative to sync (positive = async better):", ""]
    lines += ["| path | conc | req/s | p50 | p99 | server CPU/req |", "|---|---:|---:|---:|---:|---:|"]
    for route, conc in dict.fromkeys((r, c) for r, c, _ in results):
        s, a = results[(route, conc, "sync")], results[(route, conc, "async")]
        lines.append(
            f"| {route} | {conc} | {100 * (a['rps'] / s['rps'] - 1):+.1f}% | {100 * (1 - a['p50'] / s['p50']):+.1f}% "
            f"| {100 * (1 - a['p99'] / s['p99']):+.1f}% | {100 * (1 - a['server_cpu_ms'] / s['server_cpu_ms']):+.1f}% |"
        )
    return lines


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), required=True)
    parser.add_argument("--c1-requests", type=int, default=2000, help="measured requests at concurrency 1")
    parser.add_argument("--c16-requests", type=int, default=5000, help="measured requests at concurrency 16")
    parser.add_argument("--min-warmup", type=int, default=200, help="warm-up requests (at least; else 10%%)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each case, alternating which goes first")
    parser.add_argument("--routes", default="open,lookup")
    parser.add_argument(
        "--heads", type=int, default=1000, help="journal chains the opens spread over (1 = one hot row)"
    )
    parser.add_argument("--seeded", type=int, default=10000, help="records present for the lookups")
    parser.add_argument("--pool-size", type=int, default=10, help="pool_size = max_overflow, as kit/db.py")
    parser.add_argument("--server-core", default="0")
    parser.add_argument("--client-core", default="1")
    parser.add_argument("--quiet-wait", type=float, default=45, help="wait up to this long for an idle machine")
    parser.add_argument(
        "--nice",
        type=int,
        default=-10 if os.geteuid() == 0 else 0,
        help="run server and client at this nice level (default -10 as root): the machine may be shared, and "
        "the scheduler would otherwise give a many-threaded server a bigger share of a busy core than a "
        "one-threaded event loop",
    )
    parser.add_argument("--json", default=None, help="also write the raw results here")
    args = parser.parse_args()

    print("# sync vs async database access on the record-open path")
    print("command: " + shlex.join([Path(sys.executable).name, *sys.argv]))
    print(f"started: {datetime.now(UTC).isoformat(timespec='seconds')}")
    for line in machine_info():
        print(line)

    db = Database(args.db, args.heads, args.seeded)
    server: subprocess.Popen[bytes] | None = None
    try:
        db.create()
        print(f"database: {db.version}")
        print(
            f"server: uvicorn, 1 worker, taskset -c {args.server_core}; client: taskset -c {args.client_core}; "
            f"pool_size={args.pool_size} max_overflow={args.pool_size}; heads={args.heads}; repeats={args.repeats}; "
            f"nice={args.nice}"
        )
        port = free_port()
        server = start_server(db, port, args.pool_size, args.server_core, args.nice)
        runs: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
        cases = [(r, c, n) for r in args.routes.split(",") for c, n in ((1, args.c1_requests), (16, args.c16_requests))]
        for route, conc, n in cases:
            for rep in range(args.repeats):
                order = ("sync", "async") if rep % 2 == 0 else ("async", "sync")
                for mode in order:
                    result = run_client(
                        args, db, port, server.pid, mode=mode, route=route, concurrency=conc, requests=n
                    )
                    runs.setdefault((route, conc, mode), []).append(result)
                    print(
                        f"  {route:6} c={conc:<2} {mode:5} run {rep + 1}: {result['ok'] / result['wall_s']:7.0f} req/s"
                        f"  p50 {percentile(sorted(result['latencies_ms']), 0.5):6.2f} ms"
                        f"  errors {result['errors'] + result['warmup_errors']}"
                        f"  (other load {max(0.0, result['system_busy_s'] - result['server_cpu_s'] - result['postgres_cpu_s'] - result['client_cpu_s']) / result['wall_s']:.2f} cores,"
                        f" {result['busy_before']:.2f} busy before; {result['new_connections']} new db connections)",
                        flush=True,
                    )
        results = {key: pooled(value) for key, value in runs.items()}
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        server_log = (db.tmp / "server.log").read_text().strip()
        server = None
        entries, opened, problems = db.verify()
        print()
        for line in table(results, db.pg_name is not None):
            print(line)
        print()
        print(
            f"check: {opened} records opened, {entries} journal entries over {args.heads} chains, "
            f"{'chains intact' if not problems else f'{len(problems)} problems: {problems[:3]}'}"
        )
        samples = {s for f in results.values() for s in f["error_samples"]}
        if samples:
            print(f"error samples: {sorted(samples)}")
        if server_log:
            print("server log (tail):\n" + "\n".join(server_log.splitlines()[-10:]))
        if args.json:
            raw = {f"{r}/c{c}/{m}": {k: v for k, v in f.items()} for (r, c, m), f in results.items()}
            Path(args.json).write_text(json.dumps({"args": vars(args), "results": raw}, indent=1))
    finally:
        if server is not None:
            server.kill()
            server.wait()
        db.drop()


if __name__ == "__main__":
    main()
