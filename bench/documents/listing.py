"""A record's document list at scale (PostgreSQL): the first page of 20 of a record holding 100
documents, with R records × 100 documents in the database, at two sizes measured side by side.

    .venv/bin/python bench/documents/listing.py                      # 10,000,000 and 100,000 documents
    .venv/bin/python bench/documents/listing.py --records 100000 --load-only    # just load

Load (once per size; reused while its bench-state.json matches, --reload to redo): a fresh
database opendmp_bench_docs_list<R>, `opendmp db upgrade`, `opendmp seed --patients R --seed 42`,
then the documents written with COPY straight into document, document_author, document_lookup
and journal_entry (each document's `document:create` entry, chained and hashed exactly as
`journal.append` does, and journal_head moved to the last entry, so `opendmp audit verify`
holds). Rows come in submission order, one document per record per round, 100 rounds, submitted
between 2026-10-20 and 2026-11-19 UTC: a record's documents lie on 100 different heap pages, as
after months of feeding. Each record has one doctor of the seeded directory as submitter and
author of its 100 documents. The indexes and constraints of those tables are dropped for the
COPY and rebuilt after it (same definitions), then VACUUM (ANALYZE) and CHECKPOINT.
Deterministic: random.Random(seed).

Measure (per size, a fixed sample of --queries records drawn with random.Random(seed)); the sizes
alternate block by block (--block queries), so both meet the same background load:
    (a) in process, `opendmp.document.service.search_documents` in a unit of work (commit
        included: each search journals a `document:search` entry), this process pinned to core 0:
        as the holder (a first pass, then a warm pass), then as the authoring doctor;
    (b) over HTTP, `GET /fhir/DocumentReference?patient=<id>&_count=20` as the holder (a patient
        dev token per record, issued as `opendmp dev-token --ins <NIR>` does; the first by that very
        command), one `opendmp serve` per size pinned to core 0, this process on core 1: a warm-up
        pass, concurrency 1, then concurrency 16.
Every answer must hold total 100 and 20 documents.

Goal (issue): at 10,000,000 documents, in process p50 <= 3 ms and p99 <= 10 ms, over HTTP
p99 <= 15 ms; the 10M/100k latency ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import doclib as dl
from doclib import bl

GOAL_P50_MS, GOAL_P99_MS, GOAL_HTTP_P99_MS, GOAL_RATIO = 3.0, 10.0, 15.0, 1.5
TABLES = ("document", "document_author", "document_lookup", "journal_entry")
T0 = datetime(2026, 10, 20, tzinfo=UTC)
SPAN = timedelta(days=30)
# (type code, code system OID, French display, class code): usual DMP documents.
TYPES = (
    ("11488-4", "2.16.840.1.113883.6.1", "CR ou fiche de consultation ou de visite", "10"),
    ("11502-2", "2.16.840.1.113883.6.1", "CR d'examens biologiques", "10"),
    ("34133-9", "2.16.840.1.113883.6.1", "Synthèse d'épisode de soins", "11"),
    ("18748-4", "2.16.840.1.113883.6.1", "CR d'imagerie médicale", "10"),
    ("57833-6", "2.16.840.1.113883.6.1", "Prescription de produits de santé", "12"),
    ("11506-3", "2.16.840.1.113883.6.1", "Note d'évolution", "10"),
)
PDF_FORMAT = "urn:ihe:iti:xds-sd:pdf:2008"
DOCUMENT_COLUMNS = (
    "id, record_id, logical_id, version, meta_version, unique_id, set_id, status, archived, title, type_code, "
    "type_system, class_code, format_code, mime_type, size, sha256, sha1, created_at, service_start, service_stop, "
    "confidentiality, language, masked_from_professionals, invisible_to_patient, invisible_to_representatives, "
    "legal_authenticator, submitted_at, submitted_by_kind, submitted_by, submitted_by_organisation, "
    "submission_set_id, replaces_id, blob_key, updated_at, deleted_at, deleted_by"
)
AUTHOR_COLUMNS = "id, record_id, document_id, kind, rpps, finess, display"
LOOKUP_COLUMNS = "unique_id, record_id, document_id"
JOURNAL_COLUMNS = (
    "id, chain, seq, at, actor_kind, actor_id, actor_organisation, action, target_type, target_id, outcome, "
    "reason, source_address, prev_hash, hash"
)
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


# ---------------------------------------------------------------- load


def _uuid4(h: str) -> str:
    """A version-4 UUID (dashed) from 32 random hex digits."""
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def _journal_json(
    actor_id: str, org: str | None, at: str, chain: str, prev: str, reason: str, seq: int, doc: str
) -> str:
    """The canonical JSON `journal.service.entry_hash` hashes, for a document:create entry
    (checked against it on the first rows)."""
    organisation = f'"{org}"' if org else "null"
    return (
        f'{{"action":"document:create","actor_id":"{actor_id}","actor_kind":"professional",'
        f'"actor_organisation":{organisation},"at":"{at}","chain":"{chain}","outcome":"success",'
        f'"prev_hash":"{prev}","reason":"{reason}","seq":{seq},"source_address":"127.0.0.1",'
        f'"target_id":"{doc}","target_type":"document"}}'
    )


class Copier:
    """One COPY ... FROM STDIN per table, each on its own connection and thread, fed by queues."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.queues: dict[str, queue.Queue[str | None]] = {}
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        self.connections = {table: psycopg.connect(url) for table in TABLES}
        columns = {
            "document": DOCUMENT_COLUMNS,
            "document_author": AUTHOR_COLUMNS,
            "document_lookup": LOOKUP_COLUMNS,
            "journal_entry": JOURNAL_COLUMNS,
        }
        for table in TABLES:
            q: queue.Queue[str | None] = queue.Queue(maxsize=4)
            self.queues[table] = q
            thread = threading.Thread(
                target=self._copy, args=(table, f"COPY {table} ({columns[table]}) FROM STDIN", q), daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def _copy(self, table: str, sql: str, q: queue.Queue[str | None]) -> None:
        conn = self.connections[table]
        try:
            with conn.cursor() as cursor, cursor.copy(sql) as copy:
                while (chunk := q.get()) is not None:
                    copy.write(chunk)
            conn.commit()
        except BaseException as error:
            self.errors.append(error)
            while q.get() is not None:  # let the producer finish
                pass

    def put(self, table: str, chunk: str) -> None:
        if self.errors:
            raise RuntimeError(f"COPY failed: {self.errors[0]}")
        self.queues[table].put(chunk)

    def close(self) -> None:
        for q in self.queues.values():
            q.put(None)
        for thread in self.threads:
            thread.join()
        for conn in self.connections.values():
            conn.close()
        if self.errors:
            raise RuntimeError(f"COPY failed: {self.errors[0]}")


def _psycopg_url(t: bl.Target) -> str:
    assert t.admin_url is not None
    return t.admin_url.replace("postgresql+psycopg://", "postgresql://")


def _definitions(conn: Any) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """Constraints (table, name, definition) touching TABLES, and their plain indexes (name, DDL)."""
    constraints = conn.execute(
        """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype FROM pg_constraint
           WHERE contype IN ('p', 'u', 'f')
             AND (conrelid::regclass::text = ANY(%(t)s) OR confrelid::regclass::text = ANY(%(t)s))
           ORDER BY CASE contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 ELSE 2 END, conname""",
        {"t": list(TABLES)},
    ).fetchall()
    indexes = conn.execute(
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.tablename = ANY(%(t)s) AND i.schemaname = 'public'
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
           ORDER BY i.indexname""",
        {"t": list(TABLES)},
    ).fetchall()
    return [(t, n, d) for t, n, d, _ in constraints], [(n, d) for n, d in indexes]


def load(t: bl.Target, records: int, docs: int, seed: int) -> dict[str, Any]:
    """Seed R records, then COPY R × docs documents (see the module docstring)."""
    import psycopg

    from opendmp.journal.service import entry_hash

    phases: dict[str, float] = {}
    started = time.perf_counter()
    print(f"seeding {records:,} records…", flush=True)
    phases.update(dl.prepare(t, records, seed))
    url = _psycopg_url(t)
    with psycopg.connect(url) as conn:
        population = [str(r) for (r,) in conn.execute("SELECT id FROM record ORDER BY id").fetchall()]
        doctors = conn.execute(
            """SELECT p.rpps, p.given || ' ' || p.family,
                      (SELECT o.finess FROM professional_activity a JOIN organisation o ON o.id = a.organisation_id
                       WHERE a.professional_id = p.id ORDER BY o.finess LIMIT 1)
               FROM professional p WHERE p.profession = '10' ORDER BY p.rpps"""
        ).fetchall()
        heads = dict(
            (chain, (int(seq), str(h)))
            for chain, seq, h in conn.execute("SELECT chain, seq, hash FROM journal_head WHERE chain <> 'system'")
        )
    if len(population) != records:
        raise SystemExit(f"expected {records} records after seeding, found {len(population)}")
    rng = random.Random(seed)
    owner = [doctors[rng.randrange(len(doctors))] for _ in population]
    order = list(range(len(population)))
    rng.shuffle(order)
    chains = [uuid.UUID(r).hex for r in population]
    seqs = [heads[c][0] for c in chains]
    prevs = [heads[c][1] for c in chains]

    constraints, indexes = [], []
    with psycopg.connect(url, autocommit=True) as conn:
        constraints, indexes = _definitions(conn)
        for table, name, _ in reversed(constraints):  # foreign keys first
            conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
    print(
        f"dropped {len(constraints)} constraints and {len(indexes)} indexes; generating {records * docs:,} documents…",
        flush=True,
    )

    copy_started = time.perf_counter()
    copier = Copier(url)
    total = records * docs
    step_us = int(SPAN.total_seconds() * 1_000_000) // total
    base_us = int(T0.timestamp() * 1_000_000)
    getrandbits = rng.getrandbits
    checked = 0
    chunk_docs = 20_000
    buffers: dict[str, list[str]] = {table: [] for table in TABLES}
    generated = 0
    try:
        for round_ in range(docs):
            for position, k in enumerate(order):
                g = round_ * records + position
                record_id = population[k]
                rpps, display, finess = owner[k]
                type_code, type_oid, title, class_code = TYPES[(k + round_ * 7) % len(TYPES)]
                h = f"{getrandbits(4 * 128 + 256 + 160):0232x}"
                doc_id, logical_id, author_id, entry_id = (
                    _uuid4(h[0:32]),
                    _uuid4(h[32:64]),
                    _uuid4(h[64:96]),
                    _uuid4(h[96:128]),
                )
                sha256, sha1 = h[128:192], h[192:232]
                unique_id = f"2.25.{uuid.UUID(logical_id).int}"
                at = datetime.fromtimestamp((base_us + g * step_us) / 1_000_000, UTC)
                stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f")
                created = (at - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"
                submitted = stamp + "+00"
                org = finess or "\\N"
                buffers["document"].append(
                    f"{doc_id}\t{record_id}\t{logical_id}\t1\t1\t{unique_id}\t\\N\tcurrent\tf\t{title}\t{type_code}\t"
                    f"{type_oid}\t{class_code}\t{PDF_FORMAT}\tapplication/pdf\t{10240 + (g % 190_000)}\t{sha256}\t"
                    f"{sha1}\t{created}\t{created}\t{created}\tN\tfr-FR\tf\tf\tf\t\\N\t{submitted}\tprofessional\t"
                    f"{rpps}\t{org}\t\\N\t\\N\t{record_id}/{doc_id}.1\t{submitted}\t\\N\t\\N\n"
                )
                buffers["document_author"].append(
                    f"{author_id}\t{record_id}\t{doc_id}\tprofessional\t{rpps}\t{org}\t{display}\n"
                )
                buffers["document_lookup"].append(f"{unique_id}\t{record_id}\t{doc_id}\n")
                chain = chains[k]
                seq = seqs[k] + 1
                reason = f"type={type_code}"
                iso = stamp.replace(" ", "T") + "Z"
                digest = hashlib.sha256(
                    _journal_json(rpps, finess, iso, chain, prevs[k], reason, seq, doc_id).encode()
                ).hexdigest()
                if checked < 1000:
                    fields = {
                        "chain": chain,
                        "seq": seq,
                        "at": at,
                        "actor_kind": "professional",
                        "actor_id": rpps,
                        "actor_organisation": finess,
                        "action": "document:create",
                        "target_type": "document",
                        "target_id": doc_id,
                        "outcome": "success",
                        "reason": reason,
                        "source_address": "127.0.0.1",
                        "prev_hash": prevs[k],
                    }
                    assert entry_hash(fields) == digest, "the journal hash differs from journal.service.entry_hash"
                    checked += 1
                buffers["journal_entry"].append(
                    f"{entry_id}\t{chain}\t{seq}\t{submitted}\tprofessional\t{rpps}\t{org}\tdocument:create\t"
                    f"document\t{doc_id}\tsuccess\t{reason}\t127.0.0.1\t{prevs[k]}\t{digest}\n"
                )
                seqs[k], prevs[k] = seq, digest
                generated += 1
                if generated % chunk_docs == 0:
                    for table in TABLES:
                        copier.put(table, "".join(buffers[table]))
                        buffers[table] = []
                    if generated % (chunk_docs * 25) == 0:
                        elapsed = time.perf_counter() - copy_started
                        print(f"  {generated:,} / {total:,} documents ({generated / elapsed:,.0f}/s)", flush=True)
        for table in TABLES:
            if buffers[table]:
                copier.put(table, "".join(buffers[table]))
    finally:
        copier.close()
    phases["generate_copy_s"] = round(time.perf_counter() - copy_started, 1)
    print(f"COPY done in {phases['generate_copy_s']:.0f} s; rebuilding indexes and constraints…", flush=True)

    rebuild_started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        for table, name, definition in constraints:
            if not definition.startswith("FOREIGN KEY"):
                conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        for _, definition in indexes:
            conn.execute(definition)
        for table, name, definition in constraints:
            if definition.startswith("FOREIGN KEY"):
                conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        phases["rebuild_indexes_s"] = round(time.perf_counter() - rebuild_started, 1)
        heads_started = time.perf_counter()
        conn.execute("CREATE TEMP TABLE new_head (chain varchar(32) PRIMARY KEY, seq bigint, hash varchar(64))")
        with conn.cursor() as cursor, cursor.copy("COPY new_head (chain, seq, hash) FROM STDIN") as copy:
            copy.write("".join(f"{c}\t{s}\t{p}\n" for c, s, p in zip(chains, seqs, prevs, strict=True)))
        conn.execute("UPDATE journal_head h SET seq = n.seq, hash = n.hash FROM new_head n WHERE n.chain = h.chain")
        phases["journal_heads_s"] = round(time.perf_counter() - heads_started, 1)
        vacuum_started = time.perf_counter()
        for table in (*TABLES, "journal_head"):
            conn.execute(f"VACUUM (ANALYZE) {table}")
        conn.execute("CHECKPOINT")
        phases["vacuum_analyze_checkpoint_s"] = round(time.perf_counter() - vacuum_started, 1)
        sizes = {
            table: int(conn.execute("SELECT pg_total_relation_size(%s::regclass)", (table,)).fetchone()[0])
            for table in (*TABLES, "record", "patient")
        }
        counts = {
            table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in (*TABLES, "record")
        }
        database_bytes = int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
    phases["total_s"] = round(time.perf_counter() - started, 1)
    facts = {
        "records": records,
        "docs_per_record": docs,
        "seed": seed,
        "loaded_at": bl.now_iso(),
        "phases": phases,
        "sizes": sizes,
        "counts": counts,
        "database_bytes": database_bytes,
        "documents_per_s_copy": round(total / phases["generate_copy_s"]),
    }
    t.save_state(**facts)
    return facts


def loaded(t: bl.Target, records: int, docs: int, seed: int) -> dict[str, Any] | None:
    state = t.load_state()
    if not state or (state.get("records"), state.get("docs_per_record"), state.get("seed")) != (records, docs, seed):
        return None
    try:
        if dl.count(t, "SELECT count(*) FROM document") != records * docs:
            return None
    except Exception as error:  # a missing or foreign database: load again
        print(f"stored dataset unusable ({type(error).__name__}): loading again", flush=True)
        return None
    return state


# ---------------------------------------------------------------- measure


class Phase:
    """Latencies and CPU of one kind of measurement, summed over interleaved blocks."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.wall = self.own = self.server = self.pg = self.others = 0.0

    def add(self, latencies: list[float], errors: int, meter: dl.Meter) -> None:
        self.latencies += latencies
        self.errors += errors
        self.wall += meter.wall
        self.own += meter.client
        self.server += meter.server
        self.pg += meter.pg
        self.others += meter.others * meter.wall

    def figures(self, in_process: bool) -> dict[str, Any]:
        n = max(1, len(self.latencies))
        work = self.own if in_process else self.server  # in process, the work is this process's own
        return {
            "errors": self.errors,
            **dl.latency_figures(self.latencies),
            "requests_per_s": round(len(self.latencies) / max(self.wall, 1e-9), 1),
            "server_cpu_ms_per_op": round(work / n * 1000, 3),
            "postgres_cpu_ms_per_op": round(self.pg / n * 1000, 3),
            "client_cpu_ms_per_op": None if in_process else round(self.own / n * 1000, 3),
            "other_load_cores": round(self.others / max(self.wall, 1e-9), 2),
        }


class Size:
    """One loaded dataset: its store, its sample of records, and (when measuring) its runtime,
    server and tokens."""

    def __init__(self, records: int, docs: int, seed: int, queries: int, reload: bool) -> None:
        self.records, self.docs = records, docs
        self.t = dl.target("postgres", f"list{records}")
        state = None if reload else loaded(self.t, records, docs, seed)
        self.loaded_now = state is None
        if state is None:
            print(f"loading {records:,} records × {docs} documents into {dl.database_name(self.t)}…", flush=True)
            state = load(self.t, records, docs, seed)
        self.state = state
        self.database = dl.database_name(self.t)
        from sqlalchemy import text

        e = dl.engine(self.t)
        try:
            with e.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT p.record_id, p.ins_value, d.submitted_by, d.submitted_by_organisation FROM patient p "
                        "JOIN LATERAL (SELECT submitted_by, submitted_by_organisation FROM document "
                        "WHERE record_id = p.record_id LIMIT 1) d ON true ORDER BY p.record_id"
                    )
                ).all()
        finally:
            e.dispose()
        population = [(dl.as_uuid(r), str(n), str(rpps), org) for r, n, rpps, org in rows]
        self.distinct = random.Random(seed).sample(population, min(queries, len(population)))
        self.sample = [self.distinct[i % len(self.distinct)] for i in range(queries)]
        self.runtime: Any = None
        self.server: Any = None
        self.requests: list[tuple[str, str]] = []

    def open_runtime(self) -> None:
        from opendmp.config import Settings
        from opendmp.runtime import build_runtime

        env = self.t.env
        settings = Settings(
            data_dir=Path(env["OPENDMP_DATA_DIR"]),
            database_url=env["OPENDMP_DATABASE_URL"],
            admin_database_url=env["OPENDMP_ADMIN_DATABASE_URL"],
            dev_mode=True,
        )
        self.runtime = build_runtime(settings, pool_size=2)

    def make_tokens(self) -> None:
        """A holder's dev token per record, issued as `opendmp dev-token --ins` does (the first by
        that very command)."""
        from opendmp.auth.tokens import issue_token
        from opendmp.identity.actor import Actor
        from opendmp.identity.ins import Ins, InsSystem

        keys = self.runtime.keys
        tokens = {
            n: issue_token(keys, Actor.patient(Ins(InsSystem.DEMO_NIR, n)), dev=True) for _, n, _, _ in self.distinct
        }
        tokens[self.distinct[0][1]] = dl.token(self.t, "--ins", self.distinct[0][1])
        self.requests = [(str(r), tokens[n]) for r, n, _, _ in self.sample]

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.runtime is not None:
            self.runtime.close()


