"""Document ingest over HTTP: ITI-65 transaction Bundles (`POST /fhir`) of 10 PDF documents of
10 KB each, as a doctor (dev token), into the records of a seeded store.

    .venv/bin/python bench/documents/ingest.py --db sqlite
    .venv/bin/python bench/documents/ingest.py --db postgres

Every run starts from a fresh store (`opendmp db upgrade && opendmp seed --patients 2000
--seed 42`), so that the same bundles go to the same records. The server is `opendmp serve`
pinned to core 0 (`taskset -c 0`); this process, the load generator, pins itself to core 1 and
sends pre-built bundles (JSON bytes built before the clock starts):

    (a) concurrency 1: one keep-alive connection, bundles one after the other;
    (b) concurrency 16: 16 threads, one keep-alive connection each.

Bundle i goes to record i mod 2000 of a seeded shuffle (random.Random(seed)) of the records; its
document j is b"%PDF-1.4\\n" followed by SHAKE-256("<seed>:<i>:<j>") filler, 10,240 bytes in all,
with masterIdentifier 1.2.250.1.999.<seed>.<i>.<j>. Each document is hashed, encrypted with the
record's data key (created on first use), written and fsynced as a blob, filed with its author
and lookup rows, and journaled (journal entry chained with SHA-256), all in the bundle's
transaction. Afterwards the documents, journal entries and blobs are counted and
`opendmp audit verify` checks every journal chain.

Goal (issue): >= 1,000 documents/s per server core (encryption, hashing, metadata and journal
included), checked as documents per CPU-second of the server process (its capacity on one core);
also shown: documents/s of wall time with the server pinned to one core, bundle latency, and the
PostgreSQL backends' CPU per document.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import doclib as dl
from doclib import bl

GOAL_DOCS_PER_S = 1000
DOC_BYTES = 10 * 1024
DOCS_PER_BUNDLE = 10
LOINC = "http://loinc.org"
PDF_HEAD = b"%PDF-1.4\n"


def pdf(seed: int, bundle: int, doc: int, size: int = DOC_BYTES) -> bytes:
    filler = hashlib.shake_256(f"{seed}:{bundle}:{doc}".encode()).digest(size - len(PDF_HEAD))
    return PDF_HEAD + filler


def bundle(seed: int, index: int, record_id: str, docs: int = DOCS_PER_BUNDLE, size: int = DOC_BYTES) -> bytes:
    """An ITI-65 provide bundle: a SubmissionSet List, then each DocumentReference and its Binary."""
    subject = {"reference": f"Patient/{record_id}"}
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{index:012d}",
            "resource": {
                "resourceType": "List",
                "status": "current",
                "mode": "working",
                "code": {
                    "coding": [
                        {"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "submissionset"}
                    ]
                },
                "subject": subject,
                "identifier": [
                    {"use": "official", "system": "urn:ietf:rfc:3986", "value": f"urn:oid:1.2.250.1.998.{seed}.{index}"}
                ],
            },
            "request": {"method": "POST", "url": "List"},
        }
    ]
    for j in range(docs):
        content = pdf(seed, index, j, size)
        binary_url = f"urn:uuid:00000000-{j:04d}-4000-9000-{index:012d}"
        entries.append(
            {
                "fullUrl": f"urn:uuid:00000000-{j:04d}-4000-a000-{index:012d}",
                "resource": {
                    "resourceType": "DocumentReference",
                    "status": "current",
                    "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"1.2.250.1.999.{seed}.{index}.{j}"},
                    "type": {"coding": [{"system": LOINC, "code": "11488-4"}]},
                    "subject": subject,
                    "content": [
                        {
                            "attachment": {
                                "contentType": "application/pdf",
                                "url": binary_url,
                                "size": len(content),
                                "title": f"Compte rendu de consultation {j + 1}",
                            }
                        }
                    ],
                },
                "request": {"method": "POST", "url": "DocumentReference"},
            }
        )
        entries.append(
            {
                "fullUrl": binary_url,
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/pdf",
                    "data": base64.b64encode(content).decode(),
                },
                "request": {"method": "POST", "url": "Binary"},
            }
        )
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()


HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def ok(status: int, body: bytes) -> bool:
    if status != 200:
        return False
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    statuses = [e["response"]["status"] for e in answer.get("entry", [])]
    return answer.get("type") == "transaction-response" and statuses == ["201 Created"] * (1 + 2 * DOCS_PER_BUNDLE)


def sequential(port: int, bearer: str, bodies: list[bytes], meter: dl.Meter) -> dict[str, Any]:
    conn = dl.Connection(port, bearer)
    latencies, errors, first_error = [], 0, None
    with meter:
        for body in bodies:
            elapsed, status, answer = conn.call("POST", "/fhir", body, HEADERS)
            latencies.append(elapsed)
            if not ok(status, answer):
                errors += 1
                first_error = first_error or f"{status} {answer[:300]!r}"
    conn.close()
    return summary(latencies, errors, first_error, meter, 1)


def concurrent(port: int, bearer: str, bodies: list[bytes], threads: int, meter: dl.Meter) -> dict[str, Any]:
    results: list[tuple[list[float], int, str | None]] = [([], 0, None)] * threads
    start = threading.Barrier(threads + 1)

    def worker(index: int) -> None:
        conn = dl.Connection(port, bearer)
        conn.call("GET", "/healthz")  # connect before the clock starts
        latencies, errors, first_error = [], 0, None
        start.wait()
        for body in bodies[index::threads]:
            elapsed, status, answer = conn.call("POST", "/fhir", body, HEADERS)
            latencies.append(elapsed)
            if not ok(status, answer):
                errors += 1
                first_error = first_error or f"{status} {answer[:300]!r}"
        results[index] = (latencies, errors, first_error)
        conn.close()

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    with meter:
        start.wait()
        for thread in pool:
            thread.join()
    latencies = [x for lat, _, _ in results for x in lat]
    first_error = next((e for _, _, e in results if e), None)
    return summary(latencies, sum(e for _, e, _ in results), first_error, meter, threads)


def summary(
    latencies: list[float], errors: int, first_error: str | None, meter: dl.Meter, threads: int
) -> dict[str, Any]:
    documents = len(latencies) * DOCS_PER_BUNDLE
    figures = meter.figures(documents, "doc")
    return {
        "threads": threads,
        "bundles": len(latencies),
        "documents": documents,
        "errors": errors,
        "first_error": first_error,
        "documents_per_s": round(documents / meter.wall, 1),
        "documents_per_server_cpu_s": round(documents / max(meter.server, 1e-9), 1),
        "bundle_latency": dl.latency_figures(latencies),
        **figures,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    t = dl.target(args.db, "ingest")
    machine = bl.machine()
    calibration = dl.calibrate(args.server_core)
    print(f"preparing a fresh store ({args.patients:,} records, seed {args.seed}) in {t.data_dir}…", flush=True)
    prepared = dl.prepare(t, args.patients, args.seed)
    rpps = dl.doctor(t)
    population = dl.records(t)
    chosen = [str(r) for r, _ in population]
    random.Random(args.seed).shuffle(chosen)
    total = args.warmup + args.bundles_c1 + args.bundles_c16
    started = time.perf_counter()
    bodies = [bundle(args.seed, i, chosen[i % len(chosen)]) for i in range(total)]
    built_s = time.perf_counter() - started
    bearer = dl.token(t, "--rpps", rpps)
    server = dl.Server(t, args.port, args.server_core)
    database = dl.database_name(t)
    try:
        os.sched_setaffinity(0, {args.client_core})
        warm = sequential(args.port, bearer, bodies[: args.warmup], dl.Meter(server.pid, database))
        c1 = sequential(
            args.port, bearer, bodies[args.warmup : args.warmup + args.bundles_c1], dl.Meter(server.pid, database)
        )
        c16 = concurrent(
            args.port, bearer, bodies[args.warmup + args.bundles_c1 :], args.concurrency, dl.Meter(server.pid, database)
        )
        server_rss = bl.rss_bytes(server.pid)
    finally:
        server.stop()
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    expected = total * DOCS_PER_BUNDLE
    stored = dl.count(t, "SELECT count(*) FROM document")
    journaled = dl.count(t, "SELECT count(*) FROM journal_entry WHERE action = 'document:create'")
    authors = dl.count(t, "SELECT count(*) FROM document_author")
    blobs = sum(1 for p in (t.data_dir / "blobs").rglob("*") if p.is_file() and ".partial" not in p.parts)
    verify_log = t.data_dir / "verify.log"
    try:
        bl.run_opendmp(t, ["audit", "verify"], log=verify_log)
        verified = "every journal chain intact"
    except SystemExit as error:
        verified = f"FAILED: {str(error)[-300:]}"
    return {
        "benchmark": "documents-ingest",
        "date": bl.now_iso(),
        "machine": machine,
        "calibration_ms": calibration,
        "database": dl.database_line(t),
        "db": t.db,
        "patients": len(population),
        "seed": args.seed,
        "prepare": prepared,
        "rpps": rpps,
        "bundle_bytes": len(bodies[0]),
        "bundles_built_s": round(built_s, 2),
        "server_command": server.command,
        "client": f"this script pinned to core {args.client_core}: http.client keep-alive, POST /fhir",
        "warmup": warm,
        "c1": c1,
        "c16": c16,
        "server_rss_mb_after": round(server_rss / 1024 / 1024, 1),
        "check": {
            "expected_documents": expected,
            "documents": stored,
            "document_authors": authors,
            "journal_document_create": journaled,
            "blobs": blobs,
            "audit_verify": verified,
        },
    }


def report(r: dict[str, Any]) -> str:
    c1, c16, check = r["c1"], r["c16"], r["check"]
    best = max(c1["documents_per_server_cpu_s"], c16["documents_per_server_cpu_s"])

    def line(p: dict[str, Any]) -> list[str]:
        lat = p["bundle_latency"]
        pg = (
            f"; PostgreSQL backends {p['postgres_cpu_ms_per_doc']:.3f} ms/doc"
            if p["postgres_cpu_ms_per_doc"] is not None
            else ""
        )
        return [
            f"  concurrency {p['threads']}: {p['bundles']} bundles = {p['documents']:,} documents in "
            f"{p['wall_s']:.2f} s, {p['errors']} errors -> {p['documents_per_s']:,.0f} documents/s",
            f"    bundle latency p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, "
            f"max {lat['max_ms']:.1f} ms",
            f"    server CPU {p['server_cpu_ms_per_doc']:.3f} ms/doc ({p['documents_per_server_cpu_s']:,.0f} documents "
            f"per server CPU-second){pg}; client {p['client_cpu_ms_per_doc']:.3f} ms/doc; other processes "
            f"{p['other_load_cores']:.2f} cores",
        ] + ([f"    first error: {p['first_error']}"] if p["first_error"] else [])

    lines = [
        *dl.header(f"opendmp document ingest benchmark, ITI-65 ({r['db']})", r),
        f"dataset   {r['patients']:,} seeded records (opendmp seed --patients {r['patients']} --seed {r['seed']}, "
        f"{r['prepare']['seed_s']:.1f} s); bundles of {DOCS_PER_BUNDLE} PDF documents of {DOC_BYTES:,} bytes "
        f"({r['bundle_bytes']:,} bytes of JSON each), deterministic; as the doctor RPPS {r['rpps']} (dev token)",
        f"server    {r['server_command']}",
        f"client    {r['client']}",
        f"command   .venv/bin/python bench/documents/ingest.py --db {r['db']}",
        "figures",
        f"  warm-up: {r['warmup']['bundles']} bundles, {r['warmup']['errors']} errors (not counted)",
        *line(c1),
        *line(c16),
        f"  server RSS after the run {r['server_rss_mb_after']:.0f} MB",
        f"check     {check['documents']:,} documents stored of {check['expected_documents']:,} sent, "
        f"{check['document_authors']:,} author rows, {check['journal_document_create']:,} document:create journal "
        f"entries, {check['blobs']:,} blobs; opendmp audit verify: {check['audit_verify']}",
        f"goal      >= {GOAL_DOCS_PER_S:,} documents per server core-second: {dl.met(best >= GOAL_DOCS_PER_S)} "
        f"(per server CPU-second c=1 {c1['documents_per_server_cpu_s']:,.0f}, c=16 "
        f"{c16['documents_per_server_cpu_s']:,.0f}; wall, server pinned to one core, c=1 "
        f"{c1['documents_per_s']:,.0f}/s, c=16 {c16['documents_per_s']:,.0f}/s)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--warmup", type=int, default=10, help="bundles sent before measuring")
    parser.add_argument("--bundles-c1", type=int, default=200, help="bundles at concurrency 1")
    parser.add_argument("--bundles-c16", type=int, default=400, help="bundles at concurrency 16")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=8131)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    result = run(args)
    print(report(result), flush=True)
    bl.save_json(args.json, result)


if __name__ == "__main__":
    main()
