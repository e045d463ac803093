"""Shared helpers of the document benchmarks (bench/documents/*.py).

They reuse bench/benchlib.py (machine description, process accounting, `opendmp` subprocesses)
and bench/read_bench.py (the pinned `opendmp serve` wrapper, percentiles), but keep their own
data directories (/tmp/opendmp-bench/documents/...) and their own PostgreSQL databases
(opendmp_bench_docs_*), so that they never touch another benchmark's store.
"""

from __future__ import annotations

import http.client
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import benchlib as bl  # noqa: E402
import read_bench  # noqa: E402

STATE_ROOT = bl.STATE_ROOT / "documents"
DEMO_OID = "1.2.250.1.213.1.4.11"
Server = read_bench.Server
percentile = read_bench.percentile


# ---------------------------------------------------------------- stores


def target(db: str, name: str, extra_env: dict[str, str] | None = None) -> bl.Target:
    """A store of its own: /tmp/opendmp-bench/documents/<name>-<db>, database opendmp_bench_docs_<name>."""
    data_dir = STATE_ROOT / f"{name}-{db}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
    env.update({"OPENDMP_DATA_DIR": str(data_dir), "OPENDMP_DEV_MODE": "true", "OPENDMP_LOG_LEVEL": "WARNING"})
    env.update(extra_env or {})
    if db == "sqlite":
        return bl.Target(db, data_dir, f"sqlite:///{data_dir / 'opendmp.sqlite3'}", None, env)
    if db != "postgres":
        raise SystemExit(f"unknown --db {db!r}: sqlite or postgres")
    from sqlalchemy.engine import make_url

    admin = make_url(bl.PG_ADMIN_URL).set(database=pg_database(name))
    app = admin.set(username=bl.PG_APP_ROLE, password=None)
    admin_url = admin.render_as_string(hide_password=False)
    app_url = app.render_as_string(hide_password=False)
    env.update({"OPENDMP_ADMIN_DATABASE_URL": admin_url, "OPENDMP_DATABASE_URL": app_url})
    return bl.Target(db, data_dir, app_url, admin_url, env)


def pg_database(name: str) -> str:
    return f"opendmp_bench_docs_{name}"


def database_name(t: bl.Target) -> str | None:
    if t.db != "postgres":
        return None
    from sqlalchemy.engine import make_url

    return make_url(t.database_url).database