def in_process_block(
    size: Size, block: list[tuple[uuid.UUID, str, str, str | None]], as_holder: bool, phase: Phase
) -> None:
    """search_documents in a unit of work per query, in this process."""
    from opendmp.document import service as documents
    from opendmp.identity.actor import Actor
    from opendmp.identity.ins import Ins, InsSystem
    from opendmp.kit.db import unit_of_work

    runtime = size.runtime
    query = documents.DocumentQuery(count=20)
    latencies, errors = [], 0
    meter = dl.Meter(None, size.database)
    with meter:
        for record_id, nir, rpps, finess in block:
            actor = (
                Actor.patient(Ins(InsSystem.DEMO_NIR, nir)) if as_holder else Actor.professional(rpps, "10", finess)
            ).at("127.0.0.1")
            started = time.perf_counter()
            with unit_of_work(runtime.sessions) as session:
                found, total = documents.search_documents(session, actor, record_id, query, runtime.clock.now())
            latencies.append(time.perf_counter() - started)
            errors += not (total == size.docs and len(found) == 20)
    phase.add(latencies, errors, meter)


def _check(status: int, body: bytes, docs: int) -> bool:
    if status != 200:
        return False
    try:
        bundle = json.loads(body)
    except ValueError:
        return False
    return bundle.get("total") == docs and len(bundle.get("entry", [])) == 20


