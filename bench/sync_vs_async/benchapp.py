"""The benchmark's own Litestar app: the same "record-open-like" transaction and the same
primary-key lookup, each served twice, once by a sync handler with a SQLAlchemy Session (run in
Litestar's thread pool, sync_to_thread=True, as src/opendmp/fhir/routes.py does) and once by an
async handler with a SQLAlchemy AsyncSession.

Self-contained: it imports nothing from opendmp and uses its own throwaway tables. The engine
settings mirror src/opendmp/kit/db.py: pool_size=10 + max_overflow=10, pre-ping on PostgreSQL,
and on SQLite WAL, synchronous=FULL, foreign keys, busy_timeout=30000 and BEGIN IMMEDIATE on
every transaction (reads included, as in production).

Configured by environment (run.py sets it): BENCH_SYNC_URL, BENCH_ASYNC_URL, BENCH_HEADS,
BENCH_POOL_SIZE.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import uuid
from datetime import UTC, date, datetime
from typing import Any

import msgspec
from litestar import Litestar, get, post
from litestar.exceptions import NotFoundException
from sqlalchemy import (
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

GENESIS_HASH = "0" * 64


class Base(DeclarativeBase):
    pass


class Record(Base):
    __tablename__ = "bench_record"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(24))
    version: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(24))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[str] = mapped_column(String(64))
    consent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    consent_method: Mapped[str | None] = mapped_column(String(24), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Patient(Base):
    __tablename__ = "bench_patient"
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bench_record.id"), primary_key=True)
    ins_value: Mapped[str] = mapped_column(String(32), unique=True)
    birth_family: Mapped[str] = mapped_column(String(100))
    given_names: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(1))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JournalEntry(Base):
    __tablename__ = "bench_journal_entry"
    __table_args__ = (UniqueConstraint("chain", "seq"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    chain: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class JournalHead(Base):
    __tablename__ = "bench_journal_head"
    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


# ------------------------------------------------------------------ engines (as kit/db.py)


def _sqlite_pragmas(dbapi_connection: Any) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" event issue BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        _sqlite_pragmas(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_sync_engine(url: str, pool_size: int) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def make_async_engine(url: str, pool_size: int) -> AsyncEngine:
    if url.startswith("sqlite"):
        from sqlalchemy.pool import AsyncAdaptedQueuePool

        engine = create_async_engine(
            url,
            connect_args={"timeout": 30},
            poolclass=AsyncAdaptedQueuePool,
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine.sync_engine)  # SQLAlchemy's documented aiosqlite recipe
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


# ------------------------------------------------------------------ the shared, pure part


class OpenIn(msgspec.Struct):
    family: str
    given: str
    birthDate: str  # noqa: N815 - wire name
    gender: str
    opener: str


def entry_hash(fields: dict[str, Any]) -> str:
    payload = {k: fields[k] for k in ("chain", "seq", "at", "actor_id", "action", "target_id", "prev_hash")}
    payload["at"] = payload["at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    data = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def plan_rows(data: OpenIn, now: datetime) -> tuple[uuid.UUID, dict[str, Any], dict[str, Any]]:
    rid = uuid.uuid4()
    record = {
        "id": rid,
        "status": "active",
        "version": 1,
        "channel": "health_professional",
        "opened_at": now,
        "opened_by": data.opener,
        "consent_at": now,
        "consent_method": "oral",
        "updated_at": now,
    }
    patient = {
        "record_id": rid,
        "ins_value": rid.hex[:15],
        "birth_family": data.family.upper(),
        "given_names": data.given.upper(),
        "birth_date": date.fromisoformat(data.birthDate),
        "gender": data.gender,
        "updated_at": now,
    }
    return rid, record, patient


def journal_fields(head: JournalHead, rid: uuid.UUID, opener: str, now: datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "chain": head.chain,
        "seq": head.seq + 1,
        "at": now,
        "actor_id": opener,
        "action": "record:open",
        "target_id": str(rid),
        "prev_hash": head.hash,
    }
    fields["hash"] = entry_hash(fields)
    return fields


def chain_name(i: int) -> str:
    return f"{i:032x}"


HEADS = int(os.environ.get("BENCH_HEADS", "1000"))


def pick_chain() -> str:
    return chain_name(random.randrange(HEADS))


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ app


def create_app() -> Litestar:
    pool_size = int(os.environ.get("BENCH_POOL_SIZE", "10"))
    sync_engine = make_sync_engine(os.environ["BENCH_SYNC_URL"], pool_size)
    async_engine = make_async_engine(os.environ["BENCH_ASYNC_URL"], pool_size)
    connects = {"sync": 0, "async": 0}  # pool churn would show here

    @event.listens_for(sync_engine, "connect")
    def _count_sync(*_: Any) -> None:
        connects["sync"] += 1

    @event.listens_for(async_engine.sync_engine, "connect")
    def _count_async(*_: Any) -> None:
        connects["async"] += 1

    sync_sessions = sessionmaker(bind=sync_engine, expire_on_commit=False, autoflush=True)
    async_sessions = async_sessionmaker(async_engine, expire_on_commit=False, autoflush=True)

    # --- sync: Session in a sync handler, run in Litestar's thread pool (as opendmp does)

    @post("/sync/open", sync_to_thread=True, status_code=201)
    def sync_open(data: OpenIn) -> dict[str, Any]:
        now = _now()
        rid, record, patient = plan_rows(data, now)
        session: Session = sync_sessions()
        try:
            session.execute(insert(Record), [record])
            session.execute(insert(Patient), [patient])
            head = session.execute(
                select(JournalHead).where(JournalHead.chain == pick_chain()).with_for_update()
            ).scalar_one()
            fields = journal_fields(head, rid, data.opener, now)
            session.add(JournalEntry(**fields))
            head.seq, head.hash = fields["seq"], fields["hash"]
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        return {"id": str(rid), "seq": fields["seq"], "hash": fields["hash"]}

    @get("/sync/lookup/{record_id:uuid}", sync_to_thread=True)
    def sync_lookup(record_id: uuid.UUID) -> dict[str, Any]:
        session: Session = sync_sessions()
        try:
            row = session.execute(select(Record).where(Record.id == record_id)).scalar_one_or_none()
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        if row is None:
            raise NotFoundException()
        return {"id": str(row.id), "status": row.status, "openedAt": row.opened_at.isoformat()}

    # --- async: AsyncSession in an async handler, on the event loop

    @post("/async/open", status_code=201)
    async def async_open(data: OpenIn) -> dict[str, Any]:
        now = _now()
        rid, record, patient = plan_rows(data, now)
        session: AsyncSession = async_sessions()
        try:
            await session.execute(insert(Record), [record])
            await session.execute(insert(Patient), [patient])
            head = (
                await session.execute(select(JournalHead).where(JournalHead.chain == pick_chain()).with_for_update())
            ).scalar_one()
            fields = journal_fields(head, rid, data.opener, now)
            session.add(JournalEntry(**fields))
            head.seq, head.hash = fields["seq"], fields["hash"]
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        finally:
            await session.close()
        return {"id": str(rid), "seq": fields["seq"], "hash": fields["hash"]}

    @get("/async/lookup/{record_id:uuid}")
    async def async_lookup(record_id: uuid.UUID) -> dict[str, Any]:
        session: AsyncSession = async_sessions()
        try:
            row = (await session.execute(select(Record).where(Record.id == record_id))).scalar_one_or_none()
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        finally:
            await session.close()
        if row is None:
            raise NotFoundException()
        return {"id": str(row.id), "status": row.status, "openedAt": row.opened_at.isoformat()}

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, Any]:
        return {"pid": os.getpid(), "connects": dict(connects)}

    async def _dispose() -> None:
        await async_engine.dispose()
        sync_engine.dispose()

    return Litestar(
        route_handlers=[sync_open, sync_lookup, async_open, async_lookup, health],
        on_shutdown=[_dispose],
        debug=False,
    )
