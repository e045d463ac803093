"""All SQL of the reimbursement feed. Lookups over a whole chunk take one parameter (a PostgreSQL
array, an SQLite JSON array) instead of thousands of bind markers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from opendmp.document.models import Document, DocumentStatus
from opendmp.feed.models import ReimbursementBatch, ReimbursementClaim, ReimbursementParked
from opendmp.identity.ins import InsSystem
from opendmp.identity.models import InsLookup
from opendmp.record.models import Record

REIMBURSEMENT_TYPE = "REMB"
# The insurer's claims carry the NIR; test and demo NIRs stand for it outside production.
NIR_SYSTEMS = (InsSystem.NIR.value, InsSystem.TEST_NIR.value, InsSystem.DEMO_NIR.value)


def _among(session: Session, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        return column == func.any(bindparam("values", list(values), type_=ARRAY(String)))  # type: ignore[no-any-return]
    listed = select(func.json_each(bindparam("values", json.dumps(list(values)))).table_valued("value").c.value)
    return column.in_(listed)  # type: ignore[no-any-return]


def existing_claims(session: Session, claim_ids: Sequence[str]) -> dict[str, uuid.UUID]:
    """Claim id → the run that first brought it, for the ids already known."""
    if not claim_ids:
        return {}
    rows = session.execute(
        select(ReimbursementClaim.claim_id, ReimbursementClaim.run_id).where(
            _among(session, ReimbursementClaim.claim_id, claim_ids)
        )
    )
    return {claim_id: run_id for claim_id, run_id in rows}


def records_by_nir(session: Session, nirs: Sequence[str]) -> dict[str, tuple[uuid.UUID, str, str]]:
    """NIR → (record id, status, INS system) for the NIRs that have a record (merged records:
    the survivor)."""
    if not nirs:
        return {}
    rows = session.execute(
        select(InsLookup.ins_value, InsLookup.ins_system, Record.id, Record.status, Record.merged_into)
        .join(Record, Record.id == InsLookup.record_id)
        .where(InsLookup.ins_system.in_(NIR_SYSTEMS), _among(session, InsLookup.ins_value, nirs))
    )
    found: dict[str, tuple[uuid.UUID, str, str]] = {}
    for nir, system, record_id, status, merged_into in rows:
        if merged_into is not None:
            survivor = session.get(Record, merged_into)
            if survivor is not None:
                record_id, status = survivor.id, survivor.status
        found[nir] = (record_id, status, system)
    return found


def history_documents(session: Session, record_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """The current REMB document id of each record that has one (two columns, not whole rows:
    a chunk touches thousands of records)."""
    ids = list(record_ids)
    found: dict[uuid.UUID, uuid.UUID] = {}
    for start in range(0, len(ids), 5000):
        rows = session.execute(
            select(Document.record_id, Document.id).where(
                Document.record_id.in_(ids[start : start + 5000]),
                Document.type_code == REIMBURSEMENT_TYPE,
                Document.status == DocumentStatus.CURRENT.value,
            )
        )
        found.update({record_id: doc_id for record_id, doc_id in rows})
    return found


def current_history(session: Session, record_id: uuid.UUID) -> Document | None:
    return session.execute(
        select(Document).where(
            Document.record_id == record_id,
            Document.type_code == REIMBURSEMENT_TYPE,
            Document.status == DocumentStatus.CURRENT.value,
        )
    ).scalar_one_or_none()


def add_rows(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Core executemany on the table: the rows are complete, the ORM's per-row work is not needed."""
    if rows:
        session.connection().execute(insert(model.__table__), rows)


_PG_TYPES = {
    "Uuid": "uuid",
    "String": "varchar",
    "Integer": "int4",
    "BigInteger": "int8",
    "Date": "date",
    "LargeBinary": "bytea",
}


