"""Maintained aggregates: daily counters of records opened and documents added, moved in the
transaction of the event (docs/decisions/0018), rebuilt once from the tables by the
`stats-backfill` job. All their SQL lives here."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from opendmp.document.models import Document
from opendmp.identity import geography
from opendmp.identity.actor import Actor, ActorKind
from opendmp.identity.models import Organisation, Patient
from opendmp.record.models import Record
from opendmp.stats.models import DocumentCount, OpeningCount

STRIPES = 8  # rows a day's dimensions spread over; readers sum them
UNKNOWN = ""
ESTABLISHMENT_KINDS = frozenset({"hospital", "university-hospital", "clinic", "ehpad"})
HEALTH_CENTRE_KINDS = frozenset({"health-centre"})
SOURCES = ("establishment", "liberal", "health-centre", "patient", "insurer")


@dataclass(frozen=True, slots=True, order=True)
class OpeningKey:
    day: date
    channel: str
    region: str
    department: str
    organisation_kind: str


@dataclass(frozen=True, slots=True, order=True)
class DocumentKey:
    day: date
    source: str
    class_code: str
    type_code: str


def opening_key(at: datetime, channel: str, department: str | None, organisation_kind: str | None) -> OpeningKey:
    region = geography.region_of(department) if department else None
    return OpeningKey(at.date(), channel, region or UNKNOWN, department or UNKNOWN, organisation_kind or UNKNOWN)


def document_source(kind: str, organisation_kind: str | None) -> str:
    """Who added a document, as the deployment reports it: establishments, liberal
    professionals, health centres, patients, the insurer."""
    if kind == ActorKind.PATIENT.value:
        return "patient"
    if kind in (ActorKind.INSURER_FEED.value, ActorKind.COUNTER_AGENT.value):
        return "insurer"
    if kind == ActorKind.SOFTWARE.value or organisation_kind in ESTABLISHMENT_KINDS:
        return "establishment"
    if organisation_kind in HEALTH_CENTRE_KINDS:
        return "health-centre"
    if kind == ActorKind.PROFESSIONAL.value:
        return "liberal"  # no establishment in the directory: a pharmacy, a laboratory, a practice
    return kind


def organisation_kind(session: Session, finess: str | None) -> str | None:
    if finess is None:
        return None
    kind: str | None = session.execute(
        select(Organisation.kind).where(Organisation.finess == finess)
    ).scalar_one_or_none()
    return kind


def organisation_kinds(session: Session) -> dict[str, str]:
    """Every organisation's kind by FINESS (the bulk seeder's and the backfill's lookup)."""
    return {finess: kind for finess, kind in session.execute(select(Organisation.finess, Organisation.kind))}


def _upsert(session: Session, model: type[OpeningCount] | type[DocumentCount], rows: list[dict[str, Any]]) -> None:
    """Add each row's count to its counter, creating it if absent: INSERT … ON CONFLICT DO UPDATE
    on PostgreSQL and SQLite alike. Rows go in key order so that two transactions lock alike."""
    if not rows:
        return
    table: Table = model.__table__  # type: ignore[assignment]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(table)
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table)
    else:
        raise RuntimeError(f"no counter upsert for {dialect}")
    keys = [column.name for column in table.primary_key]
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={"count": table.c["count"] + statement.excluded["count"]}
    )
    session.execute(statement, sorted(rows, key=lambda row: tuple(row[k] for k in keys)))


def add_openings(
    session: Session, keys: Iterable[OpeningKey] | Counter[OpeningKey], *, stripe: int | None = None
) -> None:
    """Count openings. One opening takes a random stripe; a batch (the seeder) sums its openings
    per key first and writes them on `stripe` 0 unless told otherwise."""
    counts = Counter(keys)
    chosen = secrets.randbelow(STRIPES) if stripe is None and sum(counts.values()) == 1 else (stripe or 0)
    rows = [
        {
            "day": key.day,
            "channel": key.channel,
            "region": key.region,
            "department": key.department,
            "organisation_kind": key.organisation_kind,
            "stripe": chosen,
            "count": n,
        }
        for key, n in counts.items()
    ]
    _upsert(session, OpeningCount, rows)


def add_documents(
    session: Session, keys: Iterable[DocumentKey] | Counter[DocumentKey], *, stripe: int | None = None
) -> None:
    counts = Counter(keys)
    chosen = secrets.randbelow(STRIPES) if stripe is None and sum(counts.values()) == 1 else (stripe or 0)
    rows = [
        {
            "day": key.day,
            "source": key.source,
            "class_code": key.class_code,
            "type_code": key.type_code,
            "stripe": chosen,
            "count": n,
        }
        for key, n in counts.items()
    ]
    _upsert(session, DocumentCount, rows)


def count_document(session: Session, actor: Actor, class_code: str, type_code: str, at: datetime) -> None:
    """A stored document (or new version) in the submission's transaction."""
    source = document_source(actor.kind.value, organisation_kind(session, actor.organisation))
    add_documents(session, [DocumentKey(at.date(), source, class_code, type_code)])


def recount_openings(session: Session) -> Counter[OpeningKey]:
    """Openings recounted from the record table (the backfill, and the tests' yardstick)."""
    kinds = organisation_kinds(session)
    rows = session.execute(
        select(Record.opened_at, Record.channel, Patient.residence_department, Record.opened_by_organisation)
        .outerjoin(Patient, Patient.record_id == Record.id)
        .execution_options(yield_per=10_000)
    )
    return Counter(
        opening_key(opened_at, channel, department, kinds.get(finess) if finess else None)
        for opened_at, channel, department, finess in rows
    )


def recount_documents(session: Session) -> Counter[DocumentKey]:
    kinds = organisation_kinds(session)
    rows = session.execute(
        select(
            Document.submitted_at,
            Document.submitted_by_kind,
            Document.submitted_by_organisation,
            Document.class_code,
            Document.type_code,
        ).execution_options(yield_per=10_000)
    )
    return Counter(
        DocumentKey(at.date(), document_source(kind, kinds.get(finess) if finess else None), class_code, type_code)
        for at, kind, finess, class_code, type_code in rows
    )


def openings(session: Session) -> Counter[OpeningKey]:
    """The maintained opening counters, stripes summed."""
    totals: Counter[OpeningKey] = Counter()
    for row in session.execute(select(OpeningCount)).scalars():
        totals[OpeningKey(row.day, row.channel, row.region, row.department, row.organisation_kind)] += row.count
    return totals


def documents(session: Session) -> Counter[DocumentKey]:
    totals: Counter[DocumentKey] = Counter()
    for row in session.execute(select(DocumentCount)).scalars():
        totals[DocumentKey(row.day, row.source, row.class_code, row.type_code)] += row.count
    return totals


def rebuild(session: Session) -> tuple[int, int]:
    """Replace every counter by a recount of the tables: idempotent. Run it once on a store made
    before the counters existed, while no opening or submission is under way."""
    opened, added = recount_openings(session), recount_documents(session)
    session.execute(delete(OpeningCount))
    session.execute(delete(DocumentCount))
    _write_counts(session, opened, added)
    session.flush()
    return sum(opened.values()), sum(added.values())


def _write_counts(session: Session, opened: Counter[OpeningKey], added: Counter[DocumentKey]) -> None:
    add_openings(session, opened, stripe=0)
    add_documents(session, added, stripe=0)
