"""The médecin traitant is reminded once when the current VSM turns one year old (the VSM is to be
updated at least yearly). Once per VSM version: `reminded_at` is set in the same transaction as
the outbox message, so a job run twice, or a crash after the commit, sends nothing more; a new
version starts its own year."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.document.models import Document, DocumentStatus
from opendmp.identity.actor import Actor
from opendmp.journal import service as journal
from opendmp.notify import service as notifications
from opendmp.notify.models import Category
from opendmp.record import repository as records_repo
from opendmp.record.errors import RecordNotFound
from opendmp.record.models import RecordStatus
from opendmp.summary.models import ClinicalSummary

REMINDER_AGE = timedelta(days=365)
LIVE = (RecordStatus.ACTIVE, RecordStatus.PENDING_OBJECTION)


def due_reminders(session: Session, now: datetime) -> list[uuid.UUID]:
    """Current VSM versions over a year old whose reminder has not gone yet."""
    return list(
        session.execute(
            select(ClinicalSummary.id)
            .join(Document, Document.id == ClinicalSummary.document_id)
            .where(
                ClinicalSummary.kind == "vsm",
                ClinicalSummary.reminded_at.is_(None),
                ClinicalSummary.written_at <= now - REMINDER_AGE,
                Document.status == DocumentStatus.CURRENT.value,
            )
            .order_by(ClinicalSummary.written_at)
        ).scalars()
    )


def remind(session: Session, actor: Actor, summary_id: uuid.UUID, now: datetime) -> bool:
    """Queue the reminder to the record's current médecin traitant (nobody when none is
    designated or they are blocked); True when a message was queued. The version is marked
    reminded either way."""
    summary = session.get(ClinicalSummary, summary_id, with_for_update=True)
    if summary is None or summary.reminded_at is not None:
        return False  # another run got there first
    summary.reminded_at = now
    try:
        record, facts = records_repo.visible_facts(session, summary.record_id, now)
    except RecordNotFound:
        return False  # purged or merged meanwhile: nobody to remind
    if record.status not in LIVE:
        return False
    # Only the current médecin traitant is reminded, never a former one nor one the holder has
    # blocked since: the message names the patient (security review M2).
    recipient = facts.medecin_traitant
    if recipient is None or recipient in facts.blocked:
        return False
    patient = records_repo.get_patient(session, summary.record_id)
    name = f"{patient.given_names.split()[0].title()} {patient.birth_family}" if patient else None
    queued = notifications.notify_professional(
        session,
        recipient,
        Category.VSM_REMINDER,
        {"patient": name, "written": f"{summary.written_at:%d/%m/%Y}"},
        now,
        record_id=summary.record_id,
    )
    journal.append(
        session,
        actor,
        journal.Event(
            "summary:vsm-reminder", "document", str(summary.document_id), reason=f"to={recipient};queued={len(queued)}"
        ),
        record_id=summary.record_id,
        at=now,
    )
    return bool(queued)
