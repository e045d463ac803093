"""Maintained aggregates: daily counters of records opened and documents added, moved in the
transaction of the event (docs/decisions/0018), rebuilt once from the tables by the
`stats-backfill` job. All their SQL lives here."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from opendmp.document.models import Document
from opendmp.identity import geography
from opendmp.identity.actor import Actor, ActorKind
from opendmp.identity.models import Organisation, Patient
from opendmp.record.models import Record
from opendmp.stats.models import (
    ActivationCount,
    DocumentCount,
    DocumentTypeCount,
    DocumentWeekCount,
    Feeder,
    FilledCount,
    Opener,
    OpeningCount,
    OpeningRegionCount,
    OpeningWeekCount,
    WeekActiveCount,
    WeekUser,
)

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


@dataclass(frozen=True, slots=True, order=True)
class OpenerKey:
    """A pharmacy (by FINESS) or a nurse (by RPPS) that opened a record on `day`."""

    kind: str
    identifier: str
    day: date


def week_of(day: date) -> date:
    """The Monday of `day`'s ISO week: the key of the weekly aggregates."""
    return day - timedelta(days=day.weekday())


def opener_key(channel: str, actor: Actor, at: datetime) -> OpenerKey | None:
    """The pharmacies and nurses equipped, counted by who is paid for an opening (the ledger's
    beneficiaries): the pharmacy's FINESS, the nurse's RPPS."""
    if channel == "pharmacy" and actor.organisation:
        return OpenerKey("pharmacy", actor.organisation, at.date())
    if channel == "nurse" and actor.rpps:
        return OpenerKey("nurse", actor.rpps, at.date())
    return None


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


_STATEMENTS: dict[tuple[str, str, str], Any] = {}


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    raise RuntimeError(f"no counter upsert for {dialect}")


def _statement(session: Session, table: Table, kind: str) -> Any:
    """The upsert (or insert-if-absent) of a table, built once per dialect: building it costs
    more than running it, and it runs in every opening (bench/stats)."""
    key = (session.get_bind().dialect.name, table.name, kind)
    statement = _STATEMENTS.get(key)
    if statement is None:
        keys = [column.name for column in table.primary_key]
        insert = _insert(session, table)
        if kind == "add":
            statement = insert.on_conflict_do_update(
                index_elements=keys, set_={"count": table.c["count"] + insert.excluded["count"]}
            )
        elif kind == "new":
            statement = insert.on_conflict_do_nothing(index_elements=keys).returning(table.c[keys[0]])
        else:
            statement = insert.on_conflict_do_nothing(index_elements=keys)
        _STATEMENTS[key] = statement
    return statement