def http_block(size: Size, port: int, block: list[tuple[str, str]], threads: int, phase: Phase) -> None:
    """GET /fhir/DocumentReference?patient=<id>&_count=20 per (record id, holder token)."""
    results: list[tuple[list[float], int]] = [([], 0)] * threads
    start = threading.Barrier(threads + 1)

    def worker(index: int) -> None:
        conn = dl.Connection(port, block[0][1])
        conn.call("GET", "/healthz")
        latencies, errors = [], 0
        start.wait()
        for record_id, bearer in block[index::threads]:
            elapsed, status, body = conn.call(
                "GET",
                f"/fhir/DocumentReference?patient={record_id}&_count=20",
                headers={"Authorization": f"Bearer {bearer}", "Accept": "application/fhir+json"},
            )
            latencies.append(elapsed)
            errors += not _check(status, body, size.docs)
        results[index] = (latencies, errors)
        conn.close()

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    meter = dl.Meter(size.server.pid, size.database)
    with meter:
        start.wait()
        for thread in pool:
            thread.join()
    phase.add([x for lat, _ in results for x in lat], sum(e for _, e in results), meter)


def interleaved(sizes: list[Size], block: int, step: Any) -> list[Phase]:
    """Run `step(size, index, phase)` over each size's sample in blocks, alternating sizes block by
    block, so that every size meets the same background load."""
    phases = [Phase() for _ in sizes]
    length = len(sizes[0].sample)
    for start in range(0, length, block):
        for size, phase in zip(sizes, phases, strict=True):
            step(size, slice(start, start + block), phase)
    return phases


