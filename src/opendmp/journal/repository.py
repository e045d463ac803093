"""All SQL of the journal: the verification streams, checkpoints, retention, the holder's view
and operators' forensics."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, String, func, insert, or_, select, type_coerce, update
from sqlalchemy.orm import Session

from opendmp.identity.models import Professional
from opendmp.journal.models import JournalCheckpoint, JournalCheckpointHead, JournalEntry, JournalHead

STREAM_BATCH = 20_000
PAYLOAD_COLUMNS = (
    JournalEntry.action,
    JournalEntry.actor_id,
    JournalEntry.actor_kind,
    JournalEntry.actor_organisation,
    JournalEntry.outcome,
    JournalEntry.purpose,
    JournalEntry.reason,
    JournalEntry.source_address,
    JournalEntry.target_id,
    JournalEntry.target_type,
)


def at_text(column: Any, dialect: str) -> ColumnElement[str]:
    """A timestamp column as the canonical text `YYYY-MM-DDTHH:MM:SS.ffffffZ`, written by the
    database: verification then hashes strings and never builds a datetime per row."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"', type_=String)
    # SQLite stores UTC as "YYYY-MM-DD HH:MM:SS.ffffff" (SQLAlchemy's format, microseconds always).
    return func.replace(type_coerce(column, String), " ", "T").concat("Z")


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one state of the whole journal (heads, entries and
    checkpoints agree while the service keeps writing), without holding SQLite's write lock."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        else:
            connection = connection.execution_options(sqlite_deferred_begin=True)
        with connection.begin():
            yield connection


def _batches(connection: Connection, statement: Any) -> Iterator[list[tuple[Any, ...]]]:
    """A Core statement's rows as the driver returns them (plain tuples), in batches, from a
    server-side cursor on PostgreSQL, in the connection's transaction. Verification reads every
    entry: SQLAlchemy's Row objects would cost it about a fifth of its time."""
    compiled = statement.compile(dialect=connection.dialect)
    params: Any = compiled.params
    if compiled.positiontup is not None:  # SQLite's qmark style
        params = tuple(compiled.params[name] for name in compiled.positiontup)
    raw = connection.connection.driver_connection
    if raw is None:
        raise RuntimeError("no database connection")
    postgres = connection.dialect.name == "postgresql"
    cursor = raw.cursor(name=f"opendmp_journal_{next(_cursor_ids)}") if postgres else raw.cursor()
    try:
        cursor.execute(str(compiled), params)
        while True:
            batch = cursor.fetchmany(STREAM_BATCH)
            if not batch:
                return
            yield batch
    finally:
        cursor.close()


_cursor_ids = itertools.count(1)


def _stream(connection: Connection, statement: Any) -> Iterator[tuple[Any, ...]]:
    return itertools.chain.from_iterable(_batches(connection, statement))


def _in_range(column: Any, low: str | None, high: str | None) -> list[ColumnElement[bool]]:
    bounds: list[ColumnElement[bool]] = []
    if low is not None:
        bounds.append(column >= low)
    if high is not None:
        bounds.append(column < high)
    return bounds


def stream_entries(
    connection: Connection, low: str | None = None, high: str | None = None
) -> Iterator[list[tuple[Any, ...]]]:
    """Every entry's header and payload, chain by chain, in order (the (chain, seq) index), for
    the chains from `low` (included) to `high` (excluded)."""
    entry = JournalEntry
    return _batches(
        connection,
        select(
            entry.chain,
            entry.seq,
            at_text(entry.at, connection.dialect.name),
            entry.prev_hash,
            entry.hash,
            entry.payload_hash,
            *PAYLOAD_COLUMNS,
        )
        .where(*_in_range(entry.chain, low, high))
        .order_by(entry.chain, entry.seq),
    )


def stream_heads(connection: Connection, low: str | None = None, high: str | None = None) -> Iterator[tuple[Any, ...]]:
    head = JournalHead
    return _stream(
        connection,
        select(head.chain, head.seq, head.hash).where(*_in_range(head.chain, low, high)).order_by(head.chain),
    )


