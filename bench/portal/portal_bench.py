"""Portal page times (issue 7, item 4: server time <= 50 ms p99 on the demo data, credential
checks excepted).

    .venv/bin/python bench/portal/portal_bench.py [--patients 2000] [--requests 300] [--json out.json]
    make bench-portal

Dataset: the demo's (`opendmp demo`: `seed_platform(patients=2000, seed=42)` on SQLite in a
temporary folder; deterministic). The measured record is the seeded record with the most
documents; a médecin généraliste of the directory is authorised on it (express consent, patient
present) so that the professional's pages list them; the patient gets an account.

Each page is requested in process through Litestar's TestClient (the whole app: middleware,
session lookup, CSRF, services, journal writes, templates), with a signed-in session made
directly (the login itself is the credential check the goal excepts), --requests times after 20
warm-ups; p50/p95/p99/max of the time around each request. The TestClient's own overhead is
inside the figure, so it bounds the server time from above.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import machine, machine_line, now_iso
from litestar.testing import TestClient
from sqlalchemy import event, func, select

from opendmp import migrate
from opendmp.app import create_app
from opendmp.auth import patients
from opendmp.auth.account_models import SessionStage
from opendmp.auth.sessions import start
from opendmp.config import Environment, Settings
from opendmp.consent import service as consents
from opendmp.document import service as documents
from opendmp.document.codes import document_types
from opendmp.document.models import Document
from opendmp.fhir.document import DocumentIn, SubjectRef
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins, InsSystem
from opendmp.identity.models import Organisation, Patient, Professional
from opendmp.kit.db import unit_of_work
from opendmp.kit.logging import configure_logging
from opendmp.record.models import Record
from opendmp.runtime import build_runtime
from opendmp.seed import seed_platform
from opendmp.web.patient_pages import edge_of

WARM_UP = 20
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


STATEMENTS = [0]  # SQL statements sent, counted by an engine event


def timed(call: Callable[[], Any], n: int) -> dict[str, float]:
    for _ in range(WARM_UP):
        call()
    STATEMENTS[0] = 0
    call()  # one more, counting its SQL statements (BEGIN included): a deterministic figure
    statements = STATEMENTS[0]
    times, cpu = [], []
    for _ in range(n):
        began, began_cpu = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    return {
        "p50": round(statistics.median(times), 2),
        "p95": round(percentile(times, 0.95), 2),
        "p99": round(percentile(times, 0.99), 2),
        "max": round(max(times), 2),
        # CPU time of this process (server and client threads) per request: what the request
        # costs, whatever else the shared machine runs meanwhile.
        "cpu_p50": round(statistics.median(cpu), 2),
        "cpu_p99": round(percentile(cpu, 0.99), 2),
        "statements": statements,
    }


def session_for(web: TestClient[Any], runtime: Any, actor: Actor, account_id: Any = None) -> None:
    class _Request:
        app = web.app

    edge = edge_of(_Request())  # type: ignore[arg-type]
    with unit_of_work(runtime.sessions) as db:
        token = start(
            db,
            actor,
            SessionStage.AUTHENTICATED,
            runtime.clock.now(),
            edge.policy,
            edge.secrets.random,
            account_id=account_id,
        )
    web.cookies.clear()
    web.cookies.set(edge.session_cookie, token, domain="testserver.local")


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert found, "a form with its CSRF token"
    return found.group(1)


def ok(answer: Any, *statuses: int) -> Any:
    assert answer.status_code in (statuses or (200,)), (answer.status_code, answer.text[:300])
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--documents", type=int, default=60, help="documents filed in the measured record")
    parser.add_argument("--types", type=int, default=12, help="document types they are spread over")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    configure_logging("WARNING")  # the request log line of each request is not the figure
    info = machine()
    print(f"machine: {machine_line(info)}")
    print(f"command: {' '.join(sys.argv)}")

    folder = Path(tempfile.mkdtemp(prefix="opendmp-portal-bench-"))
    settings = Settings(
        env=Environment.TEST,
        dev_mode=True,
        data_dir=folder,
        database_url=f"sqlite:///{folder / 'opendmp.sqlite3'}",
        journal_checkpoint_interval=0,
        login_rate_limit="1000000/minute",
        log_level="WARNING",
    )
    migrate.upgrade(settings.resolved_database_url, settings.admin_database_url)
    runtime = build_runtime(settings)
    began = time.perf_counter()
    seed_platform(runtime, patients=args.patients, seed=args.seed)
    print(
        f"dataset: demo data, {args.patients} patients, seed {args.seed} (loaded in {time.perf_counter() - began:.0f} s)"
    )

    with unit_of_work(runtime.sessions) as db:
        # The demo's first active record (ordered by INS, as `opendmp demo` prints it).
        patient = db.execute(
            select(Patient)
            .join(Record, Record.id == Patient.record_id)
            .where(Record.status == "active")
            .order_by(Patient.ins_value)
            .limit(1)
        ).scalar_one()
        record_id = patient.record_id
        ins = Ins(InsSystem(patient.ins_system), patient.ins_value)
        rpps = db.execute(
            select(Professional.rpps).where(Professional.profession == "10").order_by(Professional.rpps).limit(1)
        ).scalar_one()
        office = db.execute(select(Organisation.finess).where(Organisation.kind == "insurer-office").limit(1)).scalar()
    doctor = Actor.professional(rpps, "10")
    holder = Actor.patient(ins)
    with unit_of_work(runtime.sessions) as db:
        consents.authorise(db, doctor, record_id, rpps, runtime.clock.now(), patient_present=True)
        secrets = edge_of_runtime(runtime)
        patients.issue_credentials(db, Actor.system("bench"), record_id, runtime.clock.now(), secrets)
        account_id = patients.account_of_record(db, record_id).id  # type: ignore[union-attr]
    # The demo data carry no documents: the record gets --documents PDFs through the document
    # service (encrypted under its data key), of the national types' first --types, deterministic.
    kinds = sorted(document_types().values(), key=lambda t: (t.system_oid, t.code))[: args.types]
    for i in range(args.documents):
        kind = kinds[i % len(kinds)]
        day = runtime.clock.now() - timedelta(days=3 * i + 1)
        item = DocumentIn(
            subject=SubjectRef(record_id=record_id),
            type_system=kind.system_oid,
            type_code=kind.code,
            title=f"{kind.display_fr} n°{i + 1}",
            mime_type="application/pdf",
            created_at=day,
            service_start=day,
            service_stop=day,
        )
        content = PDF + f"% {i}\n".encode()
        with unit_of_work(runtime.sessions) as db:
            documents.submit_document(
                db, doctor, item, content, runtime.clock.now(), runtime.vault, max_size=10_000_000, notify=False
            )
    with unit_of_work(runtime.sessions) as db:
        document_id = db.execute(
            select(Document.id).where(Document.record_id == record_id).order_by(Document.id).limit(1)
        ).scalar_one()
        totals = {
            "records": db.execute(select(func.count()).select_from(Record)).scalar_one(),
            "documents": db.execute(select(func.count()).select_from(Document)).scalar_one(),
        }
    print(
        f"store: {totals['records']} records, {totals['documents']} documents; "
        f"measured record: {args.documents} documents of {len(kinds)} types"
    )

    results: dict[str, dict[str, float]] = {}

    @event.listens_for(runtime.engine, "before_cursor_execute")
    def _count(*_: Any) -> None:
        STATEMENTS[0] += 1

    with TestClient(app=create_app(runtime=runtime), base_url="http://testserver.local") as web:
        n = args.requests

        session_for(web, runtime, holder, account_id)
        results["patient: record at a glance"] = timed(lambda: ok(web.get(f"/dossiers/{record_id}")), n)
        results["patient: documents list"] = timed(lambda: ok(web.get(f"/dossiers/{record_id}/documents")), n)
        results["patient: viewer page"] = timed(lambda: ok(web.get(f"/documents/{document_id}")), n)
        results["patient: journal"] = timed(lambda: ok(web.get(f"/dossiers/{record_id}/journal")), n)

        session_for(web, runtime, doctor)
        token = csrf(ok(web.get("/pro")).text)
        search = {"csrf_token": token, "par": "ins", "ins": ins.value, "systeme": ins.system.value}
        results["pro: search by INS (POST, 303)"] = timed(
            lambda: ok(web.post("/pro", data=search, follow_redirects=False), 303), n
        )
        results["pro: record page (documents, standing)"] = timed(lambda: ok(web.get(f"/pro/dossier/{record_id}")), n)
        results["pro: viewer page"] = timed(lambda: ok(web.get(f"/documents/{document_id}")), n)

        session_for(web, runtime, Actor.counter_agent("bench-agent", office))
        results["counter: opening form"] = timed(lambda: ok(web.get("/guichet/ouverture")), n)
        token = csrf(ok(web.get("/guichet/ouverture")).text)
        results["counter: NIR check (htmx fragment)"] = timed(
            lambda: ok(web.post("/guichet/ouverture/nir", data={"csrf_token": token, "ins": ins.value})), n
        )

        session_for(web, runtime, Actor.operator("bench-operator"))
        dashboard = web.get("/exploitation/tableau-de-bord")
        if dashboard.status_code == 200:
            results["operator: dashboard"] = timed(lambda: ok(web.get("/exploitation/tableau-de-bord")), n)

    runtime.close()
    width = max(len(k) for k in results)
    head = f"{'page':<{width}}  {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  {'cpu p50':>7} {'cpu p99':>7} {'SQL':>4}"
    print(f"\n{head}  (ms, {args.requests} requests)")
    for name, r in results.items():
        flag = "" if r["p99"] <= 50 else "  > 50 ms p99"
        print(
            f"{name:<{width}}  {r['p50']:>7} {r['p95']:>7} {r['p99']:>7} {r['max']:>7}  "
            f"{r['cpu_p50']:>7} {r['cpu_p99']:>7} {r['statements']:>4}{flag}"
        )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"at": now_iso(), "machine": info, "patients": args.patients, "totals": totals, "pages": results},
                indent=1,
            )
        )


def edge_of_runtime(runtime: Any) -> Any:
    from opendmp.auth.hashing import AuthSecrets

    return AuthSecrets.from_master_key(runtime.keys.master_key)


if __name__ == "__main__":
    main()