def _insert_new(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose key is absent (INSERT … ON CONFLICT DO NOTHING); how many were new."""
    if not rows:
        return 0
    table: Table = model.__table__
    statement = _statement(session, table, "new")
    if len(rows) == 1:  # RETURNING says whether it was new (rowcount is not reliable on every driver)
        return 0 if session.connection().execute(statement, rows[0]).first() is None else 1
    keys = [column.name for column in table.primary_key]
    ordered = sorted(rows, key=lambda row: tuple(row[k] for k in keys))
    session.execute(_statement(session, table, "ignore"), ordered)
    return -1  # executemany: the drivers do not say how many


def _upsert(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Add each row's count to its counter, creating it if absent: INSERT … ON CONFLICT DO UPDATE
    on PostgreSQL and SQLite alike. Rows go in key order so that two transactions lock alike."""
    if not rows:
        return
    table: Table = model.__table__
    if len(rows) == 1:
        _upsert_one(session, table, rows[0])
        return
    statement = _statement(session, table, "add")
    keys = [column.name for column in table.primary_key]
    session.execute(statement, sorted(rows, key=lambda row: tuple(row[k] for k in keys)))


_SQL: dict[tuple[str, str], tuple[str, tuple[str, ...] | None]] = {}


def _upsert_one(session: Session, table: Table, row: dict[str, Any]) -> None:
    """One event's counter row, the hot path of every opening and document: the upsert's SQL is
    compiled once per dialect and handed to the driver directly, skipping SQLAlchemy's per-call
    cache-key and parameter processing (a third of the bump's cost; bench/stats). The values are
    dates, strings and integers, which both drivers take as they are; SQLite stores dates as the
    ISO text SQLAlchemy's Date type writes."""
    connection = session.connection()
    dialect = connection.dialect
    key = (dialect.name, table.name)
    compiled = _SQL.get(key)
    if compiled is None:
        done = _statement(session, table, "add").compile(dialect=dialect)
        compiled = (str(done), tuple(done.positiontup or ()) if done.positional else None)
        _SQL[key] = compiled
    sql, order = compiled
    sqlite = dialect.name == "sqlite"
    values = {k: v.isoformat() if sqlite and isinstance(v, date) else v for k, v in row.items()}
    connection.exec_driver_sql(sql, tuple(values[name] for name in order) if order is not None else values)


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
    weeks: Counter[tuple[date, str]] = Counter()
    regions: Counter[str] = Counter()
    for key, n in counts.items():
        weeks[(week_of(key.day), key.channel)] += n
        regions[key.region] += n
    _upsert(
        session,
        OpeningWeekCount,
        [{"week": w, "channel": c, "stripe": chosen, "count": n} for (w, c), n in weeks.items()],
    )
    _upsert(session, OpeningRegionCount, [{"region": r, "stripe": chosen, "count": n} for r, n in regions.items()])


def add_openers(session: Session, openers: Iterable[OpenerKey]) -> None:
    """Note pharmacies and nurses that opened a record (kept at their first day)."""
    first: dict[tuple[str, str], date] = {}
    for o in openers:
        known = first.get((o.kind, o.identifier))
        first[(o.kind, o.identifier)] = o.day if known is None else min(known, o.day)
    _insert_new(session, Opener, [{"kind": k, "identifier": i, "first_day": d} for (k, i), d in first.items()])


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
    weeks: Counter[tuple[date, str]] = Counter()
    types: Counter[tuple[str, str]] = Counter()
    for key, n in counts.items():
        weeks[(week_of(key.day), key.source)] += n
        types[(key.class_code, key.type_code)] += n
    _upsert(
        session,
        DocumentWeekCount,
        [{"week": w, "source": s, "stripe": chosen, "count": n} for (w, s), n in weeks.items()],
    )
    _upsert(
        session,
        DocumentTypeCount,
        [{"class_code": c, "type_code": t, "stripe": chosen, "count": n} for (c, t), n in types.items()],
    )


def _one(stripe: int | None) -> int:
    return secrets.randbelow(STRIPES) if stripe is None else stripe


def add_activations(session: Session, days: Counter[date], *, stripe: int | None = None) -> None:
    rows = [{"day": d, "stripe": _one(stripe), "count": n} for d, n in days.items()]
    _upsert(session, ActivationCount, rows)


def add_filled(session: Session, opened_days: Counter[date], *, stripe: int | None = None) -> None:
    rows = [{"opened_day": d, "stripe": _one(stripe), "count": n} for d, n in opened_days.items()]
    _upsert(session, FilledCount, rows)


def count_activation(session: Session, at: datetime) -> None:
    """A holder's account became active, in the activation's transaction."""
    add_activations(session, Counter([at.date()]))


def note_feeder(session: Session, finess: str, organisation_kind: str | None, on: date) -> None:
    _insert_new(
        session, Feeder, [{"finess": finess, "organisation_kind": organisation_kind or UNKNOWN, "first_day": on}]
    )


def note_first_document(session: Session, record_id: uuid.UUID, at: datetime) -> None:
    """Mark the record filled if this is its first document, and count it by its opening day.
    The guarded UPDATE makes two concurrent first documents count once."""
    opened_at = session.execute(
        update(Record)
        .where(Record.id == record_id, Record.first_document_at.is_(None))
        .values(first_document_at=at)
        .returning(Record.opened_at)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if opened_at is not None:
        add_filled(session, Counter([opened_at.date()]))


def user_hash(key: bytes, kind: str, user: str, week: date) -> str:
    """A keyed hash of a user for one week's set: distinct counting without an identifier, and
    not linkable from one week to the next."""
    message = f"weekly-active|{week.isoformat()}|{kind}|{user}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def note_active_user(session: Session, key: bytes, actor: Actor, at: datetime) -> None:
    """A user signed in this week: enter the week's set; the week's count moves if they were new."""
    week = week_of(at.date())
    new = _insert_new(
        session, WeekUser, [{"week": week, "user_hash": user_hash(key, actor.kind.value, actor.id, week)}]
    )
    if new == 1:
        _upsert(session, WeekActiveCount, [{"week": week, "stripe": _one(None), "count": 1}])


def count_document(
    session: Session,
    actor: Actor,
    class_code: str,
    type_code: str,
    at: datetime,
    record_id: uuid.UUID | None = None,
) -> None:
    """A stored document (or new version) in the submission's transaction: by source and type,
    the establishment noted as feeding automatically when its software filed it, the record
    marked filled at its first document."""
    kind = organisation_kind(session, actor.organisation)
    source = document_source(actor.kind.value, kind)
    add_documents(session, [DocumentKey(at.date(), source, class_code, type_code)])
    if actor.kind is ActorKind.SOFTWARE and actor.organisation:
        note_feeder(session, actor.organisation, kind, at.date())
    if record_id is not None:
        note_first_document(session, record_id, at)


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


def recount_openers(session: Session) -> list[OpenerKey]:
    rows = session.execute(
        select(Record.channel, Record.opened_by_organisation, Record.opened_by, func.min(Record.opened_at))
        .where(Record.channel.in_(("pharmacy", "nurse")))
        .group_by(Record.channel, Record.opened_by_organisation, Record.opened_by)
    )
    found: list[OpenerKey] = []
    for channel, finess, opener, first in rows:
        if channel == "pharmacy" and finess:
            found.append(OpenerKey("pharmacy", finess, first.date()))
        elif channel == "nurse":
            found.append(OpenerKey("nurse", opener, first.date()))
    return found


def rebuild(session: Session) -> tuple[int, int]:
    """Replace every counter by a recount of the tables: idempotent. Run it once on a store made
    before the counters existed, while no opening or submission is under way. The weekly sets of
    active users are not rebuilt: sign-ins before the counters existed were not kept."""
    from opendmp.auth.account_models import PatientAccount

    opened, added = recount_openings(session), recount_documents(session)
    models: list[type[Any]] = [OpeningCount, DocumentCount, OpeningWeekCount, OpeningRegionCount, Opener, Feeder]
    models += [DocumentWeekCount, DocumentTypeCount]
    models += [ActivationCount, FilledCount]
    for model in models:
        session.execute(delete(model))
    _write_counts(session, opened, added)
    add_openers(session, recount_openers(session))
    kinds = organisation_kinds(session)
    feeders = session.execute(
        select(Document.submitted_by_organisation, func.min(Document.submitted_at))
        .where(Document.submitted_by_kind == ActorKind.SOFTWARE.value, Document.submitted_by_organisation.is_not(None))
        .group_by(Document.submitted_by_organisation)
    )
    _insert_new(
        session,
        Feeder,
        [
            {"finess": f, "organisation_kind": kinds.get(f, UNKNOWN), "first_day": at.date()}
            for f, at in feeders
            if f is not None
        ],
    )
    firsts = select(Document.record_id, func.min(Document.submitted_at).label("first")).group_by(Document.record_id)
    filled: Counter[date] = Counter()
    session.execute(update(Record).values(first_document_at=None).execution_options(synchronize_session=False))
    for record_id, first in session.execute(firsts).all():
        opened_at = session.execute(
            update(Record)
            .where(Record.id == record_id)
            .values(first_document_at=first)
            .returning(Record.opened_at)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if opened_at is not None:
            filled[opened_at.date()] += 1
    add_filled(session, filled, stripe=0)
    activated = Counter(
        at.date()
        for at in session.execute(
            select(PatientAccount.activated_at).where(PatientAccount.activated_at.is_not(None))
        ).scalars()
        if at is not None
    )
    add_activations(session, activated, stripe=0)
    session.flush()
    return sum(opened.values()), sum(added.values())


def _write_counts(session: Session, opened: Counter[OpeningKey], added: Counter[DocumentKey]) -> None:
    add_openings(session, opened, stripe=0)
    add_documents(session, added, stripe=0)
