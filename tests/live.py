"""A real `opendmp serve` process on the test's store, for tests that need real HTTP."""

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


@contextmanager
def live_server(settings: Settings, log: Path, **env_extra: str) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
    env.update(
        {
            "OPENDMP_DATABASE_URL": settings.resolved_database_url,
            "OPENDMP_DATA_DIR": str(settings.data_dir),
            "OPENDMP_DEV_MODE": "true",
            **env_extra,
        }
    )
    port = free_port()
    with log.open("ab") as sink:
        server = subprocess.Popen(
            [OPENDMP, "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield base
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
