"""Load generator: a bare asyncio HTTP/1.1 keep-alive client (one connection per concurrent
user, closed loop), cheap enough that one core drives the server's one core.

Runs warm-up requests, then the measured ones, reading the server's (and PostgreSQL's) CPU time
from /proc just around the measured part. Prints one JSON object on stdout.

    python client.py --port P --mode sync|async --route open|lookup --concurrency C \
        --requests N --warmup W --seeded K --server-pid PID
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import time
import uuid
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
OPEN_BODY = json.dumps(
    {"family": "Dupont", "given": "Jean Marie", "birthDate": "1980-02-29", "gender": "M", "opener": "810000000001"}
).encode()


def proc_cpu(pid: int, *, children: bool = False) -> float:
    """utime+stime (all threads) of one process, in seconds; with children: their reaped time too."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # after ")": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17) -> indexes 11..14
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def postgres_backends(database: str) -> dict[int, float]:
    """CPU-seconds of each PostgreSQL backend serving `database` (other sessions' excluded)."""
    found: dict[int, float] = {}
    marker = f" {database} ".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            title = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            if not title.startswith(b"postgres: ") or marker not in title:
                continue
            found[int(entry.name)] = proc_cpu(int(entry.name))
        except OSError:
            continue
    return found


def postgres_cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """Backends born during the window count whole; one that exited is lost (the pool keeps them)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def system_busy() -> float:
    """Busy CPU-seconds of the whole machine (all cores) since boot."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise RuntimeError("chunked responses are not supported")
        if length:
            await self.reader.readexactly(length)
        if close:
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def build_request(mode: str, route: str, seeded: int) -> bytes:
    if route == "open":
        return (
            f"POST /{mode}/open HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(OPEN_BODY)}\r\n\r\n"
        ).encode() + OPEN_BODY
    record_id = uuid.UUID(int=random.randint(1, seeded))
    return f"GET /{mode}/lookup/{record_id} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()


async def drive(args: argparse.Namespace, count: int, latencies: list[float] | None, errors: list[str]) -> None:
    remaining = count

    async def user() -> None:
        nonlocal remaining
        conn = Connection(args.host, args.port)
        try:
            while remaining > 0:
                remaining -= 1
                raw = build_request(args.mode, args.route, args.seeded)
                t0 = time.perf_counter()
                try:
                    status = await conn.request(raw)
                except (OSError, asyncio.IncompleteReadError, ValueError, RuntimeError) as error:
                    errors.append(f"{type(error).__name__}: {error}")
                    await conn.close()
                    continue
                elapsed = time.perf_counter() - t0
                if not 200 <= status < 300:
                    errors.append(f"HTTP {status}")
                elif latencies is not None:
                    latencies.append(elapsed * 1000.0)
        finally:
            await conn.close()

    await asyncio.gather(*(user() for _ in range(args.concurrency)))


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    warm_errors: list[str] = []
    await drive(args, args.warmup, None, warm_errors)
    latencies: list[float] = []
    errors: list[str] = []
    pg = args.postgres_db
    before = (proc_cpu(args.server_pid), postgres_backends(pg) if pg else {}, system_busy(), os.times())
    t0 = time.perf_counter()
    await drive(args, args.requests, latencies, errors)
    wall = time.perf_counter() - t0
    after = (proc_cpu(args.server_pid), postgres_backends(pg) if pg else {}, system_busy(), os.times())
    client_cpu = (after[3].user + after[3].system) - (before[3].user + before[3].system)
    return {
        "mode": args.mode,
        "route": args.route,
        "concurrency": args.concurrency,
        "requests": args.requests,
        "ok": len(latencies),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "warmup_errors": len(warm_errors),
        "wall_s": wall,
        "server_cpu_s": after[0] - before[0],
        "postgres_cpu_s": postgres_cpu_delta(before[1], after[1]),
        "system_busy_s": after[2] - before[2],
        "client_cpu_s": client_cpu,
        "latencies_ms": latencies,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("sync", "async"), required=True)
    parser.add_argument("--route", choices=("open", "lookup"), required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--seeded", type=int, default=10000)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--postgres-db", default=None, help="also measure this database's backends' CPU")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        print(json.dumps(asyncio.run(main_async(args))))
    else:
        print(json.dumps(uvloop.run(main_async(args))))


if __name__ == "__main__":
    main()