def reset(t: bl.Target) -> None:
    """An empty data directory and, on PostgreSQL, a re-created database of this benchmark's own."""
    if t.data_dir.exists():
        shutil.rmtree(t.data_dir)
    t.data_dir.mkdir(parents=True)
    name = database_name(t)
    if name is None:
        return
    from sqlalchemy import create_engine, text

    server = create_engine(bl.PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        server.dispose()


def prepare(t: bl.Target, patients: int, seed: int) -> dict[str, float]:
    """A fresh store: `opendmp db upgrade` then `opendmp seed --patients N --seed S`; wall times."""
    reset(t)
    log = t.data_dir / "prepare.log"
    started = time.perf_counter()
    bl.run_opendmp(t, ["db", "upgrade"], log=log)
    upgraded = time.perf_counter()
    bl.run_opendmp(t, ["seed", "--patients", str(patients), "--seed", str(seed)], log=log, timeout=4 * 3600)
    seeded = time.perf_counter()
    return {"upgrade_s": round(upgraded - started, 2), "seed_s": round(seeded - upgraded, 2)}


def engine(t: bl.Target, *, admin: bool = False) -> Any:
    from sqlalchemy import create_engine

    return create_engine(t.admin_url if admin and t.admin_url else t.database_url)


def as_uuid(value: Any) -> uuid.UUID:
    """A record id as read by plain SQL: a UUID on PostgreSQL, 32 hex digits on SQLite."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def doctor(t: bl.Target) -> str:
    """The RPPS of the first doctor (profession 10) of the seeded directory, authorised on every
    record that does not authorise it yet (the platform files documents only from authorised
    professionals since the access issue): rows written directly, as the seeder writes its
    plans, with the default 365-day window, before any clock starts."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    e = engine(t)
    try:
        with e.begin() as conn:
            rpps: str = conn.execute(
                text("SELECT rpps FROM professional WHERE profession = '10' ORDER BY rpps LIMIT 1")
            ).scalar_one()
            missing = (
                conn.execute(
                    text(
                        "SELECT id FROM record WHERE NOT EXISTS (SELECT 1 FROM authorisation a "
                        "WHERE a.record_id = record.id AND a.rpps = :rpps AND a.revoked_at IS NULL)"
                    ),
                    {"rpps": rpps},
                )
                .scalars()
                .all()
            )
            now = datetime.now(UTC)

            def stamp(at: datetime) -> Any:  # SQLite keeps datetimes as SQLAlchemy writes them
                return at if t.db == "postgres" else at.strftime("%Y-%m-%d %H:%M:%S.%f")

            if missing:
                conn.execute(
                    text(
                        "INSERT INTO authorisation (id, record_id, rpps, kind, granted_at, granted_via, "
                        "declared_by, expires_at, masked_access) VALUES (:id, :record_id, :rpps, 'explicit', "
                        ":now, 'holder', 'bench', :expires, :masked)"
                    ),
                    [
                        {
                            "id": uuid.uuid4() if t.db == "postgres" else uuid.uuid4().hex,
                            "record_id": r,
                            "rpps": rpps,
                            "now": stamp(now),
                            "expires": stamp(now + timedelta(days=365)),
                            "masked": False,
                        }
                        for r in missing
                    ],
                )
    finally:
        e.dispose()
    return rpps


def records(t: bl.Target) -> list[tuple[uuid.UUID, str]]:
    """Every (record id, holder NIR) of the demo INS system, in record id order."""
    from sqlalchemy import text

    e = engine(t)
    try:
        with e.connect() as conn:
            rows = conn.execute(
                text("SELECT record_id, ins_value FROM patient WHERE ins_system = :s"), {"s": DEMO_OID}
            ).all()
    finally:
        e.dispose()
    return sorted((as_uuid(r), str(n)) for r, n in rows)


def count(t: bl.Target, sql: str, **params: Any) -> int:
    from sqlalchemy import text

    e = engine(t)
    try:
        with e.connect() as conn:
            return int(conn.execute(text(sql), params).scalar_one())
    finally:
        e.dispose()


def token(t: bl.Target, *args: str) -> str:
    """A development token printed by `opendmp dev-token ...`."""
    return bl.run_opendmp(t, ["dev-token", *args]).strip()


# ---------------------------------------------------------------- accounting


def _pg_backends(database: str) -> dict[int, float]:
    """CPU seconds of the PostgreSQL backends connected to `database` (from their process titles)."""
    found = {}
    marker = f" {database} "
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if not (entry / "comm").read_text().startswith("postgres"):
                continue
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if marker in title:
                found[int(entry.name)] = bl.cpu_seconds(int(entry.name))
        except OSError:
            continue
    return found


class Meter:
    """CPU across a phase: the server process (or this process, for in-process runs), the
    PostgreSQL backends of our database (background writers, WAL writer and checkpointer are
    shared with other databases and left out), this process, and what the rest of the machine
    burnt meanwhile (in cores)."""

    def __init__(self, server_pid: int | None, database: str | None) -> None:
        self.server_pid, self.database = server_pid, database

    def __enter__(self) -> Meter:
        self.server0 = bl.cpu_seconds(self.server_pid) if self.server_pid else 0.0
        self.pg0 = _pg_backends(self.database) if self.database else {}
        self.busy0 = bl.busy_cpu_seconds()
        self.client0 = time.process_time()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.started
        self.client = time.process_time() - self.client0
        self.server = bl.cpu_seconds(self.server_pid) - self.server0 if self.server_pid else 0.0
        pg1 = _pg_backends(self.database) if self.database else {}
        self.pg = sum(cpu - self.pg0.get(pid, 0.0) for pid, cpu in pg1.items())
        busy = bl.busy_cpu_seconds() - self.busy0
        self.others = max(0.0, busy - self.server - self.pg - self.client) / max(self.wall, 1e-9)

    def figures(self, operations: int, unit: str = "op") -> dict[str, Any]:
        per = max(1, operations)
        return {
            "wall_s": round(self.wall, 3),
            "server_cpu_s": round(self.server, 3),
            f"server_cpu_ms_per_{unit}": round(self.server / per * 1000, 4),
            "postgres_cpu_s": round(self.pg, 3) if self.database else None,
            f"postgres_cpu_ms_per_{unit}": round(self.pg / per * 1000, 4) if self.database else None,
            "client_cpu_s": round(self.client, 3),
            f"client_cpu_ms_per_{unit}": round(self.client / per * 1000, 4),
            "other_load_cores": round(self.others, 2),
        }


def latency_figures(latencies: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies)
    if not ordered:
        return {"count": 0}
    return {
        "count": len(ordered),
        "mean_ms": round(sum(ordered) / len(ordered) * 1000, 3),
        "p50_ms": round(percentile(ordered, 50) * 1000, 3),
        "p95_ms": round(percentile(ordered, 95) * 1000, 3),
        "p99_ms": round(percentile(ordered, 99) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


# ---------------------------------------------------------------- HTTP


class Connection:
    """One keep-alive loopback connection; `call` returns (seconds, status, body)."""

    def __init__(self, port: int, bearer: str, timeout: float = 120) -> None:
        self.port, self.timeout = port, timeout
        self.headers = {"Authorization": f"Bearer {bearer}"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def call(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[float, int, bytes]:
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers={**self.headers, **(headers or {})})
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            return time.perf_counter() - started, 0, str(error).encode()
        return time.perf_counter() - started, response.status, data

    def close(self) -> None:
        self.conn.close()


def calibrate(core: int, iterations: int = 2_000_000) -> float:
    """CPU milliseconds of a fixed pure-Python loop on `core`: how fast this machine's core is right
    now (it varies with what else runs; the figures below scale with it)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        started = time.process_time()
        total = 0
        for i in range(iterations):
            total += i * i
        return round((time.process_time() - started) * 1000, 1)
    finally:
        os.sched_setaffinity(0, before)


def database_line(t: bl.Target) -> str:
    """The database and the settings that matter here (benchlib's line shows shared_buffers in
    8 kB pages glued to their unit, e.g. "163848kB" for 128 MB: current_setting() says it plainly)."""
    if t.db == "sqlite":
        return bl.server_version(t)
    from sqlalchemy import create_engine, text

    e = create_engine(bl.PG_ADMIN_URL)
    try:
        with e.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            names = ("shared_buffers", "work_mem", "max_wal_size", "synchronous_commit", "fsync", "wal_level")
            settings = {n: conn.execute(text(f"SELECT current_setting('{n}')")).scalar_one() for n in names}
    finally:
        e.dispose()
    listed = ", ".join(f"{k}={v}" for k, v in settings.items())
    return f"PostgreSQL {version} on 127.0.0.1:5432 (server defaults: {listed})"


def header(title: str, r: dict[str, Any]) -> list[str]:
    calibration = r.get("calibration_ms")
    return [
        f"== {title} ==",
        f"date      {r['date']}",
        f"machine   {bl.machine_line(r['machine'])}"
        + (
            f"; CPU calibration: 2M-iteration Python loop {calibration:.0f} ms on core 0 at start"
            if calibration
            else ""
        ),
        f"database  {r['database']}",
    ]


def met(ok: bool) -> str:
    return "MET" if ok else "MISSED"
