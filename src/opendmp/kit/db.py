"""Engine and unit of work: one transaction per request or command, owned by the edge."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from opendmp.kit.errors import DomainError


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> Engine:
    if is_sqlite(url):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers, synchronous=FULL so an acknowledged write survives a power cut,
    foreign keys on, and BEGIN IMMEDIATE: every transaction here may write (the journal), and a
    deferred transaction that upgrades to a writer fails at once under WAL instead of waiting."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A long read that needs one snapshot (audit verify) asks for a deferred BEGIN, so that it
        # does not hold the write lock.
        deferred = conn.get_execution_options().get("sqlite_deferred_begin")
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit on success; roll back on failure. A refusal that carries its journal entry as
    `replay` is traced alone: the transaction is rolled back (whatever it wrote before the
    refusal goes), then the entry is written in a transaction of its own. Other `keep_journal`
    errors commit what was written (the login throttle's failure counter with its entry).
    """
    session = factory()
    try:
        yield session
        session.commit()
    except DomainError as error:
        if error.replay:
            session.rollback()
            with factory() as trace:
                for write in error.replay:
                    write(trace)
                trace.commit()
        elif error.keep_journal:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
