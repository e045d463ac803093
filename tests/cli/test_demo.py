"""`opendmp demo` on a fresh data directory: migrates, loads demo data, serves real HTTP."""

from __future__ import annotations

import re
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
        # The sample patient (the first NIR) has a reimbursement history, generated on read.
        sample = subprocess.run(
            [
                sys.executable,
                "-c",
                script.replace("from patient limit 1", "from patient order by ins_value limit 1"),
                str(tmp_path / "store" / "opendmp.sqlite3"),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[1]
        holder = subprocess.run(
            [OPENDMP, "dev-token", "--ins", sample], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        as_holder = {"Authorization": f"Bearer {holder}"}
        record = httpx.post(
            f"{base}/fhir/Patient/_search",
            data={"identifier": f"urn:oid:1.2.250.1.213.1.4.11|{sample}"},
            headers=as_holder,
        ).json()["entry"][0]["resource"]["id"]
        history = httpx.get(f"{base}/fhir/DocumentReference?patient={record}&type=REMB", headers=as_holder).json()
        assert history["total"] == 1
        content = httpx.get(history["entry"][0]["resource"]["content"][0]["attachment"]["url"], headers=as_holder)
        assert content.status_code == 200 and content.json()["lines"] == 80
        # The sample patient's documents from several authors, which the demo doctor (the first
        # RPPS, as the demo prints it) reads through the API, the policy permitting.
        demo_doctor = subprocess.run(
            [
                sys.executable,
                "-c",
                script.replace("profession='10' limit 1", "profession='10' order by rpps limit 1"),
                str(tmp_path / "store" / "opendmp.sqlite3"),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[0]
        doctor = subprocess.run(
            [OPENDMP, "dev-token", "--rpps", demo_doctor], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        as_doctor = {"Authorization": f"Bearer {doctor}"}
        listed = httpx.get(f"{base}/fhir/DocumentReference?patient={record}&_count=50", headers=as_doctor).json()
        types = {e["resource"]["type"]["coding"][0]["code"] for e in listed["entry"]}
        assert {"11502-2", "34112-3", "18748-4", "11488-4"} <= types
        biology = next(
            e["resource"] for e in listed["entry"] if e["resource"]["type"]["coding"][0]["code"] == "11502-2"
        )
        pdf = httpx.get(biology["content"][0]["attachment"]["url"], headers=as_doctor)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
        # The sample patient's identifier and activation code, as a counter's letter gives them.
        activation = [line for line in (tmp_path / "demo.log").read_text().splitlines() if "patient activation" in line]
        assert activation and "/activation" in activation[0] and " code " in activation[0]
        # The printed demo accounts log in through the demo provider and land on their spaces.
        log = (tmp_path / "demo.log").read_text()
        for start, user, home, heading in [
            ("/connexion/pro", "dr-demo", "/pro", "Espace professionnel"),
            ("/connexion/pro", "pharmacien-demo", "/pro", "Ouvrir un DMP pour un patient présent"),
            ("/connexion/agent", "agent-demo", "/guichet", "Espace guichet"),
            ("/connexion/agent", "operateur-demo", "/operateur", "Espace opérateur"),
        ]:
            assert f"user {user}" in log
            assert heading in log_in_as(base, start, user, home)
    finally:
        stop(server)


def log_in_as(base: str, start: str, user: str, home: str) -> str:
    """Press the login button, pick `user` on the provider's page, follow back: the landing page."""
    with httpx.Client(base_url=base) as browser:
        token = re.search(r'name="csrf_token" value="([^"]*)"', browser.get(start).text)
        assert token is not None
        provider = browser.post(start, data={"csrf_token": token.group(1)}).headers["location"]
        back = httpx.post(provider, data={"sub": user}).headers["location"]
        landed = browser.get(back.removeprefix(base))
        assert landed.status_code == 303 and landed.headers["location"] == home, landed.text[:300]
        return browser.get(home).text
