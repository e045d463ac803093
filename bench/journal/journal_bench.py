"""Journal benchmarks (issue 4): what journaling adds to a request, and `opendmp audit verify`.

    .venv/bin/python bench/journal/journal_bench.py                    # both databases, 1,000,000 entries
    .venv/bin/python bench/journal/journal_bench.py --db sqlite --entries 100000 --requests 400   # quick

(a) Append cost, in process, on a store seeded with `opendmp seed --patients 2000 --seed 42`:
    - the request path `records.get_record` (a professional's record lookup: load the record and
      its facts, ask the policy, journal "record:lookup") in its own unit of work, commit
      included, with the journal and with `journal.append` replaced by a no-op, in interleaved
      blocks: wall time and thread CPU per request, and their difference;
    - `journal.append` + `session.flush()` alone inside an open transaction (no commit).
(b) `opendmp audit verify` (a subprocess, the real command) on a journal of --entries entries in
    chains of 1 to 19 entries (mean 10), generated deterministically (random.Random(seed)) with
    the writer's own `build_entry` and bulk-inserted, sealed by a first checkpoint, then 5,000
    appends through `journal.append` across 2,500 chains, a second checkpoint, 1,000 more appends
    after it. Verify runs three times; its own read rate ("entries/s", interpreter start-up left
    out), the process's wall time and CPU, and on PostgreSQL the server's CPU are reported.

Goals (issue): journaling adds <= 0.5 ms to a request; audit verify >= 200,000 entries/s.
Stores: /tmp/opendmp-bench/journal/<part>-<db>/, PostgreSQL databases opendmp_bench_journal_<part>
(re-created on every run; the application role opendmp_bench_app, created by `db upgrade`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import benchlib as bl  # noqa: E402

STATE_ROOT = bl.STATE_ROOT / "journal"
GOAL_APPEND_MS = 0.5
GOAL_VERIFY_PER_S = 200_000
PROFESSIONS = ("10", "10", "10", "21", "60", "40", "50", "70")
ACTIONS = (
    ("record:lookup", "record", "care", 30),
    ("document:read", "document", "care", 25),
    ("document:search", "record", "care", 15),
    ("document:create", "document", None, 12),
    ("document:read-content", "document", "care", 8),
    ("consent:authorise", "professional", None, 4),
    ("journal:read", "record", "patient-access", 4),
    ("record:lookup", "record", "emergency", 1),
    ("document:mask", "document", "patient-access", 1),
)


# ---------------------------------------------------------------- stores


def target(db: str, part: str) -> bl.Target:
    data_dir = STATE_ROOT / f"{part}-{db}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
    env.update(
        {
            "OPENDMP_DATA_DIR": str(data_dir),
            "OPENDMP_DEV_MODE": "true",
            "OPENDMP_LOG_LEVEL": "WARNING",
            # The benchmark seals explicitly; no served app runs here anyway.
            "OPENDMP_JOURNAL_CHECKPOINT_INTERVAL": "0",
        }
    )
    if db == "sqlite":
        return bl.Target(db, data_dir, f"sqlite:///{data_dir / 'opendmp.sqlite3'}", None, env)
    if db != "postgres":
        raise SystemExit(f"unknown --db {db!r}: sqlite or postgres")
    from sqlalchemy.engine import make_url

    admin = make_url(bl.PG_ADMIN_URL).set(database=f"opendmp_bench_journal_{part}")
    app = admin.set(username=bl.PG_APP_ROLE, password=None)
    admin_url = admin.render_as_string(hide_password=False)
    app_url = app.render_as_string(hide_password=False)
    env.update({"OPENDMP_ADMIN_DATABASE_URL": admin_url, "OPENDMP_DATABASE_URL": app_url})
    return bl.Target(db, data_dir, app_url, admin_url, env)


def reset(t: bl.Target) -> None:
    if t.data_dir.exists():
        shutil.rmtree(t.data_dir)
    t.data_dir.mkdir(parents=True)
    if t.db == "postgres":
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        name = make_url(t.database_url).database
        server = create_engine(bl.PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with server.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            server.dispose()


def runtime_for(t: bl.Target) -> Any:
    from opendmp.config import Settings
    from opendmp.runtime import build_runtime

    return build_runtime(
        Settings(
            data_dir=t.data_dir,
            database_url=t.database_url,
            admin_database_url=t.admin_url,
            dev_mode=True,
            journal_checkpoint_interval=0,
        ),
        pool_size=2,
    )


def database_line(t: bl.Target) -> str:
    if t.db == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}, WAL, synchronous=FULL, files under {STATE_ROOT}/<part>-sqlite/"
    from sqlalchemy import create_engine, text

    engine = create_engine(bl.PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            names = ("shared_buffers", "work_mem", "synchronous_commit", "fsync")
            values = {n: conn.execute(text(f"SELECT current_setting('{n}')")).scalar_one() for n in names}
    finally:
        engine.dispose()
    return f"PostgreSQL {version} on 127.0.0.1:5432 ({', '.join(f'{k}={v}' for k, v in values.items())})"


# ---------------------------------------------------------------- (a) append cost


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures(wall: list[float], cpu: list[float]) -> dict[str, float]:
    return {
        "wall_mean_ms": round(statistics.fmean(wall) * 1000, 3),
        "wall_p50_ms": round(percentile(wall, 0.5) * 1000, 3),
        "wall_p99_ms": round(percentile(wall, 0.99) * 1000, 3),
        "cpu_mean_ms": round(statistics.fmean(cpu) * 1000, 3),
    }


def append_cost(db: str, requests: int, seed: int) -> dict[str, Any]:
    from sqlalchemy import select

    from opendmp.identity.actor import Actor
    from opendmp.identity.models import Professional
    from opendmp.journal import service as journal
    from opendmp.kit.db import unit_of_work
    from opendmp.record import service as records
    from opendmp.record.models import Record

    t = target(db, "append")
    reset(t)
    log = t.data_dir / "prepare.log"
    bl.run_opendmp(t, ["db", "upgrade"], log=log)
    bl.run_opendmp(t, ["seed", "--patients", "2000", "--seed", str(seed)], log=log)
    runtime = runtime_for(t)
    try:
        with runtime.sessions() as session:
            ids = list(session.execute(select(Record.id).order_by(Record.id)).scalars())
            rpps = session.execute(
                select(Professional.rpps).where(Professional.profession == "10").order_by(Professional.rpps).limit(1)
            ).scalar_one()
        doctor = Actor.professional(rpps, "10").at("127.0.0.1")
        rng = random.Random(seed)
        real_append = journal.append

        def no_append(*_args: Any, **_kwargs: Any) -> None:
            return None

        def lookup(record_id: uuid.UUID) -> tuple[float, float]:
            wall, cpu = time.perf_counter(), time.thread_time()
            with unit_of_work(runtime.sessions) as session:
                records.get_record(session, doctor, record_id, datetime.now(UTC))
            return time.perf_counter() - wall, time.thread_time() - cpu

        for record_id in rng.sample(ids, 100):  # warm-up: caches, prepared statements, pools
            lookup(record_id)
        samples: dict[str, tuple[list[float], list[float]]] = {"journaled": ([], []), "not journaled": ([], [])}
        block = 50
        for n in range(max(1, requests // (2 * block))):
            order = ["journaled", "not journaled"] if n % 2 == 0 else ["not journaled", "journaled"]
            for variant in order:
                journal.append = real_append if variant == "journaled" else no_append  # type: ignore[assignment]
                try:
                    for record_id in rng.sample(ids, block):
                        wall, cpu = lookup(record_id)
                        samples[variant][0].append(wall)
                        samples[variant][1].append(cpu)
                finally:
                    journal.append = real_append  # type: ignore[assignment]
        # The writer alone: append + flush inside an open transaction (the commit is the request's).
        alone_wall, alone_cpu = [], []
        for record_id in rng.sample(ids, min(len(ids), requests // 2)):
            with unit_of_work(runtime.sessions) as session:
                wall, cpu = time.perf_counter(), time.thread_time()
                journal.append(
                    session,
                    doctor,
                    journal.Event("record:lookup", "record", str(record_id), reason="bench", purpose="care"),
                    record_id=record_id,
                    at=datetime.now(UTC),
                )
                session.flush()
                alone_wall.append(time.perf_counter() - wall)
                alone_cpu.append(time.thread_time() - cpu)
    finally:
        runtime.close()
    with_j, without = figures(*samples["journaled"]), figures(*samples["not journaled"])
    return {
        "db": db,
        "requests_per_variant": len(samples["journaled"][0]),
        "journaled": with_j,
        "not_journaled": without,
        "delta_wall_mean_ms": round(with_j["wall_mean_ms"] - without["wall_mean_ms"], 3),
        "delta_wall_p50_ms": round(with_j["wall_p50_ms"] - without["wall_p50_ms"], 3),
        "delta_cpu_mean_ms": round(with_j["cpu_mean_ms"] - without["cpu_mean_ms"], 3),
        "append_alone": figures(alone_wall, alone_cpu),
    }


# ---------------------------------------------------------------- (b) audit verify


def _insert(t: bl.Target, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Bulk insert as the admin: executemany on SQLite, COPY on PostgreSQL."""
    if t.db == "sqlite":
        import sqlite3

        conn = sqlite3.connect(t.data_dir / "opendmp.sqlite3")
        try:
            marks = ", ".join("?" * len(columns))
            with conn:
                conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        finally:
            conn.close()
        return
    import psycopg

    assert t.admin_url is not None
    url = t.admin_url.replace("postgresql+psycopg://", "postgresql://")
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with psycopg.connect(url) as conn, conn.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def generate(t: bl.Target, entries: int, seed: int) -> dict[str, Any]:
    """The journal of `entries` entries, built with the writer's build_entry (deterministic)."""
    from opendmp.identity.actor import Actor, ActorKind
    from opendmp.journal.models import GENESIS_HASH, JournalEntry
    from opendmp.journal.service import Event, Outcome, build_entry

    rng = random.Random(seed)
    professionals = [
        Actor.professional(f"1{rng.randrange(10**10):010d}", rng.choice(PROFESSIONS), f"75{rng.randrange(10**7):07d}")
        for _ in range(3000)
    ]
    agents = [Actor.counter_agent(f"agent-{n}", f"75{n:07d}") for n in range(50)]
    weights = [w for *_, w in ACTIONS]
    columns = [c.name for c in JournalEntry.__table__.columns]
    sqlite = t.db == "sqlite"
    started = time.perf_counter()
    produced, chains, batch = 0, 0, []
    heads: list[tuple[Any, ...]] = []
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    while produced < entries:
        chain = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        holder = Actor(ActorKind.PATIENT, f"{rng.randrange(10**14, 10**15)}")
        length = min(rng.randint(1, 19), entries - produced)
        at = origin + timedelta(seconds=rng.randrange(300 * 86400))
        prev = GENESIS_HASH
        for seq in range(1, length + 1):
            if seq == 1:
                actor, event = (
                    rng.choice(agents),
                    Event("record:open", "record", chain, reason="channel=insurer-counter"),
                )
            else:
                action, target_type, purpose, _ = rng.choices(ACTIONS, weights)[0]
                actor = holder if purpose == "patient-access" else rng.choice(professionals)
                denied = rng.random() < 0.02
                event = Event(
                    action,
                    target_type,
                    str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    outcome=Outcome.DENIED if denied else Outcome.SUCCESS,
                    reason="no-rule" if denied else f"via={rng.choice(('care-team', 'author', 'holder'))}",
                    purpose=purpose,
                )
                actor = actor.at(f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
            row = build_entry(chain, seq, prev, at, actor, event)
            prev = row["hash"]
            values = [row[c] for c in columns]
            if sqlite:
                values[0] = row["id"].hex
                values[3] = at.strftime("%Y-%m-%d %H:%M:%S.%f")
            batch.append(tuple(values))
            at += timedelta(seconds=rng.randrange(60, 30 * 86400))
        heads.append((chain, length, prev, 0))
        produced += length
        chains += 1
        if len(batch) >= 50_000:
            _insert(t, "journal_entry", columns, batch)
            batch = []
    if batch:
        _insert(t, "journal_entry", columns, batch)
    _insert(t, "journal_head", ["chain", "seq", "hash", "checkpointed_seq"], heads)
    return {"entries": produced, "chains": chains, "generate_s": round(time.perf_counter() - started, 1)}


def appends(t: bl.Target, count: int, chains: int, seed: int) -> float:
    """`count` entries through journal.append (the service's writer), 100 per transaction."""
    from sqlalchemy import select

    from opendmp.identity.actor import Actor
    from opendmp.journal import service as journal
    from opendmp.journal.models import JournalHead
    from opendmp.kit.db import unit_of_work

    rng = random.Random(seed)
    runtime = runtime_for(t)
    try:
        with runtime.sessions() as session:
            names = list(session.execute(select(JournalHead.chain).order_by(JournalHead.chain)).scalars())
        picked = [uuid.UUID(hex=c) for c in rng.sample(names, chains)]
        doctor = Actor.professional("10000000002", "10", "750000001").at("127.0.0.1")
        started = time.perf_counter()
        for start in range(0, count, 100):
            with unit_of_work(runtime.sessions) as session:
                for _ in range(min(100, count - start)):
                    record_id = rng.choice(picked)
                    event = journal.Event("document:read", "document", str(uuid.uuid4()), purpose="care")
                    journal.append(session, doctor, event, record_id=record_id, at=datetime.now(UTC))
        return time.perf_counter() - started
    finally:
        runtime.close()


def timed_command(t: bl.Target, args: list[str], log: Path) -> dict[str, Any]:
    pg = bl.PostgresCpu(t.database_url.rsplit("/", 1)[1]) if t.db == "postgres" else None
    if pg:
        pg.start()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = bl.busy_cpu_seconds()
    started = time.perf_counter()
    done = subprocess.run([bl.OPENDMP, *args], env=t.env, capture_output=True, text=True, check=False, timeout=7200)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    server = pg.stop() if pg else 0.0
    with log.open("a") as handle:
        handle.write(f"$ opendmp {' '.join(args)}\n{done.stderr}\n")
    if done.returncode != 0:
        raise SystemExit(f"opendmp {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "server_cpu_s": round(server, 2),
        "other_cores": round(max(0.0, bl.busy_cpu_seconds() - busy - cpu - server) / wall, 2),
        "stderr": done.stderr,
    }


def verify_rate(db: str, entries: int, seed: int) -> dict[str, Any]:
    t = target(db, "verify")
    reset(t)
    log = t.data_dir / "verify.log"
    bl.run_opendmp(t, ["db", "upgrade"], log=log)
    print(f"  generating {entries:,} entries on {db}…", flush=True)
    result: dict[str, Any] = {"db": db, **generate(t, entries, seed)}
    first = timed_command(t, ["jobs", "run", "journal-checkpoint"], log)
    result["first_checkpoint_s"] = first["wall_s"]
    result["appends_5000_s"] = round(appends(t, 5000, 2500, seed), 2)
    second = timed_command(t, ["jobs", "run", "journal-checkpoint"], log)
    result["second_checkpoint_s"] = second["wall_s"]
    appends(t, 1000, 500, seed + 1)
    runs = []
    for _ in range(3):
        run = timed_command(t, ["audit", "verify"], log)
        matched = re.search(
            r"journal: ([\d,]+) entries in ([\d,]+) chains .* read in ([\d.]+) s \(([\d,]+) entries/s\)", run["stderr"]
        )
        if not matched or "journal verified" not in run["stderr"]:
            raise SystemExit(f"audit verify did not verify:\n{run['stderr'][-2000:]}")
        run.update(
            {
                "entries": int(matched.group(1).replace(",", "")),
                "chains": int(matched.group(2).replace(",", "")),
                "read_s": float(matched.group(3)),
                "entries_per_s": int(matched.group(4).replace(",", "")),
            }
        )
        run.pop("stderr")
        runs.append(run)
    result["verify_runs"] = runs
    best = sorted(runs, key=lambda r: r["entries_per_s"])[len(runs) // 2]
    result["verify_median"] = best
    result["database_bytes"] = database_bytes(t)
    return result


def database_bytes(t: bl.Target) -> int:
    if t.db == "sqlite":
        return sum(p.stat().st_size for p in t.data_dir.glob("opendmp.sqlite3*"))
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(bl.PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            name = make_url(t.database_url).database
            return int(conn.execute(text("SELECT pg_database_size(:d)"), {"d": name}).scalar_one())
    finally:
        engine.dispose()


# ---------------------------------------------------------------- report


def report(r: dict[str, Any]) -> str:
    lines = [
        "== Journal benchmarks ==",
        f"date      {r['date']}",
        f"machine   {bl.machine_line(r['machine'])}",
        f"command   {r['command']}",
    ]
    for a in r["append"]:
        j, n, alone = a["journaled"], a["not_journaled"], a["append_alone"]
        lines += [
            "",
            f"(a) append cost, {a['db']} ({r['databases'][a['db']]}), store of 2,000 seeded records,"
            f" {a['requests_per_variant']} lookups per variant, interleaved:",
            f"    record lookup journaled      wall mean {j['wall_mean_ms']:.3f} ms  p50 {j['wall_p50_ms']:.3f}  p99 {j['wall_p99_ms']:.3f}  CPU {j['cpu_mean_ms']:.3f} ms",
            f"    record lookup not journaled  wall mean {n['wall_mean_ms']:.3f} ms  p50 {n['wall_p50_ms']:.3f}  p99 {n['wall_p99_ms']:.3f}  CPU {n['cpu_mean_ms']:.3f} ms",
            f"    journaling adds              wall mean {a['delta_wall_mean_ms']:.3f} ms  p50 {a['delta_wall_p50_ms']:.3f} ms  CPU {a['delta_cpu_mean_ms']:.3f} ms"
            f"  -> goal <= {GOAL_APPEND_MS} ms: {'MET' if a['delta_wall_mean_ms'] <= GOAL_APPEND_MS else 'MISSED'}",
            f"    append + flush alone         wall mean {alone['wall_mean_ms']:.3f} ms  p50 {alone['wall_p50_ms']:.3f}  p99 {alone['wall_p99_ms']:.3f}  CPU {alone['cpu_mean_ms']:.3f} ms",
        ]
    for v in r["verify"]:
        m = v["verify_median"]
        lines += [
            "",
            f"(b) audit verify, {v['db']} ({r['databases'][v['db']]}):",
            f"    dataset  {v['entries']:,} generated entries in {v['chains']:,} chains (generated in {v['generate_s']} s),"
            f" then 6,000 appends; database {v['database_bytes'] / 2**30:.2f} GiB",
            f"    first checkpoint (seals {v['chains']:,} chains) {v['first_checkpoint_s']} s wall (process);"
            f" 5,000 appends {v['appends_5000_s']} s; second checkpoint (2,500 moved heads at most) {v['second_checkpoint_s']} s",
        ]
        for n, run in enumerate(v["verify_runs"], 1):
            lines.append(
                f"    run {n}: {run['entries']:,} entries read and checked in {run['read_s']} s = {run['entries_per_s']:,} entries/s;"
                f" process wall {run['wall_s']} s, CPU {run['cpu_s']} s, server CPU {run['server_cpu_s']} s, other load {run['other_cores']} cores"
            )
        lines.append(
            f"    median {m['entries_per_s']:,} entries/s -> goal >= {GOAL_VERIFY_PER_S:,}/s: "
            f"{'MET' if m['entries_per_s'] >= GOAL_VERIFY_PER_S else 'MISSED'}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000, help="lookups per variant in (a)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-append", action="store_true")
    parser.add_argument("--skip-verify", action="store_true")
    args = parser.parse_args()
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    result: dict[str, Any] = {
        "date": bl.now_iso(),
        "machine": bl.machine(),
        "command": "python bench/journal/journal_bench.py " + " ".join(sys.argv[1:]),
        "databases": {db: database_line(target(db, "append")) for db in dbs},
        "append": [],
        "verify": [],
    }
    for db in dbs:
        if not args.skip_append:
            print(f"(a) append cost on {db}…", flush=True)
            result["append"].append(append_cost(db, args.requests, args.seed))
        if not args.skip_verify:
            print(f"(b) audit verify on {db}…", flush=True)
            result["verify"].append(verify_rate(db, args.entries, args.seed))
    text = report(result)
    print(text)
    out = STATE_ROOT / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = result["date"].replace(":", "")
    (out / f"journal-{stamp}.json").write_text(json.dumps(result, indent=2, default=str))
    (out / f"journal-{stamp}.txt").write_text(text + "\n")
    print(f"\nresults in {out}/journal-{stamp}.{{json,txt}}")


if __name__ == "__main__":
    main()
