"""Feeding files: read each file as a stream, file it chunk by chunk, one transaction per chunk
(like the jobs, this runner owns its units of work), write the rejects as they come. A crash
loses at most the chunk in flight; feeding the same files again completes the work (claim ids
already stored are skipped, never doubled)."""

from __future__ import annotations

import csv
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy.orm import Session, sessionmaker

from opendmp.document.keystore import KeyStore
from opendmp.feed import claims as parsing
from opendmp.feed import pipeline, service
from opendmp.identity.actor import Actor
from opendmp.kit.clock import Clock
from opendmp.kit.db import unit_of_work
from opendmp.kit.ids import new_id

CHUNK_LINES = 50_000  # lines per transaction: large enough to share costs per record, bounded memory


@dataclass(slots=True)
class FeedReport:
    run_id: uuid.UUID
    lines: int = 0  # lines read (blank lines excepted)
    outcome: service.ChunkOutcome = field(default_factory=service.ChunkOutcome)
    rejected: int = 0
    unreadable: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.rejected or self.unreadable)


class RejectsWriter:
    """file, line, claim_id, reason: CSV, written as rejects come (never held in memory)."""

    def __init__(self, out: IO[str] | None) -> None:
        self._writer = csv.writer(out) if out is not None else None
        if self._writer is not None:
            self._writer.writerow(["file", "line", "claim_id", "reason"])

    def write(self, name: str, rejected: list[parsing.Rejected]) -> None:
        if self._writer is not None:
            for r in rejected:
                self._writer.writerow([name, r.number, r.claim_id or "", r.reason])


def feed_files(
    sessions: sessionmaker[Session],
    keys: KeyStore,
    clock: Clock,
    paths: list[Path],
    rejects: RejectsWriter,
    *,
    actor: Actor | None = None,
    chunk_lines: int = CHUNK_LINES,
    on_progress: Callable[[int], None] | None = None,
    parse_in_worker: bool = False,
) -> FeedReport:
    """`on_progress(bytes_read)` after each chunk (the progress bar counts bytes).
    `parse_in_worker`: parse in a second process (feed/pipeline.py), one chunk ahead of the
    filing. Off by default: it only pays when a core is free (decision 0020, measured)."""
    actor = actor or Actor.insurer_feed()
    report = FeedReport(new_id())
    feed_keys = service.FeedKeys(keys)
    before = 0  # bytes of the files already fed: progress counts over all of them
    for path in paths:
        try:
            stream = path.open("rb")
        except OSError as error:
            report.unreadable.append(f"{path}: {error.strerror or error}")
            continue
        with stream:
            progress = None if on_progress is None else functools.partial(_offset, on_progress, before)
            if parse_in_worker:
                before += _feed_parsed(sessions, feed_keys, clock, actor, path, rejects, report, chunk_lines, progress)
                continue
            _feed_stream(sessions, feed_keys, clock, actor, str(path), stream, rejects, report, chunk_lines, progress)
            before += stream.tell()
    return report


def _store(
    sessions: sessionmaker[Session],
    feed_keys: service.FeedKeys,
    clock: Clock,
    actor: Actor,
    name: str,
    chunk: list[parsing.Line],
    rejects: RejectsWriter,
    report: FeedReport,
) -> None:
    """One chunk, one transaction; its rejects written, the report keeping counts only."""
    with unit_of_work(sessions) as session:
        outcome = service.store_chunk(session, actor, feed_keys, report.run_id, chunk, clock.now())
    report.rejected += len(outcome.rejected)
    rejects.write(name, outcome.rejected)
    outcome.rejected.clear()
    report.outcome.add(outcome)


def _feed_parsed(
    sessions: sessionmaker[Session],
    feed_keys: service.FeedKeys,
    clock: Clock,
    actor: Actor,
    path: Path,
    rejects: RejectsWriter,
    report: FeedReport,
    chunk_lines: int,
    on_progress: Callable[[int], None] | None,
) -> int:
    """The same work as `_feed_stream`, the parsing done by a second process one chunk ahead:
    the same chunks, the same rejects in the same order. Returns the bytes read."""
    name, position = str(path), 0
    for chunk in pipeline.chunks(path, parsing.kind_of(name), clock.now().date(), chunk_lines):
        report.lines += chunk.read
        if chunk.rejected:
            report.rejected += len(chunk.rejected)
            rejects.write(
                name, [parsing.Rejected(number, reason, claim_id) for number, reason, claim_id in chunk.rejected]
            )
        if chunk.lines:
            _store(
                sessions, feed_keys, clock, actor, name, [parsing.Line(*line) for line in chunk.lines], rejects, report
            )
        position = chunk.position
        if on_progress is not None:
            on_progress(position)
        if chunk.error is not None:
            report.unreadable.append(f"{name}: {chunk.error}")
    return position


def _feed_stream(
    sessions: sessionmaker[Session],
    feed_keys: service.FeedKeys,
    clock: Clock,
    actor: Actor,
    name: str,
    stream: IO[bytes],
    rejects: RejectsWriter,
    report: FeedReport,
    chunk_lines: int,
    on_progress: Callable[[int], None] | None,
) -> None:
    today = clock.now().date()
    chunk: list[parsing.Line] = []

    def flush() -> None:
        if not chunk:
            return
        _store(sessions, feed_keys, clock, actor, name, chunk, rejects, report)
        chunk.clear()
        if on_progress is not None:
            on_progress(stream.tell())

    try:
        for item in parsing.read_claims(stream, today, kind=parsing.kind_of(name)):
            report.lines += 1
            if isinstance(item, parsing.Rejected):
                report.rejected += 1
                rejects.write(name, [item])
                continue
            chunk.append(item)
            if len(chunk) >= chunk_lines:
                flush()
    except OSError as error:
        report.unreadable.append(f"{name}: {error.strerror or error}")
    flush()


def _offset(on_progress: Callable[[int], None], before: int, position: int) -> None:
    on_progress(before + position)


def fill_demo_history(
    sessions: sessionmaker[Session], keys: KeyStore, clock: Clock, nir: str, folder: Path, *, lines: int = 80
) -> FeedReport | None:
    """`opendmp demo`: the sample patient's reimbursement history, fed once from a generated
    claim file left in the data folder (an example of the insurer's format). None when the
    record has its history already."""
    from sqlalchemy import select

    from opendmp.document.models import Document
    from opendmp.feed import generator
    from opendmp.identity.models import Patient

    with sessions() as session:
        record_id = session.execute(select(Patient.record_id).where(Patient.ins_value == nir)).scalar_one_or_none()
        if (
            record_id is None
            or session.execute(
                select(Document.id).where(Document.record_id == record_id, Document.type_code == "REMB").limit(1)
            ).first()
        ):
            return None
    path = folder / "demo-remboursements.ndjson"
    with path.open("wb") as out:
        generator.write(out, lines, 2026, [nir], clock.now().date(), prefix="DEMO")
    return feed_files(sessions, keys, clock, [path], RejectsWriter(None))