def checkpoints(connection: Connection) -> Iterator[tuple[Any, ...]]:
    cp = JournalCheckpoint
    return _stream(
        connection,
        select(
            cp.seq,
            at_text(cp.at, connection.dialect.name),
            cp.chains,
            cp.changed,
            cp.prev_digest,
            cp.digest,
            cp.signature,
            cp.key_id,
        ).order_by(cp.seq),
    )


def sealed_heads_by_checkpoint(connection: Connection) -> Iterator[tuple[Any, ...]]:
    h = JournalCheckpointHead
    return _stream(
        connection, select(h.checkpoint_seq, h.position, h.chain, h.seq, h.hash).order_by(h.checkpoint_seq, h.position)
    )


def sealed_heads_by_chain(
    connection: Connection, up_to: int, low: str | None = None, high: str | None = None
) -> Iterator[tuple[Any, ...]]:
    h = JournalCheckpointHead
    return _stream(
        connection,
        select(h.chain, h.seq, h.hash, h.checkpoint_seq)
        .where(h.checkpoint_seq <= up_to, *_in_range(h.chain, low, high))
        .order_by(h.chain, h.seq),
    )


# ---------------------------------------------------------------- checkpoints


def last_checkpoint(session: Session) -> tuple[int, str, int] | None:
    """(seq, digest, chains) of the latest checkpoint."""
    cp = JournalCheckpoint
    row = session.execute(select(cp.seq, cp.digest, cp.chains).order_by(cp.seq.desc()).limit(1)).first()
    return (row[0], row[1], row[2]) if row else None


