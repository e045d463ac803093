"""Profiles: the records one login may act on (DOMAIN "Lifecycle": one login manages several
records, parent and children, and a caregiver may receive a delegation).

- its own record (the person's INS);
- its children's: the records where the person's INS is among the active legal representatives;
- delegations: a holder (or a minor holder's representative) lets a caregiver, named by INS, read
  the record until they revoke it. The policy learns delegations from the record's facts
  (RecordFacts.delegates), so a revoked delegation gives nothing on the next request.
The login acts as itself on each of them: the journal's actor is the logged-in person, the entry
sits in the record's chain, and the policy's decision says how they relate to it (holder,
representative, delegate)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import Action, RecordFacts
from opendmp.auth.account_models import Delegation
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins, normalise_name
from opendmp.identity.models import Patient
from opendmp.journal import service as journal
from opendmp.kit.errors import InvalidInput, NotFound
from opendmp.record import repository as records_repo
from opendmp.record.errors import RecordNotFound
from opendmp.record.models import LegalRepresentative, Record, RecordStatus

GONE = (RecordStatus.PURGED.value, RecordStatus.MERGED.value)


class DelegationNotFound(NotFound):
    pass


@dataclass(frozen=True, slots=True)
class ActingRecord:
    """A record the login may act on, and how."""

    record_id: uuid.UUID
    relation: str  # "holder", "representative" or "delegate"
    given_names: str
    family: str


def records_of(session: Session, actor: Actor) -> list[ActingRecord]:
    """The records this person may act on: own first, then children's, then delegations."""
    if actor.ins is None:
        return []
    ins = actor.ins
    found: list[tuple[uuid.UUID, str]] = []
    own = records_repo.record_id_by_ins(session, ins)
    if own is not None:
        found.append((own, "holder"))
    children = session.execute(
        select(LegalRepresentative.record_id).where(
            LegalRepresentative.ins_system == ins.system.value,
            LegalRepresentative.ins_value == ins.value,
            LegalRepresentative.ended_at.is_(None),
        )
    ).scalars()
    found += [(record_id, "representative") for record_id in children]
    delegated = session.execute(
        select(Delegation.record_id).where(
            Delegation.delegate_ins_system == ins.system.value,
            Delegation.delegate_ins_value == ins.value,
            Delegation.revoked_at.is_(None),
        )
    ).scalars()
    found += [(record_id, "delegate") for record_id in delegated]
    result: list[ActingRecord] = []
    seen: set[uuid.UUID] = set()
    if not found:
        return result
    # One query for all of them (a parent of several children: not one per record).
    rows = {
        row.id: row
        for row in session.execute(
            select(Record.id, Record.status, Patient.given_names, Patient.birth_family)
            .join(Patient, Patient.record_id == Record.id)
            .where(Record.id.in_(list(dict.fromkeys(record_id for record_id, _ in found))))
        )
    }
    for record_id, relation in found:
        if record_id in seen:
            continue
        row = rows.get(record_id)
        if row is None or row.status in GONE:
            continue
        seen.add(record_id)
        result.append(ActingRecord(record_id, relation, row.given_names, row.birth_family))
    return result


def _facts(session: Session, record_id: uuid.UUID, at: datetime) -> RecordFacts:
    record = records_repo.get_record(session, record_id)
    patient = records_repo.get_patient(session, record_id) if record else None
    if record is None or patient is None or record.status in GONE:
        raise RecordNotFound("no such record")
    return records_repo.load_facts(session, record, patient, at)


def grant_delegation(
    session: Session, actor: Actor, record_id: uuid.UUID, delegate: Ins, delegate_name: str, at: datetime
) -> Delegation:
    """The holder (or a minor's representative) delegates reading their record to a caregiver."""
    facts = _facts(session, record_id, at)
    access.require(session, actor, Action.CONSENT_MANAGE, facts, at)
    if delegate == facts.holder or delegate in facts.representatives:
        raise InvalidInput("this person already acts on the record", field="delegate")
    name = normalise_name(delegate_name)
    if not name:
        raise InvalidInput("the caregiver's name is required", field="delegateName")
    existing = session.execute(
        select(Delegation).where(
            Delegation.record_id == record_id,
            Delegation.delegate_ins_system == delegate.system.value,
            Delegation.delegate_ins_value == delegate.value,
            Delegation.revoked_at.is_(None),
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    row = Delegation(
        record_id=record_id,
        delegate_ins_system=delegate.system.value,
        delegate_ins_value=delegate.value,
        delegate_name=name,
        created_at=at,
        created_by=actor.id,
    )
    session.add(row)
    session.flush()
    journal.append(
        session, actor, journal.Event("delegation:grant", "delegation", str(row.id)), record_id=record_id, at=at
    )
    return row


def revoke_delegation(
    session: Session, actor: Actor, record_id: uuid.UUID, delegation_id: uuid.UUID, at: datetime
) -> None:
    facts = _facts(session, record_id, at)
    access.require(session, actor, Action.CONSENT_MANAGE, facts, at)
    row = session.get(Delegation, delegation_id)
    if row is None or row.record_id != record_id or row.revoked_at is not None:
        raise DelegationNotFound("no such delegation")
    row.revoked_at, row.revoked_by = at, actor.id
    session.flush()
    journal.append(
        session, actor, journal.Event("delegation:revoke", "delegation", str(row.id)), record_id=record_id, at=at
    )


def delegations_of(session: Session, actor: Actor, record_id: uuid.UUID, at: datetime) -> list[Delegation]:
    """The record's current delegations, for the holder's page."""
    access.require(session, actor, Action.CONSENT_READ, _facts(session, record_id, at), at)
    return list(
        session.execute(
            select(Delegation)
            .where(Delegation.record_id == record_id, Delegation.revoked_at.is_(None))
            .order_by(Delegation.created_at)
        ).scalars()
    )
