"""Asking the policy, the same way everywhere: decide, journal a refusal, raise the right error."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from opendmp.access.policy import (
    Action,
    CredentialsLetter,
    Decision,
    DocumentFacts,
    NewAuthorisation,
    NewDocument,
    NewEmergency,
    PatientContent,
    RecordFacts,
    Target,
    decide,
)
from opendmp.identity.actor import Actor
from opendmp.journal import service as journal
from opendmp.kit.errors import AccessDenied, DomainError, HiddenFromActor


def require(
    session: Session,
    actor: Actor,
    action: Action,
    target: Target,
    now: datetime,
    *,
    absent: str | None = None,
    field: str | None = None,
) -> Decision:
    """Return the decision if allowed. A refusal is journaled and raised: as "not found" when the
    actor may not even see the record (existence never leaks), as "forbidden" otherwise. With
    `absent`, every refusal answers "not found" with that message: what belongs to the holder
    alone (their consents, their journal) does not exist for anyone else."""
    decision = decide(actor, action, target, now)
    if decision.allowed:
        return decision
    on_record = isinstance(
        target, NewDocument | DocumentFacts | NewAuthorisation | NewEmergency | CredentialsLetter | PatientContent
    )
    record = target.record if on_record else target  # type: ignore[union-attr]
    record_id = record.record_id if isinstance(record, RecordFacts) else None
    event = journal.Event(
        action=action.value,
        target_type="document" if isinstance(target, DocumentFacts) else "record" if record_id else "platform",
        target_id=str(target.document_id)
        if isinstance(target, DocumentFacts)
        else str(record_id)
        if record_id
        else None,
        outcome=journal.Outcome.DENIED,
        reason=decision.reason,
    )
    journal.append(session, actor, event, record_id=record_id, at=now)
    error: DomainError
    hides_record = isinstance(
        target, RecordFacts | NewAuthorisation | NewEmergency | CredentialsLetter | PatientContent
    )
    if absent is not None:
        error = HiddenFromActor(absent, field=field)
    elif (
        hides_record
        and isinstance(record, RecordFacts)
        and not decide(actor, Action.RECORD_LOOKUP, record, now).allowed
    ):
        error = HiddenFromActor("no such record")
    elif isinstance(target, DocumentFacts) and not decide(actor, Action.DOCUMENT_READ, target, now).allowed:
        error = HiddenFromActor("no such document")  # a refused read answers exactly like a missing one
    else:
        error = AccessDenied(f"not permitted: {action.value} ({decision.reason})")
    # If the transaction wrote anything before this refusal, that goes; the refusal's trace stays.
    error.replay.append(_retrace(actor, event, record_id, now))
    raise error


def _retrace(
    actor: Actor, event: journal.Event, record_id: uuid.UUID | None, at: datetime
) -> Callable[[Session], None]:
    def write(session: Session) -> None:
        journal.append(session, actor, event, record_id=record_id, at=at)

    return write