def run(args: argparse.Namespace) -> dict[str, Any]:
    machine = bl.machine()
    calibration = dl.calibrate(args.server_core)
    sizes = [Size(n, args.docs, args.seed, args.queries, args.reload) for n in args.records]
    results: dict[int, dict[str, Any]] = {s.records: {} for s in sizes}
    try:
        os.sched_setaffinity(0, {args.server_core})
        for s in sizes:
            s.open_runtime()
        for name, as_holder in (("holder_first_pass", True), ("holder", True), ("author", False)):
            phases = interleaved(
                sizes, args.block, lambda s, part, ph, h=as_holder: in_process_block(s, s.sample[part], h, ph)
            )
            for s, ph in zip(sizes, phases, strict=True):
                results[s.records].setdefault("in_process", {})[name] = ph.figures(in_process=True)
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        for index, s in enumerate(sizes):
            s.make_tokens()
            s.server = dl.Server(s.t, args.port + index, args.server_core)
        os.sched_setaffinity(0, {args.client_core})
        for name, threads, block in (
            ("warmup", 1, args.block),
            ("c1", 1, args.block),
            ("c16", args.concurrency, args.block * 4),
        ):
            phases = interleaved(
                sizes,
                block,
                lambda s, part, ph, n=threads: http_block(s, args.port + sizes.index(s), s.requests[part], n, ph),
            )
            for s, ph in zip(sizes, phases, strict=True):
                results[s.records].setdefault("http", {})[name] = {"threads": threads, **ph.figures(in_process=False)}
        commands = {s.records: s.server.command for s in sizes}
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        for s in sizes:
            s.close()
    return {
        "benchmark": "documents-list",
        "date": bl.now_iso(),
        "machine": machine,
        "calibration_ms": calibration,
        "database": dl.database_line(sizes[0].t),
        "docs_per_record": args.docs,
        "seed": args.seed,
        "queries": args.queries,
        "block": args.block,
        "sizes": [
            {
                "records": s.records,
                "documents": s.records * s.docs,
                "load": s.state,
                "loaded_now": s.loaded_now,
                "distinct_records": len(s.distinct),
                "server_command": commands[s.records],
                **results[s.records],
            }
            for s in sizes
        ],
    }


