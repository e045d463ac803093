"""`opendmp demo` on a fresh data directory: migrates, loads demo data, serves real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.live import OPENDMP, free_port


def test_demo_serves_the_seeded_store_on_a_fresh_directory(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
    env["OPENDMP_DATA_DIR"] = str(tmp_path / "store")
    log = tmp_path / "demo.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [OPENDMP, "demo", "--port", str(port), "--patients", "40"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the demo did not start in 90 s"
            time.sleep(0.3)
        assert (tmp_path / "store" / "opendmp.sqlite3").exists()
        assert "OpenDMP" in httpx.get(f"{base}/").text
        assert httpx.get(f"{base}/fhir/metadata").json()["fhirVersion"] == "4.0.1"
        env["OPENDMP_DEV_MODE"] = "true"
        script = (
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]);"
            "print(c.execute(\"select rpps from professional where profession='10' limit 1\").fetchone()[0]);"
            "print(c.execute('select ins_value from patient limit 1').fetchone()[0])"
        )
        rpps, nir = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "store" / "opendmp.sqlite3")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        token = subprocess.run(
            [OPENDMP, "dev-token", "--rpps", rpps], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        found = httpx.post(
            f"{base}/fhir/Patient/_search",
            data={"identifier": f"urn:oid:1.2.250.1.213.1.4.11|{nir}"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert found.status_code == 200 and found.json()["total"] == 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
