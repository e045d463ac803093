"""Reading the journal: the holder's view of their record's journal (FHIR AuditEvent) and
operators' cross-record forensics (`opendmp audit by-actor`). Both reads are journaled."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import Action, readable_by
from opendmp.identity.actor import Actor, ActorKind
from opendmp.identity.ins import Ins
from opendmp.identity.models import Professional
from opendmp.journal import repository as repo
from opendmp.journal import service as journal
from opendmp.journal.models import JournalEntry
from opendmp.journal.repository import EntryQuery
from opendmp.record import repository as records_repo

__all__ = ["EntryQuery", "JournalPage", "entries_by_actor", "read_record_journal"]


@dataclass(frozen=True, slots=True)
class JournalPage:
    record_id: uuid.UUID
    entries: list[JournalEntry]
    total: int
    up_to_seq: int  # the chain's length when the first page was read (the next pages' bound)
    professionals: dict[str, Professional]  # the page's professional actors, by RPPS
    holder: Ins
    representatives: frozenset[Ins]


def read_record_journal(
    session: Session, actor: Actor, record_id: uuid.UUID, query: EntryQuery, now: datetime
) -> JournalPage:
    """A page of the record's journal, for the holder and the legal representatives only;
    anyone else is answered as if the record did not exist (the refusal is journaled)."""
    _, facts = records_repo.visible_facts(session, record_id, now, message="no such patient", field="patient")
    # Professionals may look a record up, yet its journal is the holder's alone: the same answer
    # as for a record that does not exist.
    access.require(session, actor, Action.JOURNAL_READ, facts, now, absent="no such patient", field="patient")
    # A document the reader may not see (a minor's confidential act hidden from the legal
    # representatives, a result not yet announced to the holder) leaves no trace in their view
    # of the journal either: neither its title nor that someone wrote or read it.
    hidden = repo.hidden_documents(session, record_id, ~readable_by(actor, facts, now))
    entries, total, up_to_seq = repo.record_entries(session, record_id, query, hidden_documents=hidden)
    rpps = {e.actor_id for e in entries if e.actor_kind == ActorKind.PROFESSIONAL.value and e.actor_id}
    journal.append(
        session,
        actor,
        journal.Event(
            "journal:read",
            "record",
            str(record_id),
            reason=f"returned={len(entries)};total={total}",
            purpose="patient-access",
        ),
        record_id=record_id,
        at=now,
    )
    return JournalPage(
        record_id=record_id,
        entries=entries,
        total=total,
        up_to_seq=up_to_seq,
        professionals=repo.professionals_by_rpps(session, rpps),
        holder=facts.holder,
        representatives=facts.representatives,
    )


def entries_by_actor(
    session: Session, actor: Actor, actor_id: str, since: datetime | None, until: datetime | None, now: datetime
) -> list[JournalEntry]:
    """Everything one actor did, across records: operators' forensics, the one query that
    crosses records, journaled on the system chain with whom it looked for."""
    access.require(session, actor, Action.JOURNAL_FORENSICS, None, now)
    found = list(repo.entries_by_actor(session, actor_id, since, until))
    bounds = f"since={journal.iso(since) if since else '-'};until={journal.iso(until) if until else '-'}"
    journal.append(
        session,
        actor,
        journal.Event(
            "journal:by-actor", "actor", actor_id, reason=f"{bounds};returned={len(found)}", purpose="forensics"
        ),
        record_id=None,
        at=now,
    )
    return found