def _row(name: str, p: dict[str, Any]) -> str:
    return (
        f"    {name}: {p['count']:,} queries, {p['errors']} errors; p50 {p['p50_ms']:.2f} ms, "
        f"p95 {p['p95_ms']:.2f} ms, p99 {p['p99_ms']:.2f} ms, max {p['max_ms']:.2f} ms; "
        f"{p['requests_per_s']:,.0f}/s; CPU {p['server_cpu_ms_per_op']:.3f} ms/op + PostgreSQL backend "
        f"{p['postgres_cpu_ms_per_op']:.3f} ms/op; other processes {p['other_load_cores']:.2f} cores"
    )


def report(r: dict[str, Any]) -> str:
    lines = [
        *dl.header("opendmp document list benchmark (PostgreSQL)", r),
        f"command   .venv/bin/python bench/documents/listing.py --records "
        f"{' '.join(str(s['records']) for s in r['sizes'])}",
        f"method    sizes measured in alternating blocks of {r['block']} queries (c=16: {r['block'] * 4}), so they "
        "share the background load; in process = search_documents + commit, this process pinned to core 0; "
        "HTTP = GET /fhir/DocumentReference?patient=<id>&_count=20 as the holder, one `opendmp serve` per size "
        "pinned to core 0, client on core 1",
    ]
    for s in r["sizes"]:
        load_facts, phases = s["load"], s["load"]["phases"]
        ip, http = s["in_process"], s["http"]
        lines += [
            f"dataset   {s['records']:,} records (opendmp seed --patients {s['records']} --seed {r['seed']}) × "
            f"{r['docs_per_record']} documents = {s['documents']:,} documents, loaded "
            f"{'now' if s['loaded_now'] else load_facts['loaded_at']}: seed {phases['seed_s']:.0f} s, "
            f"generate+COPY {phases['generate_copy_s']:.0f} s ({load_facts['documents_per_s_copy']:,} documents/s), "
            f"indexes+constraints {phases['rebuild_indexes_s']:.0f} s, VACUUM ANALYZE + CHECKPOINT "
            f"{phases['vacuum_analyze_checkpoint_s']:.0f} s; total {phases['total_s'] / 60:.1f} min; database "
            f"{load_facts['database_bytes'] / 1024**3:.2f} GiB"
            + "".join(f", {k} {v / 1024**3:.2f} GiB" for k, v in load_facts["sizes"].items() if v > 2**26),
            f"  sample {r['queries']:,} queries over {s['distinct_records']:,} distinct records "
            f"(random.Random({r['seed']})); server {s['server_command']}",
            _row("in process, holder, first pass", ip["holder_first_pass"]),
            _row("in process, holder, warm", ip["holder"]),
            _row("in process, author (doctor), warm", ip["author"]),
            _row("HTTP c=1 (after a warm-up pass)", http["c1"]),
            _row(f"HTTP c={http['c16']['threads']}", http["c16"]),
        ]
    big = max(r["sizes"], key=lambda x: x["documents"])
    ip, http = big["in_process"], big["http"]
    p50 = max(ip["holder"]["p50_ms"], ip["author"]["p50_ms"])
    p99 = max(ip["holder"]["p99_ms"], ip["author"]["p99_ms"])
    lines.append(
        f"goal      at {big['documents']:,} documents: in process p50 <= {GOAL_P50_MS} ms: "
        f"{dl.met(p50 <= GOAL_P50_MS)} ({p50:.2f} ms), p99 <= {GOAL_P99_MS} ms: {dl.met(p99 <= GOAL_P99_MS)} "
        f"({p99:.2f} ms); HTTP c=1 p99 <= {GOAL_HTTP_P99_MS} ms: {dl.met(http['c1']['p99_ms'] <= GOAL_HTTP_P99_MS)} "
        f"({http['c1']['p99_ms']:.2f} ms)"
    )
    if len(r["sizes"]) > 1:
        small = min(r["sizes"], key=lambda x: x["documents"])
        parts, worst = [], 0.0
        for label, get in (
            ("in-process holder", lambda x: x["in_process"]["holder"]),
            ("in-process author", lambda x: x["in_process"]["author"]),
            ("HTTP c=1", lambda x: x["http"]["c1"]),
        ):
            b, a = get(big), get(small)
            ratio50 = b["p50_ms"] / a["p50_ms"]
            worst = max(worst, ratio50)
            cpu = (b["server_cpu_ms_per_op"] + b["postgres_cpu_ms_per_op"]) / (
                a["server_cpu_ms_per_op"] + a["postgres_cpu_ms_per_op"]
            )
            parts.append(f"{label} p50 {ratio50:.2f}×, p99 {b['p99_ms'] / a['p99_ms']:.2f}×, CPU/op {cpu:.2f}×")
        lines.append(f"scale     {big['documents']:,} vs {small['documents']:,} documents: " + "; ".join(parts))
        lines.append(f"goal      ratio <= {GOAL_RATIO} (p50): {dl.met(worst <= GOAL_RATIO)} (worst {worst:.2f}×)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 1000], help="one size or several")
    parser.add_argument("--docs", type=int, default=100, help="documents per record")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--queries", type=int, default=2000, help="queries per pass and size")
    parser.add_argument("--block", type=int, default=100, help="queries per block (sizes alternate by block)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--reload", action="store_true", help="load the data again even if it is there")
    parser.add_argument("--load-only", action="store_true", help="load (if needed) and stop")
    parser.add_argument("--port", type=int, default=8132, help="first port (one server per size)")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if args.load_only:
        for n in args.records:
            t = dl.target("postgres", f"list{n}")
            state = None if args.reload else loaded(t, n, args.docs, args.seed)
            state = state or load(t, n, args.docs, args.seed)
            print(json.dumps(state, indent=2), flush=True)
        return
    result = run(args)
    print(report(result), flush=True)
    bl.save_json(args.json, result)


if __name__ == "__main__":
    main()
