"""A record acknowledged is a record stored: kill the server right after its answers, restart,
and every acknowledged opening is there with its journal intact."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from opendmp.auth.tokens import issue_token
from opendmp.config import Settings
from opendmp.identity.actor import Actor
from opendmp.journal.service import verify_all
from opendmp.kit.keys import load_keys
from opendmp.runtime import build_runtime
from tests.fhir.conftest import a_person, open_parameters
from tests.live import OPENDMP, free_port


def _serve(settings: Settings, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
    env.update(
        {
            "OPENDMP_DATABASE_URL": settings.resolved_database_url,
            "OPENDMP_DATA_DIR": str(settings.data_dir),
            "OPENDMP_DEV_MODE": "true",
        }
    )
    with log.open("ab") as sink:
        server = subprocess.Popen(
            [OPENDMP, "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def test_acknowledged_openings_survive_a_killed_server(settings: Settings, tmp_path: Path) -> None:
    token = issue_token(load_keys(settings), Actor.professional("10000000002", "10"), dev=True)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    port, log = free_port(), tmp_path / "serve.log"
    server = _serve(settings, port, log)
    acknowledged = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            for order in range(1, 31):
                response = client.post("/fhir/Patient/$open", json=open_parameters(*a_person(order=800 + order)))
                assert response.status_code == 201, response.text
                acknowledged.append(response.json()["id"])
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # no shutdown, no flush: as a crash
        server.wait(timeout=20)
    server = _serve(settings, port, log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            for record_id in acknowledged:
                assert client.get(f"/fhir/Patient/{record_id}").status_code == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    runtime = build_runtime(settings)
    try:
        with runtime.sessions() as session:
            assert list(verify_all(session)) == []
    finally:
        runtime.close()
