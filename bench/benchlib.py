"""Shared helpers of the benchmarks: machine description, database set-up, process accounting.

Everything here talks to the local machine only (loopback PostgreSQL, /proc, subprocesses of
the `opendmp` command installed next to the running Python).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PG_ADMIN_URL = os.environ.get("OPENDMP_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "opendmp_bench_seed"
PG_APP_ROLE = "opendmp_bench_app"
STATE_ROOT = Path(os.environ.get("OPENDMP_BENCH_DIR", "/tmp/opendmp-bench"))
OPENDMP = str(Path(sys.executable).parent / "opendmp")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _nproc() -> int:
    try:
        return int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError, ValueError):
        return os.cpu_count() or 0


def machine() -> dict[str, Any]:
    return {
        "cores": _nproc(),
        "memory_gib": round(_mem_total_gib(), 1),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def machine_line(info: dict[str, Any]) -> str:
    load = " ".join(f"{x:.2f}" for x in info["load_average"])
    return (
        f"{info['cores']} cores (nproc), {info['memory_gib']} GiB RAM, {info['cpu']}, Linux {info['kernel']}, "
        f"Python {info['python']}, SQLite {info['sqlite']}; load average at start {load}"
    )


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


# ---------------------------------------------------------------- databases


@dataclass
class Target:
    """Where a benchmark's data lives, and the environment the `opendmp` commands need."""

    db: str  # "sqlite" or "postgres"
    data_dir: Path
    database_url: str
    admin_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def state_file(self) -> Path:
        return self.data_dir / "bench-state.json"

    def load_state(self) -> dict[str, Any] | None:
        try:
            state: dict[str, Any] = json.loads(self.state_file.read_text())
            return state
        except (OSError, ValueError):
            return None

    def save_state(self, **facts: Any) -> None:
        self.state_file.write_text(json.dumps({"db": self.db, "database_url": self.database_url, **facts}, indent=2))

    def describe_command(self, args: list[str]) -> str:
        shown = {k: v for k, v in self.env.items() if k.startswith("OPENDMP_")}
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(shown.items()))
        return f"{prefix} opendmp {' '.join(shlex.quote(a) for a in args)}"


def target(db: str, patients: int, data_dir: Path | None = None) -> Target:
    data_dir = data_dir or STATE_ROOT / f"{db}-{patients}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
    env.update({"OPENDMP_DATA_DIR": str(data_dir), "OPENDMP_DEV_MODE": "true"})
    if db == "sqlite":
        url = f"sqlite:///{data_dir / 'opendmp.sqlite3'}"
        return Target(db, data_dir, url, None, env)
    if db != "postgres":
        raise SystemExit(f"unknown --db {db!r}: sqlite or postgres")
    from sqlalchemy.engine import make_url

    admin = make_url(PG_ADMIN_URL).set(database=PG_DATABASE)
    app = admin.set(username=PG_APP_ROLE, password=None)
    admin_url = admin.render_as_string(hide_password=False)
    app_url = app.render_as_string(hide_password=False)
    env.update({"OPENDMP_ADMIN_DATABASE_URL": admin_url, "OPENDMP_DATABASE_URL": app_url})
    return Target(db, data_dir, app_url, admin_url, env)


def reset(t: Target) -> None:
    """A fresh store: an empty data directory, and on PostgreSQL a re-created database."""
    if t.data_dir.exists():
        shutil.rmtree(t.data_dir)
    t.data_dir.mkdir(parents=True)
    if t.db == "postgres":
        from sqlalchemy import create_engine, text

        server = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with server.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{PG_DATABASE}"'))
        finally:
            server.dispose()


def server_version(t: Target) -> str:
    if t.db == "sqlite":
        return f"SQLite {sqlite3.sqlite_version} (file in {t.data_dir}, WAL, synchronous=FULL)"
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            settings = dict(
                conn.execute(
                    text(
                        "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
                        "('shared_buffers', 'max_wal_size', 'synchronous_commit', 'fsync')"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    listed = ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))
    return f"PostgreSQL {version} on 127.0.0.1:5432 (server defaults: {listed})"


def database_size(t: Target) -> int:
    if t.db == "sqlite":
        return sum(p.stat().st_size for p in t.data_dir.glob("opendmp.sqlite3*"))
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(:d)"), {"d": PG_DATABASE}).scalar_one())
    finally:
        engine.dispose()


def table_counts(t: Target) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    tables = ("record", "patient", "journal_entry", "remuneration_entry", "authorisation", "legal_representative")
    engine = create_engine(t.database_url)
    try:
        with engine.connect() as conn:
            return {name: int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()) for name in tables}
    finally:
        engine.dispose()


# ---------------------------------------------------------------- processes


def run_opendmp(t: Target, args: list[str], *, log: Path | None = None, timeout: float = 3600) -> str:
    """Run an `opendmp` command to completion; its standard output is returned."""
    stderr = log.open("ab") if log else subprocess.DEVNULL
    try:
        done = subprocess.run(
            [OPENDMP, *args], env=t.env, stdout=subprocess.PIPE, stderr=stderr, timeout=timeout, check=False
        )
    finally:
        if log:
            stderr.close()  # type: ignore[union-attr]
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log else ""
        raise SystemExit(f"opendmp {' '.join(args)} failed with exit code {done.returncode}\n{tail}")
    return done.stdout.decode()


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """utime + stime of a process (with its waited-for children's when asked), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def descendants(pid: int) -> list[int]:
    """The process and all its descendants (from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


BACKGROUND = ("checkpointer", "background writer", "walwriter")


class PostgresCpu(threading.Thread):
    """CPU of the PostgreSQL processes working for one database: its backends and autovacuum
    workers (their command line names the database) plus the shared checkpointer, background
    writer and WAL writer. Other databases' backends (other users of the server) are left out.
    Sampled every `interval` seconds, so a process living less than that is missed."""

    def __init__(self, database: str, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.database, self.interval = database, interval
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stopped = threading.Event()
        self._sample(initial=True)

    def _sample(self, *, initial: bool = False) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if not (entry / "comm").read_text().startswith("postgres"):
                    continue
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if f" {self.database} " not in f"{command} " and not any(b in command for b in BACKGROUND):
                    continue
                pid, cpu = int(entry.name), cpu_seconds(int(entry.name))
            except (OSError, ValueError):
                continue
            self.first.setdefault(pid, cpu if initial else 0.0)
            self.last[pid] = cpu

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self._sample()

    def stop(self) -> float:
        """Stop sampling; the CPU seconds used since the start."""
        self._sample()
        self.stopped.set()
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def busy_cpu_seconds() -> float:
    """CPU seconds spent by the whole machine (all cores, every process) since boot."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def save_json(path: Path | None, result: dict[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(result, indent=2, default=str))


def as_dict(obj: Any) -> dict[str, Any]:
    return asdict(obj)
