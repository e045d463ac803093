"""What a professional may do with a record, as the policy answers it, for the professional's
page: "you have access (médecin traitant / authorisation until … / emergency until …)", or "you
have no access: ask the patient, declare a consent with the patient present, or use emergency
access". Nothing is decided here: each answer is the policy's (access.policy.decide and
professional_access) on the record's facts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import (
    Action,
    EmergencyMode,
    NewAuthorisation,
    NewEmergency,
    RecordFacts,
    decide,
    professional_access,
)
from opendmp.identity.actor import Actor
from opendmp.journal import service as journal
from opendmp.record import repository as repo
from opendmp.record.service import PatientRecord


@dataclass(frozen=True, slots=True)
class Standing:
    """The professional's access to one record, now."""

    view: PatientRecord
    via: str | None  # "medecin-traitant", "authorisation", "emergency"; None: no access to content
    sees_masked: bool  # documents the holder masked are shown (médecin traitant, emergency…)
    until: datetime | None  # the end of the access window (authorisation or emergency); None: open-ended
    emergency_until: datetime | None  # a running emergency access of this professional
    blocked: bool  # the holder blocked this professional
    may_declare: bool  # may declare an authorisation with the patient present (care team or consent)
    may_break_glass: bool  # may start an emergency access
    facts: RecordFacts  # what the policy knew, for the page's other service calls of this transaction


def standing_of(session: Session, actor: Actor, record_id: uuid.UUID, now: datetime) -> Standing:
    """The record (a journaled lookup, like find_by_ins) and what this professional may do on it."""
    record, patient = repo.visible_record(session, record_id)
    representatives = repo.active_representatives(session, record_id)
    facts = repo.load_facts(session, record, patient, now, representatives)
    decision = access.require(session, actor, Action.RECORD_LOOKUP, facts, now)
    journal.append(
        session,
        actor,
        journal.Event("record:lookup", "record", str(record_id), reason=f"standing;via={decision.via}"),
        record_id=record_id,
        at=now,
    )
    rpps = actor.rpps
    blocked = rpps is not None and rpps in facts.blocked
    found = None if blocked else professional_access(actor, facts, now)
    grant = facts.grants.get(rpps) if rpps else None
    emergency = facts.emergencies.get(rpps) if rpps else None
    emergency_until = emergency.expires_at if emergency is not None and now < emergency.expires_at else None
    via = found[0] if found else None
    until = None
    if via == "authorisation" and grant is not None:
        until = grant.expires_at
    elif via == "emergency":
        until = emergency_until
    declaration = NewAuthorisation(facts, rpps or "", care_team=False, patient_present=True)
    urgent = NewEmergency(facts, EmergencyMode.BREAK_GLASS)
    return Standing(
        view=PatientRecord(record, patient, representatives),
        via=via,
        sees_masked=bool(found and found[1]),
        until=until,
        emergency_until=emergency_until,
        blocked=blocked,
        may_declare=rpps is not None and decide(actor, Action.CONSENT_DECLARE, declaration, now).allowed,
        may_break_glass=not blocked
        and via != "medecin-traitant"
        and decide(actor, Action.EMERGENCY_ACCESS, urgent, now).allowed
        and record.status == "active",
        facts=facts,
    )
