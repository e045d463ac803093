"""The one place that decides who may do what (ARCHITECTURE rule 3).

`decide` is pure: no I/O, time passed in. Services load the facts, ask, journal, then act.
Deny by default: an action no rule allows is refused with reason "no-rule".

This is the foundation's policy: the holder and legal representatives read their record; any
professional may look a record up (identity and status) as DMP-compatible software does before
feeding it; openers open; operators administer without reading content. The access issue grows
these rules (habilitation matrix, consents, emergency access) here, not elsewhere.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from opendmp.identity.actor import Actor, ActorKind
from opendmp.identity.ins import Ins


class Action(StrEnum):
    """Permissions named `resource:action`."""

    RECORD_OPEN = "record:open"
    RECORD_LOOKUP = "record:lookup"  # identity and status, not content
    RECORD_READ = "record:read"  # content
    RECORD_CLOSE = "record:close"
    RECORD_REOPEN = "record:reopen"
    RECORD_OBJECT = "record:object"
    RECORD_REQUEST_DELETION = "record:request-deletion"
    RECORD_SUSPEND = "record:suspend"
    RECORD_PURGE = "record:purge"
    RECORD_DECLARE_DEATH = "record:declare-death"
    RECORD_MANAGE_REPRESENTATIVES = "record:manage-representatives"
    RECORD_HEIR_REQUEST = "record:heir-request"
    RECORD_ACTIVATE = "record:activate"  # end of the objection window
    IDENTITY_UPDATE = "identity:update"
    IDENTITY_MERGE = "identity:merge"
    DIRECTORY_ADMIN = "directory:admin"
    REMUNERATION_ASSIGN = "remuneration:assign"


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """What the policy needs to know about a record, loaded by the record repository."""

    record_id: uuid.UUID
    status: str
    holder: Ins
    representatives: frozenset[Ins] = frozenset()
    care_team: frozenset[str] = frozenset()  # RPPS with a current authorisation
    blocked: frozenset[str] = frozenset()  # RPPS blocked by the holder


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    via: str | None = None


@dataclass(frozen=True, slots=True)
class NewRecord:
    """The target of an opening: the person's INS (no record exists yet)."""

    ins: Ins


Target = RecordFacts | NewRecord | None

_PATIENT_ACTIONS = frozenset(
    {
        Action.RECORD_LOOKUP,
        Action.RECORD_READ,
        Action.RECORD_CLOSE,
        Action.RECORD_REOPEN,
        Action.RECORD_OBJECT,
        Action.RECORD_REQUEST_DELETION,
    }
)
# The holder's legal representatives exercise the holder's rights (CSP L1111-19), and the first
# may invite the second.
_REPRESENTATIVE_ACTIONS = _PATIENT_ACTIONS | {Action.RECORD_MANAGE_REPRESENTATIVES}
_OPERATOR_ACTIONS = frozenset(
    {
        Action.RECORD_LOOKUP,
        Action.RECORD_CLOSE,
        Action.RECORD_REOPEN,
        Action.RECORD_SUSPEND,
        Action.RECORD_PURGE,
        Action.RECORD_DECLARE_DEATH,
        Action.RECORD_MANAGE_REPRESENTATIVES,
        Action.RECORD_HEIR_REQUEST,
        Action.IDENTITY_UPDATE,
        Action.IDENTITY_MERGE,
        Action.DIRECTORY_ADMIN,
        Action.REMUNERATION_ASSIGN,
    }
)
_SYSTEM_ACTIONS = frozenset({Action.RECORD_ACTIVATE, Action.RECORD_PURGE, Action.RECORD_MANAGE_REPRESENTATIVES})
_OPENERS = frozenset(
    {
        ActorKind.PATIENT,
        ActorKind.PROFESSIONAL,
        ActorKind.COUNTER_AGENT,
        ActorKind.SOFTWARE,
        ActorKind.INSURER_FEED,
    }
)
_LOOKERS = frozenset({ActorKind.PROFESSIONAL, ActorKind.SOFTWARE, ActorKind.COUNTER_AGENT})


def decide(actor: Actor, action: Action, target: Target, now: datetime) -> Decision:
    """May `actor` do `action` on `target` at `now`? Pure; the first matching rule answers."""
    rpps = actor.rpps
    if isinstance(target, RecordFacts) and rpps is not None and rpps in target.blocked:
        return Decision(False, "blocked")  # the block wins over everything else

    if action is Action.RECORD_OPEN:
        if actor.kind not in _OPENERS:
            return Decision(False, "not-an-opener")
        if actor.kind is ActorKind.PATIENT:
            # A person opens their own record online; a minor's is opened at a counter.
            if isinstance(target, NewRecord) and actor.ins == target.ins:
                return Decision(True, "own-record", via="holder")
            return Decision(False, "not-own-record")
        return Decision(True, "opener", via=actor.kind.value)

    if actor.kind is ActorKind.SYSTEM:
        if action in _SYSTEM_ACTIONS:
            return Decision(True, "scheduled-job", via="system")
        return Decision(False, "no-rule")

    if actor.kind is ActorKind.OPERATOR:
        if action in _OPERATOR_ACTIONS:
            return Decision(True, "operator-administration", via="operator")
        return Decision(False, "operators-read-no-content")

    if not isinstance(target, RecordFacts):
        return Decision(False, "no-rule")

    if actor.kind is ActorKind.PATIENT and actor.ins is not None:
        if actor.ins == target.holder and action in _PATIENT_ACTIONS:
            return Decision(True, "holder", via="holder")
        if actor.ins in target.representatives and action in _REPRESENTATIVE_ACTIONS:
            return Decision(True, "legal-representative", via="representative")
        return Decision(False, "not-holder")

    if actor.kind in _LOOKERS and action is Action.RECORD_LOOKUP:
        via = "care-team" if rpps is not None and rpps in target.care_team else "lookup"
        return Decision(True, "lookup", via=via)

    return Decision(False, "no-rule")
