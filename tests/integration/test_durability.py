"""A record acknowledged is a record stored: kill the server right after its answers, restart,
and every acknowledged opening is there with its journal intact."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from opendmp.auth.tokens import issue_token
from opendmp.config import Settings
from opendmp.identity.actor import Actor
from opendmp.journal.verify import verify_all
from opendmp.kit.keys import load_keys
from opendmp.runtime import build_runtime
from tests.fhir.conftest import a_person, open_parameters
from tests.live import server_env, spawn, stop


def test_acknowledged_openings_survive_a_killed_server(settings: Settings, tmp_path: Path) -> None:
    token = issue_token(load_keys(settings), Actor.professional("10000000002", "10"), dev=True)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    log = tmp_path / "serve.log"
    server, base = spawn(["serve"], server_env(settings), log)
    acknowledged = []
    try:
        with httpx.Client(base_url=base, headers=headers) as client:
            for order in range(1, 31):
                response = client.post("/fhir/Patient/$open", json=open_parameters(*a_person(order=800 + order)))
                assert response.status_code == 201, response.text
                acknowledged.append(response.json()["id"])
    finally:
        stop(server, signal.SIGKILL)  # no shutdown, no flush: as a crash
    server, base = spawn(["serve"], server_env(settings), log)
    try:
        with httpx.Client(base_url=base, headers=headers) as client:
            for record_id in acknowledged:
                assert client.get(f"/fhir/Patient/{record_id}").status_code == 200
    finally:
        stop(server)
    runtime = build_runtime(settings)
    try:
        with runtime.sessions() as session:
            assert list(verify_all(session)) == []
    finally:
        runtime.close()
