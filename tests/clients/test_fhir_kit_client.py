"""The npm fhir-kit-client, a client nobody here wrote, runs the document lifecycle against a
real server (tests/clients/node/documents.mjs). Needs Node and `npm ci` in tests/clients/node
(make test does it); skipped loudly otherwise."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from opendmp.auth.tokens import issue_token
from opendmp.config import Settings
from opendmp.identity.actor import Actor
from opendmp.kit.keys import load_keys
from opendmp.runtime import Runtime
from tests import factories as f
from tests.live import live_server

NODE_DIR = Path(__file__).parent / "node"


def test_fhir_kit_client_manages_documents(settings: Settings, runtime: Runtime, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "fhir-kit-client").is_dir():
        pytest.skip("Node.js or tests/clients/node/node_modules missing (run: npm ci --prefix tests/clients/node)")
    ins, traits = f.person()
    record_id = f.open_record(runtime, Actor.counter_agent("a"), ins, traits).record.id
    f.authorise(runtime, record_id, Actor.professional("10000000002", "10"))
    keys = load_keys(settings)
    doctor = issue_token(keys, Actor.professional("10000000002", "10"), dev=True)
    holder = issue_token(keys, Actor.patient(ins), dev=True)
    with live_server(settings, tmp_path / "serve.log") as base:
        run = subprocess.run(
            [node, str(NODE_DIR / "documents.mjs"), f"{base}/fhir", doctor, holder, str(record_id)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert run.returncode == 0, run.stderr + run.stdout
    assert json.loads(run.stdout.strip().splitlines()[-1])["ok"] is True
