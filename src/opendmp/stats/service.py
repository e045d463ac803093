"""Operator use cases of the remuneration ledger."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import Action
from opendmp.identity.actor import Actor
from opendmp.identity.models import Organisation
from opendmp.journal import service as journal
from opendmp.kit.errors import NotFound
from opendmp.stats.models import EntryStatus, RemunerationEntry


def held_entries(session: Session, actor: Actor, now: datetime) -> list[RemunerationEntry]:
    access.require(session, actor, Action.REMUNERATION_ASSIGN, None, now)
    return list(
        session.execute(
            select(RemunerationEntry)
            .where(RemunerationEntry.status == EntryStatus.HELD)
            .order_by(RemunerationEntry.created_at)
        ).scalars()
    )


def assign_pharmacy(
    session: Session, actor: Actor, entry_id: uuid.UUID, finess: str, now: datetime
) -> RemunerationEntry:
    """A held entry (the opener's pharmacy was unknown) is paid to the pharmacy the operator names."""
    access.require(session, actor, Action.REMUNERATION_ASSIGN, None, now)
    entry = session.get(RemunerationEntry, entry_id, with_for_update=True)
    if entry is None or entry.status != EntryStatus.HELD:
        raise NotFound("no held ledger entry with this id", field="entry")
    pharmacy = session.execute(
        select(Organisation).where(Organisation.finess == finess, Organisation.kind == "pharmacy")
    ).scalar_one_or_none()
    if pharmacy is None:
        raise NotFound(f"no pharmacy with FINESS {finess} in the directory", field="finess")
    entry.finess, entry.status, entry.assigned_by = finess, EntryStatus.DUE.value, actor.id
    journal.append(
        session,
        actor,
        journal.Event("remuneration:assign", "ledger-entry", str(entry_id), reason=f"finess={finess}"),
        record_id=None,
        at=now,
    )
    session.flush()
    return entry
