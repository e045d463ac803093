"""Where the time of the document paths goes, in process: CPU and wall time per stage and SQL
statements per operation, for the three paths the document benchmarks measure over HTTP.

    .venv/bin/python bench/documents/breakdown.py --db sqlite
    .venv/bin/python bench/documents/breakdown.py --db postgres

Reuses the stores the benchmarks left behind (run them first): ingest-<db> for the ITI-65 path,
binary-<db> for the content read, and on PostgreSQL list1000 / list100000 for the list. The stages
are the service's own functions, wrapped with timers (thread CPU time and wall time); SQL
statements are counted with SQLAlchemy's before_cursor_execute on the main and key-store engines.
This process is pinned to core 0 (where the benchmarks pin the server). Timers add a little
overhead; the totals are those of the unwrapped calls plus a few microseconds per stage.

    ingest  — decode the bundle as the route does, then submit_set + commit, --bundles bundles of 10
    read    — get_document + vault.open consumed to the end (the 1 MB PDF) + commit, --reads times
    list    — search_documents (holder, first page of 20) + commit, --queries times per store
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import random
import time
from pathlib import Path
from typing import Any

import doclib as dl
import ingest as ingest_bench
from doclib import bl


class Stages:
    def __init__(self) -> None:
        self.cpu: collections.Counter[str] = collections.Counter()
        self.wall: collections.Counter[str] = collections.Counter()
        self.sql: collections.Counter[str] = collections.Counter()
        self.depth = 0

    def wrap(self, owner: Any, name: str, label: str) -> None:
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.cpu[label] += time.thread_time() - cpu
                self.wall[label] += time.perf_counter() - wall

        setattr(owner, name, timed)

    def count_sql(self, engine: Any, label: str) -> None:
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def counted(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            self.sql[f"{label} {statement.split()[0].upper()}"] += 1

    def reset(self) -> None:
        self.cpu.clear()
        self.wall.clear()
        self.sql.clear()

    def table(self, title: str, n: int, unit: str) -> str:
        plural = unit + ("es" if unit.endswith("h") else "s")
        lines = [f"{title}: per {unit}, over {n:,} {plural}"]
        for label, cpu in sorted(self.cpu.items(), key=lambda x: (not x[0].startswith("TOTAL"), -x[1])):
            lines.append(f"  {label:48s} CPU {cpu / n * 1000:7.3f} ms   wall {self.wall[label] / n * 1000:7.3f} ms")
        statements = ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(self.sql.items()))
        lines.append(f"  SQL statements per {unit}: {statements} (plus BEGIN/COMMIT and pool pings)")
        return "\n".join(lines)


def runtime_for(t: bl.Target) -> Any:
    from opendmp.config import Settings
    from opendmp.runtime import build_runtime

    env = t.env
    return build_runtime(
        Settings(
            data_dir=Path(env["OPENDMP_DATA_DIR"]),
            database_url=env.get("OPENDMP_DATABASE_URL") or t.database_url,
            admin_database_url=env.get("OPENDMP_ADMIN_DATABASE_URL"),
            dev_mode=True,
            max_document_bytes=25_000_000,
        ),
        pool_size=2,
    )


def instrument(stages: Stages, runtime: Any) -> None:
    from opendmp.document import blobstore
    from opendmp.document import service as documents

    stages.wrap(documents, "_record_and_facts", "record + patient + facts (4 SELECT)")
    stages.wrap(documents.repo, "by_unique_id", "unique id lookup")
    stages.wrap(documents.repo, "search", "count + page (2 SELECT)")
    stages.wrap(documents.repo, "authors_of", "authors_of")
    stages.wrap(documents.repo, "get", "document by id")
    stages.wrap(documents.access, "require", "access.require")
    stages.wrap(documents.journal, "append", "journal.append (head SELECT + autoflush)")
    stages.wrap(runtime.vault.keys, "data_key_for", "key store: data key (own transaction)")
    stages.wrap(runtime.vault.blobs, "put", "blob: encrypt + hash + write + fsync")
    stages.wrap(blobstore, "_fsync_dir", "  of which directory fsync")
    stages.count_sql(runtime.engine, "main")
    stages.count_sql(runtime.vault.keys._engine, "keystore")


def timed_total(stages: Stages, label: str, fn: Any) -> Any:
    cpu, wall = time.thread_time(), time.perf_counter()
    try:
        return fn()
    finally:
        stages.cpu[label] += time.thread_time() - cpu
        stages.wall[label] += time.perf_counter() - wall


def ingest_path(db: str, bundles: int, seed: int) -> str:
    from opendmp.document import service as documents
    from opendmp.fhir import document as fhir_document
    from opendmp.fhir.document_routes import _binary_bytes, _submission_set
    from opendmp.fhir.json import decode_resource
    from opendmp.identity.actor import Actor

    t = dl.target(db, "ingest")
    if not t.data_dir.exists():
        return f"ingest: no store in {t.data_dir} (run bench/documents/ingest.py --db {db} first)"
    runtime = runtime_for(t)
    stages = Stages()
    instrument(stages, runtime)
    actor = Actor.professional(dl.doctor(t), "10").at("127.0.0.1")
    records = [str(r) for r, _ in dl.records(t)]
    offset = int(time.time()) % 100_000 * 1000  # fresh unique ids on every run
    bodies = [ingest_bench.bundle(seed, offset + i, records[(i * 7) % len(records)]) for i in range(bundles + 5)]

    def one(body: bytes) -> None:
        def decode() -> tuple[Any, list[Any]]:
            bundle = decode_resource(body, "application/fhir+json", "Bundle")
            binaries, references, submission = {}, [], None
            for entry in bundle["entry"]:
                resource = entry["resource"]
                if resource["resourceType"] == "Binary":
                    binaries[entry["fullUrl"]] = _binary_bytes(resource, "data")
                elif resource["resourceType"] == "DocumentReference":
                    references.append(fhir_document.parse_document_reference(resource))
                else:
                    submission = _submission_set(resource)
            return submission, [(item, binaries[item.content_url][1]) for item in references]

        submission, items = timed_total(stages, "decode + parse the bundle", decode)
        session = runtime.sessions()
        try:
            timed_total(
                stages,
                "submit_set (10 documents)",
                lambda: documents.submit_set(
                    session, actor, submission, items, runtime.clock.now(), runtime.vault, max_size=25_000_000
                ),
            )
            timed_total(stages, "commit", session.commit)
        finally:
            session.close()

    try:
        for body in bodies[:5]:
            one(body)
        stages.reset()
        for body in bodies[5:]:
            timed_total(stages, "TOTAL per document", lambda b=body: one(b))
    finally:
        runtime.close()
    return stages.table(f"ingest ({db}, ITI-65 bundles of 10 × 10 KB, in process)", bundles * 10, "document")


def read_path(db: str, reads: int) -> str:
    from sqlalchemy import text

    from opendmp.document import service as documents
    from opendmp.identity.actor import Actor
    from opendmp.kit.db import unit_of_work

    t = dl.target(db, "binary")
    if not t.data_dir.exists():
        return f"read: no store in {t.data_dir} (run bench/documents/binary.py --db {db} first)"
    runtime = runtime_for(t)
    stages = Stages()
    instrument(stages, runtime)
    actor = Actor.professional(dl.doctor(t), "10").at("127.0.0.1")
    with runtime.sessions() as session:
        found = session.execute(text("SELECT id FROM document WHERE size = 1000000 LIMIT 1")).scalar_one()
    document_id = dl.as_uuid(found)

    def one() -> None:
        def metadata() -> Any:
            with unit_of_work(runtime.sessions) as session:
                document, chunks = documents.read_content(
                    session, actor, document_id, runtime.clock.now(), runtime.vault
                )
                first = next(chunks, b"")
            return document, first, chunks

        document, first, chunks = timed_total(stages, "read_content + commit (metadata, journal)", metadata)
        size = timed_total(stages, "decrypt + verify the rest (1 MB)", lambda: len(first) + sum(len(c) for c in chunks))
        assert size == document.size

    try:
        for _ in range(10):
            one()
        stages.reset()
        for _ in range(reads):
            timed_total(stages, "TOTAL per read", one)
    finally:
        runtime.close()
    return stages.table(f"content read ({db}, the 1 MB PDF, in process)", reads, "read")


def list_path(records: int, queries: int, seed: int) -> str:
    from opendmp.document import service as documents
    from opendmp.identity.actor import Actor
    from opendmp.identity.ins import Ins, InsSystem

    t = dl.target("postgres", f"list{records}")
    if not t.data_dir.exists():
        return f"list: no store in {t.data_dir} (run bench/documents/listing.py first)"
    runtime = runtime_for(t)
    stages = Stages()
    instrument(stages, runtime)
    population = dl.records(t)
    sample = random.Random(seed + 1).sample(population, min(queries + 20, len(population)))
    query = documents.DocumentQuery(count=20)

    def one(record_id: Any, nir: str) -> None:
        session = runtime.sessions()
        try:
            actor = Actor.patient(Ins(InsSystem.DEMO_NIR, nir))
            found, _total = timed_total(
                stages,
                "search_documents",
                lambda: documents.search_documents(session, actor, record_id, query, runtime.clock.now()),
            )
            assert len(found) == 20
            timed_total(stages, "commit (journal INSERT + head UPDATE)", session.commit)
        finally:
            session.close()

    try:
        for record_id, nir in sample[:20]:
            one(record_id, nir)
        stages.reset()
        for record_id, nir in sample[20:]:
            timed_total(stages, "TOTAL per search", lambda r=record_id, n=nir: one(r, n))
    finally:
        runtime.close()
    n = len(sample) - 20
    return stages.table(f"list ({records * 100:,} documents, holder, first page of 20, in process)", n, "search")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--bundles", type=int, default=50)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--core", type=int, default=0)
    args = parser.parse_args()
    print(
        f"== opendmp document paths, in-process breakdown ({args.db}) ==\ndate      {bl.now_iso()}\n"
        f"machine   {bl.machine_line(bl.machine())}; CPU calibration: 2M-iteration Python loop "
        f"{dl.calibrate(args.core):.0f} ms on core {args.core}\n"
        f"command   .venv/bin/python bench/documents/breakdown.py --db {args.db}",
        flush=True,
    )
    os.sched_setaffinity(0, {args.core})
    print(ingest_path(args.db, args.bundles, args.seed), flush=True)
    print(read_path(args.db, args.reads), flush=True)
    if args.db == "postgres":
        for records in (1000, 100_000):
            print(list_path(records, args.queries, args.seed), flush=True)


if __name__ == "__main__":
    main()
