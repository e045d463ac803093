"""Scheduled jobs: the timed rules of the lifecycle, run by `opendmp jobs run [NAME]` with the
injected clock. Each job finds its due records, then handles each in its own transaction so one
failure does not hold back the others. Later issues register their jobs here."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from opendmp.identity.actor import Actor
from opendmp.identity.models import Patient
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import DomainError
from opendmp.record import service as records
from opendmp.record.models import LegalRepresentative, Record, RecordStatus


@dataclass(frozen=True, slots=True)
class JobResult:
    name: str
    done: int
    failed: int


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    description: str
    due: Callable[[Session, datetime], list[uuid.UUID]]
    handle: Callable[[Session, Actor, uuid.UUID, datetime], object]


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


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "objection-window",
            "activate opt-out records whose six-week objection window ended",
            _due_activation,
            records.activate_record,
        ),
        Job(
            "purge",
            "purge records past their retention, objected ones and deletion requests",
            _due_purge,
            records.purge_record,
        ),
        Job(
            "majority",
            "end the legal representatives' rights when the holder turns 18",
            _adults_with_representatives,
            records.end_minority,
        ),
    )
}


def run_jobs(
    factory: sessionmaker[Session],
    now: datetime,
    names: list[str] | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> list[JobResult]:
    results = []
    for name in names or list(JOBS):
        job = JOBS[name]
        actor = Actor.system(f"job:{name}")
        with unit_of_work(factory) as session:
            due = job.due(session, now)
        done = failed = 0
        for index, record_id in enumerate(due, start=1):
            try:
                with unit_of_work(factory) as session:
                    job.handle(session, actor, record_id, now)
                done += 1
            except DomainError:
                failed += 1
            if on_progress:
                on_progress(name, index, len(due))
        results.append(JobResult(name, done, failed))
    return results