def unsealed_heads(session: Session) -> list[tuple[str, int, str, int]]:
    """(chain, seq, hash, checkpointed_seq) of every head that moved since its last checkpoint."""
    head = JournalHead
    rows = session.execute(
        select(head.chain, head.seq, head.hash, head.checkpointed_seq).where(head.seq > head.checkpointed_seq)
    ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def insert_checkpoint(session: Session, row: dict[str, Any], heads: Sequence[tuple[str, int, str]]) -> None:
    session.execute(insert(JournalCheckpoint), [row])
    if heads:
        seq = row["seq"]
        session.execute(
            insert(JournalCheckpointHead),
            [
                {"checkpoint_seq": seq, "position": i, "chain": chain, "seq": s, "hash": h}
                for i, (chain, s, h) in enumerate(heads)
            ],
        )
        # Each head remembers the entry sealed here, not its current seq: a head appended to
        # since it was read stays ahead of it, hence unsealed, for the next checkpoint.
        sealed = JournalCheckpointHead
        session.execute(
            update(JournalHead)
            .values(checkpointed_seq=sealed.seq)
            .where(
                sealed.checkpoint_seq == seq,
                sealed.chain == JournalHead.chain,
                JournalHead.checkpointed_seq < sealed.seq,
            )
        )


# ---------------------------------------------------------------- retention


def chains_after(connection: Connection, after: str, limit: int) -> list[str]:
    return list(
        connection.execute(
            select(JournalHead.chain).where(JournalHead.chain > after).order_by(JournalHead.chain).limit(limit)
        ).scalars()
    )


def redact_before(connection: Connection, chains: Sequence[str], cutoff: datetime) -> int:
    """Replace the payloads of these chains' entries older than `cutoff` by their hash."""
    entry = JournalEntry
    result = connection.execute(
        update(entry)
        .where(
            entry.chain.in_(chains),
            entry.at < cutoff,
            entry.action.is_not(None),
            entry.payload_hash.is_not(None),  # an entry of the legacy form would lose its proof
        )
        .values({column.key: None for column in PAYLOAD_COLUMNS})
    )
    return int(result.rowcount)


def count_unredacted_before(session: Session, cutoff: datetime) -> int:
    entry = JournalEntry
    return int(
        session.execute(
            select(func.count())
            .select_from(entry)
            .where(entry.at < cutoff, entry.action.is_not(None), entry.payload_hash.is_not(None))
        ).scalar_one()
    )


# ---------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class EntryQuery:
    """A page of one record's journal, newest first unless told otherwise."""

    at_from: datetime | None = None
    at_to: datetime | None = None
    actor_id: str | None = None
    offset: int = 0
    count: int = 20
    newest_first: bool = True
    # The chain as it was when the first page was read: later pages neither shift nor grow while
    # the journal does (each search journals itself into this very chain).
    up_to_seq: int | None = None


def hidden_documents(session: Session, record_id: uuid.UUID, hidden: ColumnElement[bool]) -> list[str]:
    """The ids (as the journal writes them) of the record's documents matching `hidden`."""
    from opendmp.document.models import Document

    found = session.execute(select(Document.id).where(Document.record_id == record_id, hidden)).scalars()
    return [str(document_id) for document_id in found]


def record_entries(
    session: Session, record_id: uuid.UUID, query: EntryQuery, *, hidden_documents: Sequence[str] = ()
) -> tuple[list[JournalEntry], int, int]:
    """The record's entries that still have their payload (redacted ones say nothing), their
    total, and the last seq the page considered; entries about `hidden_documents` are left out
    (of the total too, so paging stays right)."""
    entry = JournalEntry
    up_to = query.up_to_seq
    if up_to is None:
        head = session.execute(select(JournalHead.seq).where(JournalHead.chain == record_id.hex)).scalar()
        up_to = int(head or 0)
    filters: list[ColumnElement[bool]] = [
        entry.chain == record_id.hex,
        entry.seq <= up_to,
        entry.action.is_not(None),
    ]
    if hidden_documents:
        # Spelled out so that entries without a target (NULLs) stay in.
        filters.append(
            or_(
                entry.target_type.is_(None),
                entry.target_type != "document",
                entry.target_id.is_(None),
                entry.target_id.not_in(sorted(hidden_documents)),
            )
        )
    if query.at_from is not None:
        filters.append(entry.at >= query.at_from)
    if query.at_to is not None:
        filters.append(entry.at < query.at_to)
    if query.actor_id is not None:
        filters.append(entry.actor_id == query.actor_id)
    total = session.execute(select(func.count()).select_from(entry).where(*filters)).scalar_one()
    order = (entry.at.desc(), entry.seq.desc()) if query.newest_first else (entry.at, entry.seq)
    # The page walks the (chain, at) index in order and stops after offset + count entries. With
    # `seq <= up_to` as written, SQLite picks the (chain, seq) index instead and sorts the whole
    # chain for every page (20 ms at 4,000 entries, growing with the chain); `seq + 0` is the same
    # bound that no index can serve, so the planner takes (chain, at).
    paged = [entry.chain == record_id.hex, (entry.seq + 0) <= up_to, *filters[2:]]
    rows = session.execute(select(entry).where(*paged).order_by(*order).offset(query.offset).limit(query.count))
    return list(rows.scalars()), int(total), up_to


def professionals_by_rpps(session: Session, rpps: set[str]) -> dict[str, Professional]:
    if not rpps:
        return {}
    found = session.execute(select(Professional).where(Professional.rpps.in_(sorted(rpps)))).scalars()
    return {p.rpps: p for p in found}


def entries_by_actor(
    session: Session, actor_id: str, since: datetime | None, until: datetime | None
) -> Iterator[JournalEntry]:
    entry = JournalEntry
    filters: list[ColumnElement[bool]] = [entry.actor_id == actor_id]
    if since is not None:
        filters.append(entry.at >= since)
    if until is not None:
        filters.append(entry.at < until)
    stmt = select(entry).where(*filters).order_by(entry.at, entry.chain, entry.seq)
    yield from session.execute(stmt.execution_options(yield_per=1000)).scalars()
