"""`opendmp demo` on a fresh data directory: migrates, loads demo data, serves real HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.live import OPENDMP, server_env, spawn, stop


def test_demo_serves_the_seeded_store_on_a_fresh_directory(tmp_path: Path) -> None:
    env = server_env(OPENDMP_DATA_DIR=str(tmp_path / "store"))
    server, base = spawn(["demo", "--patients", "40"], env, tmp_path / "demo.log")
    try:
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
        # The sample patient's identifier and activation code, as a counter's letter gives them.
        activation = [line for line in (tmp_path / "demo.log").read_text().splitlines() if "patient activation" in line]
        assert activation and "/activation" in activation[0] and " code " in activation[0]
    finally:
        stop(server)
