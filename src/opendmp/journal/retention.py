"""Retention: after the retention period, an entry's payload (who, what, why, from where) is
replaced by its hash. The header stays, so every chain and checkpoint still verifies, and the
proof that something happened at that time in that record outlives the detail.

The application role may not UPDATE journal_entry (PostgreSQL grants, migrate.py), so this runs
through the admin connection (OPENDMP_ADMIN_DATABASE_URL; on SQLite the same file).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from opendmp.identity.actor import Actor
from opendmp.journal import repository as repo
from opendmp.journal import service as journal
from opendmp.kit.db import make_engine, unit_of_work

CHAINS_PER_TRANSACTION = 500


@dataclass(frozen=True, slots=True)
class RetentionReport:
    cutoff: datetime
    redacted: int
    failed: bool = False
    error: str | None = None


def retention_cutoff(now: datetime, years: int) -> datetime:
    """`years` calendar years before `now` (29 February falls back to the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def redact_expired(
    sessions: sessionmaker[Session], admin_url: str, years: int, now: datetime, *, actor: Actor | None = None
) -> RetentionReport:
    """Redact every payload older than the period, chain by chain, then journal the run on the
    system chain (through the application's own connection, which may append)."""
    cutoff = retention_cutoff(now.astimezone(UTC), years)
    with sessions() as session:
        due = repo.count_unredacted_before(session, cutoff)
    if due == 0:
        return RetentionReport(cutoff, 0)
    redacted, error = 0, None
    engine = make_engine(admin_url, pool_size=1)
    try:
        after = ""
        while True:
            with engine.begin() as connection:
                chains = repo.chains_after(connection, after, CHAINS_PER_TRANSACTION)
                if not chains:
                    break
                redacted += repo.redact_before(connection, chains, cutoff)
            after = chains[-1]
    except DBAPIError as error_raised:  # typically: the application role, refused UPDATE
        error = f"{type(error_raised.orig).__name__}: {str(error_raised.orig).splitlines()[0]}"
    finally:
        engine.dispose()
    with unit_of_work(sessions) as session:
        journal.append(
            session,
            actor or Actor.system("job:journal-retention"),
            journal.Event(
                "journal:redact",
                "journal",
                None,
                outcome=journal.Outcome.FAILURE if error else journal.Outcome.SUCCESS,
                reason=f"before={journal.iso(cutoff)};redacted={redacted}",
            ),
            record_id=None,
            at=now,
        )
    return RetentionReport(cutoff, redacted, failed=error is not None, error=error)
