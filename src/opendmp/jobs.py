"""Scheduled jobs: the timed rules, run by `opendmp jobs run [NAME]` with the injected clock.
Record jobs find their due records, then handle each in its own transaction so that one
failure does not hold back the others. Later issues register their jobs here."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from opendmp.config import Settings
from opendmp.document.blobstore import sweep_orphans
from opendmp.document.models import Document
from opendmp.document.vault import Vault
from opendmp.identity.actor import Actor
from opendmp.identity.models import Patient
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import DomainError
from opendmp.record import service as records
from opendmp.record.models import LegalRepresentative, Record, RecordStatus
from opendmp.stats import counters

# A blob older than this whose document row does not exist was left by a transaction that
# never committed (the vault writes blobs before the metadata commits).
ORPHAN_AGE = timedelta(hours=1)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class JobResult:
    name: str
    done: int
    failed: int


@dataclass(frozen=True, slots=True)
class JobContext:
    sessions: sessionmaker[Session]
    vault: Vault
    on_progress: Progress | None = None
    settings: Settings | None = None  # jobs that reach outside (the notification senders)


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    description: str
    run: Callable[[JobContext, datetime], JobResult]
    on_demand: bool = False  # runs only when named (`opendmp jobs run NAME`), not with all the others


def _record_job(
    name: str,
    due: Callable[[Session, datetime], list[uuid.UUID]],
    handle: Callable[[Session, Actor, uuid.UUID, datetime], object],
    after: Callable[[JobContext, uuid.UUID, datetime], None] | None = None,
) -> Callable[[JobContext, datetime], JobResult]:
    def run(context: JobContext, now: datetime) -> JobResult:
        actor = Actor.system(f"job:{name}")
        with unit_of_work(context.sessions) as session:
            ids = due(session, now)
        done = failed = 0
        for index, record_id in enumerate(ids, start=1):
            try:
                with unit_of_work(context.sessions) as session:
                    handle(session, actor, record_id, now)
                if after is not None:
                    after(context, record_id, now)
                done += 1
            except DomainError:
                failed += 1
            if context.on_progress:
                context.on_progress(name, index, len(ids))
        return JobResult(name, done, failed)

    return run


def _due_activation(session: Session, now: datetime) -> list[uuid.UUID]:
    return list(
        session.execute(
            select(Record.id).where(Record.status == RecordStatus.PENDING_OBJECTION, Record.objection_deadline <= now)
        ).scalars()
    )


def _due_purge(session: Session, now: datetime) -> list[uuid.UUID]:
    return list(
        session.execute(
            select(Record.id).where(
                ((Record.status == RecordStatus.CLOSED) & (Record.purge_after <= now))
                | Record.status.in_([RecordStatus.OBJECTED, RecordStatus.DELETION_REQUESTED])
            )
        ).scalars()
    )


def shred(context: JobContext, record_id: uuid.UUID, now: datetime) -> None:
    """After a purge has committed: destroy the record's data key (its content is then unreadable
    everywhere, backups included) and free the blobs' space."""
    context.vault.keys.destroy(record_id, "record purged", now)
    for key, _ in context.vault.blobs.list(f"{record_id}/"):
        context.vault.blobs.delete(key)


def _adults_with_representatives(session: Session, now: datetime) -> list[uuid.UUID]:
    born_before = _years_before(now.date(), records.ADULT_AGE)
    return list(
        session.execute(
            select(LegalRepresentative.record_id)
            .distinct()
            .join(Patient, Patient.record_id == LegalRepresentative.record_id)
            .where(LegalRepresentative.ended_at.is_(None), Patient.birth_date <= born_before)
        ).scalars()
    )


def _years_before(on: date, years: int) -> date:
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # 29 February
        return on.replace(year=on.year - years, day=28)


def sweep_blobs(context: JobContext, now: datetime) -> JobResult:
    """Remove blobs whose document never committed (a crash between the blob and the metadata)."""
    with context.sessions() as session:

        def committed(key: str) -> bool:
            return session.execute(select(Document.id).where(Document.blob_key == key).limit(1)).first() is not None

        removed = sweep_orphans(context.vault.blobs, committed, ORPHAN_AGE, now)
    return JobResult("blob-sweeper", removed, 0)


def _journal_settings(context: JobContext, job: str) -> Settings:
    if context.settings is None:
        raise ValueError(f"the {job} job needs the settings")
    return context.settings


def journal_checkpoint(context: JobContext, now: datetime) -> JobResult:
    """Sign a checkpoint over the heads of every journal chain (the served app also does it every minute)."""
    from opendmp.journal.checkpoint import take_checkpoint
    from opendmp.kit.keys import load_keys

    keys = load_keys(_journal_settings(context, "journal-checkpoint"))
    checkpoint = take_checkpoint(context.sessions, keys.journal_signing_key, now)
    return JobResult("journal-checkpoint", checkpoint.changed, 0)


