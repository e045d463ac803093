"""Establishment feeds: batches of ITI-65 bundles filed by a hospital's software client, each
bundle in its own transaction, and the same batches sent again (retries answered from
feed_submission). In process, through `establishment.service.submit_batch` (what `POST /fhir`
with a batch Bundle and `opendmp feed folder` call): no HTTP, so these are the service's figures.

    .venv/bin/python bench/feeds/batch_bench.py --db sqlite
    .venv/bin/python bench/feeds/batch_bench.py --db postgres

A fresh store (`opendmp db upgrade && opendmp seed --patients 2000 --seed 42`), then a university
hospital (FINESS 690099999), its doctor (RPPS 10999999999) authorised on every record (not
timed), and --bundles bundles (default 1,000) in batches of 100: bundle i goes to record
i mod 2000 (records ordered by id) with one PDF of 10,240 bytes (b"%PDF-1.4\\n" + SHAKE-256 of
"feed:<i>"), masterIdentifier 1.2.250.1.999.42.<i>.1, SubmissionSet 1.2.250.1.999.42.<i>; every
20th bundle is bad (a text claimed as a PDF) and must be refused alone. Timed: (a) the first
sending of every batch; (b) the same batches again. Then checked: documents and feed_submission
rows equal the good bundles, and `opendmp audit verify` passes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "documents"))

import doclib as dl
from doclib import bl

FINESS, RPPS = "690099999", "10999999999"
BATCH = 100
PATIENTS = 2000


def pdf(i: int) -> bytes:
    head = b"%PDF-1.4\n"
    return head + hashlib.shake_256(f"feed:{i}".encode()).digest(10_240 - len(head))


def bundle(i: int, record_id: Any) -> dict[str, Any]:
    content = pdf(i) if i % 20 != 19 else b"not a pdf, refused alone" * 10
    binary = f"urn:uuid:00000000-0000-4000-8000-{i:012d}"
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "List",
                    "status": "current",
                    "mode": "working",
                    "subject": {"reference": f"Patient/{record_id}"},
                    "identifier": [{"use": "official", "value": f"urn:oid:1.2.250.1.999.42.{i}"}],
                },
                "request": {"method": "POST", "url": "List"},
            },
            {
                "resource": {
                    "resourceType": "DocumentReference",
                    "status": "current",
                    "masterIdentifier": {"value": f"urn:oid:1.2.250.1.999.42.{i}.1"},
                    "subject": {"reference": f"Patient/{record_id}"},
                    "type": {"coding": [{"system": "http://loinc.org", "code": "34112-3"}]},
                    "content": [{"attachment": {"contentType": "application/pdf", "url": binary}}],
                },
                "request": {"method": "POST", "url": "DocumentReference"},
            },
            {
                "fullUrl": binary,
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/pdf",
                    "data": base64.b64encode(content).decode(),
                },
                "request": {"method": "POST", "url": "Binary"},
            },
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--bundles", type=int, default=1000)
    args = parser.parse_args()
    t = dl.target(args.db, "feeds")
    started = bl.now_iso()
    machine = bl.machine()
    prepared = dl.prepare(t, PATIENTS, 42)
    os.environ.update(t.env)

    from sqlalchemy import func, select

    from opendmp.config import Settings
    from opendmp.consent import service as consents
    from opendmp.document.models import Document
    from opendmp.establishment import service as feeds
    from opendmp.establishment.models import FeedSubmission
    from opendmp.identity import service as identity
    from opendmp.identity.actor import Actor
    from opendmp.identity.models import Patient
    from opendmp.kit.db import unit_of_work
    from opendmp.runtime import build_runtime

    runtime = build_runtime(Settings(), pool_size=2)
    now = runtime.clock.now
    operator = Actor.operator("bench")
    with unit_of_work(runtime.sessions) as session:
        identity.add_organisation(
            session, operator, identity.OrganisationIn(FINESS, "CHU de banc", "university-hospital", "69"), now()
        )
        identity.add_professional(
            session,
            operator,
            identity.ProfessionalIn(rpps=RPPS, profession="10", family="BANC", given="Eve", finess=FINESS),
            now(),
        )
    with runtime.sessions() as session:
        records = list(session.execute(select(Patient.record_id).order_by(Patient.record_id)).scalars())
    doctor = Actor.professional(RPPS, "10", FINESS)
    for record_id in records[: args.bundles]:  # the records the bundles go to
        with unit_of_work(runtime.sessions) as session:
            consents.authorise(session, doctor, record_id, RPPS, now(), patient_present=True)
    software = Actor.software("lps-bench", FINESS, RPPS, "10", scopes=frozenset({"dmp:alimentation"}))
    bundles = [bundle(i, records[i % len(records)]) for i in range(args.bundles)]
    batches = [bundles[k : k + BATCH] for k in range(0, len(bundles), BATCH)]
    limit = runtime.settings.max_document_bytes

    def send_all() -> tuple[float, float, list[Any]]:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        results = []
        for batch in batches:
            results += feeds.submit_batch(runtime.sessions, software, batch, now(), runtime.vault, max_size=limit)
        return time.perf_counter() - wall0, time.process_time() - cpu0, results

    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        cProfile.runctx("send_all()", globals(), {"send_all": send_all}, os.environ["BENCH_PROFILE"])
        return
    first_wall, first_cpu, first = send_all()
    again_wall, again_cpu, again = send_all()
    good = sum(1 for i in range(args.bundles) if i % 20 != 19)
    with runtime.sessions() as session:
        documents = session.execute(
            select(func.count()).select_from(Document).where(Document.submitted_by == "lps-bench")
        ).scalar_one()
        answered = session.execute(select(func.count()).select_from(FeedSubmission)).scalar_one()
    runtime.close()
    checks = {
        "filed first time": sum(1 for r in first if r.ok and not r.replayed) == good,
        "refused alone": sum(1 for r in first if not r.ok) == args.bundles - good,
        "replayed second time": sum(1 for r in again if r.replayed) == good,
        "documents == good bundles": documents == good,
        "feed_submission rows == good bundles": answered == good,
    }
    bl.run_opendmp(t, ["audit", "verify"], timeout=3600)  # exits the benchmark if a chain is broken
    checks["audit verify"] = True
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        f"== Establishment feeds: batches of ITI-65 bundles, in process ({args.db}) ==",
        f"date      {started}",
        f"machine   {bl.machine_line(machine)}",
        f"command   .venv/bin/python bench/feeds/batch_bench.py --db {args.db} --bundles {args.bundles}",
        f"dataset   {PATIENTS} seeded records (seed 42, {prepared['seed_s']} s); {args.bundles} bundles of one 10,240-byte PDF "
        f"in {len(batches)} batches of {BATCH}; {args.bundles - good} bad bundles (every 20th)",
        f"first     {first_wall:.2f} s wall, {first_cpu:.2f} s CPU of this process: {args.bundles / first_wall:,.0f} bundles/s, "
        f"{good / first_wall:,.0f} documents/s, {1000 * first_wall / args.bundles:.2f} ms per bundle",
        f"retry     {again_wall:.2f} s wall, {again_cpu:.2f} s CPU: {args.bundles / again_wall:,.0f} bundles/s "
        f"({first_wall / max(again_wall, 1e-9):.1f}x faster than filing)",
        f"memory    peak RSS of this process {peak_mib:.0f} MiB",
        "checks    " + ", ".join(f"{name}: {'ok' if ok else 'FAILED'}" for name, ok in checks.items()),
    ]
    print("\n".join(lines))
    if not all(checks.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