def _sqlite_value(kind: str) -> Callable[[Any], Any]:
    """What SQLAlchemy's bind processors give on SQLite, at C speed (tests compare both paths)."""
    if kind == "Uuid":
        return lambda v: None if v is None else f"{v.int:032x}"
    if kind == "UTCDateTime":
        return lambda v: None if v is None else v.astimezone(UTC).isoformat(" ", "microseconds")[:26]
    if kind == "Date":
        return lambda v: None if v is None else v.isoformat()
    return lambda v: v


def bulk_insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """The feed's big inserts (claim index, sealed batches): COPY on PostgreSQL, the driver's
    executemany on SQLite, the same stored values as `add_rows` (SQLAlchemy's own conversions,
    done per column instead of per value)."""
    if not rows:
        return
    table: Table = model.__table__
    connection = session.connection()
    dialect = connection.dialect.name
    driver = connection.connection.driver_connection
    if dialect not in ("sqlite", "postgresql") or driver is None:
        add_rows(session, model, rows)
        return
    columns = list(table.columns)
    names = [c.name for c in columns]
    kinds = [type(c.type).__name__ for c in columns]
    quote = connection.dialect.identifier_preparer.quote
    listed = ", ".join(quote(n) for n in names)
    if dialect == "sqlite":
        converters = [_sqlite_value(k) for k in kinds]
        values = [tuple(f(row[n]) for f, n in zip(converters, names, strict=True)) for row in rows]
        marks = ", ".join("?" * len(names))
        driver.executemany(f"INSERT INTO {quote(table.name)} ({listed}) VALUES ({marks})", values)  # noqa: S608
        return
    types = [_PG_TYPES.get(k, "timestamptz") for k in kinds]
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {quote(table.name)} ({listed}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(types)
        for row in rows:
            copy.write_row([row[n] for n in names])


def insert_claim_index(
    session: Session, run_id: uuid.UUID, owners: list[tuple[uuid.UUID | None, uuid.UUID | None, list[str]]]
) -> None:
    """The claim-id index rows of a chunk, given per owner: (record id, parked row id, its claim
    ids). The one write per line, so its values are converted once per owner, not per row, and
    the ids go in sorted order (the primary key's B-tree is filled left to right). Same stored
    values as `bulk_insert` (tests read them back through the ORM)."""
    count = sum(len(ids) for _, _, ids in owners)
    if not count:
        return
    connection = session.connection()
    dialect = connection.dialect.name
    driver = connection.connection.driver_connection
    if dialect == "sqlite" and driver is not None:
        hexed = _sqlite_value("Uuid")
        run = hexed(run_id)
        values = sorted(
            (claim_id, run, record, parked)
            for record_id, parked_id, ids in owners
            for record, parked in ((hexed(record_id), hexed(parked_id)),)
            for claim_id in ids
        )
        driver.executemany(
            "INSERT INTO reimbursement_claim (claim_id, run_id, record_id, parked_id) VALUES (?, ?, ?, ?)", values
        )
        return
    if dialect == "postgresql" and driver is not None:
        rows = sorted(
            (claim_id, run_id, record_id, parked_id) for record_id, parked_id, ids in owners for claim_id in ids
        )
        with (
            driver.cursor() as cursor,
            cursor.copy(
                "COPY reimbursement_claim (claim_id, run_id, record_id, parked_id) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["varchar", "uuid", "uuid", "uuid"])
            write = copy.write_row
            for row in rows:
                write(row)
        return
    bulk_insert(
        session,
        ReimbursementClaim,
        [
            {"claim_id": claim_id, "run_id": run_id, "record_id": record_id, "parked_id": parked_id}
            for record_id, parked_id, ids in owners
            for claim_id in ids
        ],
    )


def touch_documents(session: Session, changes: list[dict[str, Any]]) -> None:
    """New claims arrived: each REMB document's period widens and its version moves (ETag).
    One statement for the chunk on PostgreSQL (arrays), the driver's executemany on SQLite."""
    if not changes:
        return
    connection = session.connection()
    driver = connection.connection.driver_connection
    if connection.dialect.name == "postgresql" and driver is not None:
        with driver.cursor() as cursor:
            cursor.execute(
                "UPDATE document AS d SET meta_version = d.meta_version + 1, updated_at = %s, "
                "service_start = LEAST(d.service_start, v.start), service_stop = GREATEST(d.service_stop, v.stop) "
                "FROM (SELECT unnest(%s::uuid[]) AS id, unnest(%s::timestamptz[]) AS start, "
                "unnest(%s::timestamptz[]) AS stop) AS v WHERE d.id = v.id",
                (
                    changes[0]["now"],
                    [c["doc_id"] for c in changes],
                    [c["start"] for c in changes],
                    [c["stop"] for c in changes],
                ),
            )
        return
    if connection.dialect.name == "sqlite" and driver is not None:
        uuid_text, when = _sqlite_value("Uuid"), _sqlite_value("UTCDateTime")
        # SQLite keeps these datetimes as fixed-width text: min/max compare them as times.
        driver.executemany(
            "UPDATE document SET meta_version = meta_version + 1, updated_at = ?, "
            "service_start = min(coalesce(service_start, ?), ?), service_stop = max(coalesce(service_stop, ?), ?) "
            "WHERE id = ?",
            [
                (
                    when(c["now"]),
                    when(c["start"]),
                    when(c["start"]),
                    when(c["stop"]),
                    when(c["stop"]),
                    uuid_text(c["doc_id"]),
                )
                for c in changes
            ],
        )
        return
    table: Table = Document.__table__  # type: ignore[assignment]
    connection.execute(
        update(table)
        .where(table.c.id == bindparam("doc_id"))
        .values(
            meta_version=table.c.meta_version + 1,
            updated_at=bindparam("now"),
            service_start=func.least(table.c.service_start, bindparam("start")),
            service_stop=func.greatest(table.c.service_stop, bindparam("stop")),
        ),
        changes,
    )


def batches_of(session: Session, record_id: uuid.UUID) -> list[ReimbursementBatch]:
    return list(
        session.execute(
            select(ReimbursementBatch)
            .where(ReimbursementBatch.record_id == record_id)
            .order_by(ReimbursementBatch.received_at, ReimbursementBatch.id)
        ).scalars()
    )


def parked_for(session: Session, digest: str) -> list[ReimbursementParked]:
    return list(
        session.execute(
            select(ReimbursementParked)
            .where(ReimbursementParked.nir_digest == digest)
            .order_by(ReimbursementParked.received_at, ReimbursementParked.id)
            .with_for_update()
        ).scalars()
    )


def parked_digests(session: Session, digests: Sequence[str]) -> set[str]:
    """Which of these NIR digests have parked lines."""
    if not digests:
        return set()
    return set(
        session.execute(
            select(ReimbursementParked.nir_digest)
            .where(_among(session, ReimbursementParked.nir_digest, digests))
            .distinct()
        ).scalars()
    )


def claims_to_record(session: Session, parked_ids: list[uuid.UUID], record_id: uuid.UUID) -> None:
    session.execute(
        update(ReimbursementClaim)
        .where(ReimbursementClaim.parked_id.in_(parked_ids))
        .values(record_id=record_id, parked_id=None)
    )


def drop_parked(session: Session, parked_ids: list[uuid.UUID], *, keep_claims: bool = False) -> None:
    if not parked_ids:
        return
    if not keep_claims:
        session.execute(delete(ReimbursementClaim).where(ReimbursementClaim.parked_id.in_(parked_ids)))
    session.execute(delete(ReimbursementParked).where(ReimbursementParked.id.in_(parked_ids)))


def expired_parked(session: Session, now: datetime, limit: int) -> list[uuid.UUID]:
    return list(
        session.execute(
            select(ReimbursementParked.id).where(ReimbursementParked.expires_at <= now).limit(limit)
        ).scalars()
    )


def drop_claims_of(session: Session, claim_ids: list[str]) -> None:
    for start in range(0, len(claim_ids), 5000):
        session.execute(
            delete(ReimbursementClaim).where(ReimbursementClaim.claim_id.in_(claim_ids[start : start + 5000]))
        )