def journal_retention(context: JobContext, now: datetime) -> JobResult:
    """Replace journal payloads older than the retention period by their hashes (admin connection)."""
    from opendmp.journal.retention import redact_expired

    settings = _journal_settings(context, "journal-retention")
    admin_url = settings.admin_database_url or settings.resolved_database_url
    report = redact_expired(context.sessions, admin_url, settings.journal_retention_years, now)
    if report.failed:
        from opendmp.kit.logging import get_logger

        get_logger("opendmp.jobs").error("journal retention failed", error=report.error)
    return JobResult("journal-retention", report.redacted, 1 if report.failed else 0)


def send_notifications(context: JobContext, now: datetime) -> JobResult:
    """Send the outbox's due messages (retries included) and forget old ones."""
    from opendmp.notify import worker
    from opendmp.notify.senders import make_senders

    if context.settings is None:
        raise ValueError("the notify job needs the settings (its senders)")
    report = worker.send_due(
        context.sessions,
        make_senders(context.settings),
        worker.RunningClock(now),
        worker.Delivery.from_settings(context.settings),
    )
    worker.prune(context.sessions, now)
    return JobResult("notify", report.sent, report.failed)


def purge_logins(context: JobContext, now: datetime) -> JobResult:
    """Forget expired sessions, spent codes, abandoned OpenID Connect logins, stale throttle rows
    and expired client assertions."""
    from opendmp.auth.purge import purge_expired

    with unit_of_work(context.sessions) as session:
        purged = purge_expired(session, now)
    return JobResult("auth-purge", purged.total, 0)


def announce_invisible(context: JobContext, now: datetime) -> JobResult:
    from opendmp.consent.service import announce_invisible_documents

    with unit_of_work(context.sessions) as session:
        told = announce_invisible_documents(session, now)
    return JobResult("invisible-notice", told, 0)


def remind_old_vsm(context: JobContext, now: datetime) -> JobResult:
    """Tell the médecin traitant, once per VSM version, that the VSM is over a year old."""
    from opendmp.summary import reminders

    actor = Actor.system("job:vsm-reminder")
    with unit_of_work(context.sessions) as session:
        due = reminders.due_reminders(session, now)
    done = failed = 0
    for index, summary_id in enumerate(due, start=1):
        try:
            with unit_of_work(context.sessions) as session:
                done += reminders.remind(session, actor, summary_id, now)
        except DomainError:
            failed += 1
        if context.on_progress:
            context.on_progress("vsm-reminder", index, len(due))
    return JobResult("vsm-reminder", done, failed)


def backfill_stats(context: JobContext, now: datetime) -> JobResult:
    """Rebuild the statistics counters from the records and documents (stores made before the
    counters existed); idempotent, one transaction."""
    with unit_of_work(context.sessions) as session:
        opened, added = counters.rebuild(session)
    return JobResult("stats-backfill", opened + added, 0)


def purge_parked_reimbursements(context: JobContext, now: datetime) -> JobResult:
    """Parked claim lines (a NIR with no record) are kept 90 days at most."""
    from opendmp.feed import service as reimbursements

    done = 0
    while True:
        with unit_of_work(context.sessions) as session:
            purged = reimbursements.purge_expired(session, now)
        done += purged
        if purged == 0:
            return JobResult("reimbursement-parking-purge", done, 0)


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "objection-window",
            "activate opt-out records whose six-week objection window ended",
            _record_job("objection-window", _due_activation, records.activate_record),
        ),
        Job(
            "purge",
            "purge records past their retention, objected ones and deletion requests; shred their keys",
            _record_job("purge", _due_purge, records.purge_record, shred),
        ),
        Job(
            "majority",
            "end the legal representatives' rights when the holder turns 18",
            _record_job("majority", _adults_with_representatives, records.end_minority),
        ),
        Job("blob-sweeper", "remove blobs left by transactions that never committed", sweep_blobs),
        Job(
            "reimbursement-parking-purge",
            "delete parked reimbursement lines (no record for their NIR) older than 90 days",
            purge_parked_reimbursements,
        ),
        Job(
            "journal-retention",
            "replace journal payloads older than the retention period by their hashes (chains stay verifiable)",
            journal_retention,
        ),
        # After the record jobs, so that it seals what they journaled.
        Job("journal-checkpoint", "sign a checkpoint over the heads of every journal chain", journal_checkpoint),
        Job(
            "invisible-notice",
            "tell holders of documents hidden from them for two weeks (visible after a month at most)",
            announce_invisible,
        ),
        Job("vsm-reminder", "remind the médecin traitant once when the VSM is over a year old", remind_old_vsm),
        Job("notify", "send due notifications (email, SMS), retry failed ones with backoff", send_notifications),
        Job(
            "auth-purge",
            "delete expired sessions, spent codes, abandoned OpenID Connect logins, stale throttle rows and "
            "expired client assertions",
            purge_logins,
        ),
        Job(
            "stats-backfill",
            "rebuild the statistics counters (openings, documents) from the tables, once, idempotent",
            backfill_stats,
            on_demand=True,
        ),
    )
}


def run_jobs(context: JobContext, now: datetime, names: list[str] | None = None) -> list[JobResult]:
    return [JOBS[name].run(context, now) for name in names or [n for n, job in JOBS.items() if not job.on_demand]]
