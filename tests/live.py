"""Real `opendmp` server processes on the test's store, for tests that need real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from opendmp.config import Settings

OPENDMP = str(Path(sys.executable).with_name("opendmp"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(settings: Settings | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
    if settings is not None:
        env.update(
            {
                "OPENDMP_DATABASE_URL": settings.resolved_database_url,
                "OPENDMP_DATA_DIR": str(settings.data_dir),
                "OPENDMP_DEV_MODE": "true",
            }
        )
    env.update(extra)
    return env


def spawn(
    args: list[str], env: dict[str, str], log: Path, port: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `opendmp <args> --port P` and wait until /healthz answers; returns the process and base URL."""
    port = port or free_port()
    with log.open("ab") as sink:
        server = subprocess.Popen(
            [OPENDMP, *args, "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            stop(server)
            raise AssertionError(f"the server did not start:\n{log.read_text()}")
        time.sleep(0.2)


def stop(server: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if server.poll() is None:
        os.killpg(server.pid, sig)
    server.wait(timeout=20)


@contextmanager
def live_server(settings: Settings, log: Path, **env_extra: str) -> Iterator[str]:
    server, base = spawn(["serve"], server_env(settings, **env_extra), log)
    try:
        yield base
    finally:
        stop(server)
