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

from sqlalchemy import ColumnElement, exists, false

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
    DOCUMENT_CREATE = "document:create"
    DOCUMENT_READ = "document:read"
    DOCUMENT_MASK = "document:mask"  # MASQUE_PS on or off: the patient's own choice
    DOCUMENT_UPDATE = "document:update"  # visibility, confidentiality, archiving, replacement
    DOCUMENT_DELETE = "document:delete"
    IDENTITY_UPDATE = "identity:update"
    IDENTITY_MERGE = "identity:merge"
    DIRECTORY_ADMIN = "directory:admin"
    REMUNERATION_ASSIGN = "remuneration:assign"
    JOURNAL_READ = "journal:read"  # the record's journal, as the holder sees it (AuditEvent)


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


@dataclass(frozen=True, slots=True)
class NewDocument:
    """The target of a submission: the record and the document's type code."""

    record: RecordFacts
    type_code: str


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What the policy needs to know about one document (one version)."""

    document_id: uuid.UUID
    record: RecordFacts
    type_code: str
    authors: frozenset[str]  # RPPS of the professionals named as authors
    submitted_by: str  # the submitting actor's id (RPPS, INS value, client id)
    masked_from_professionals: bool = False  # MASQUE_PS
    invisible_to_patient: bool = False  # INVISIBLE_PATIENT
    invisible_to_representatives: bool = False  # INVISIBLE_REPRESENTANTS_LEGAUX


Target = RecordFacts | NewRecord | NewDocument | DocumentFacts | None

# Types a patient may file in their own record (expression libre and deposited documents).
PATIENT_TYPE_PREFIXES = ("EXPPAT_", "DOCPAT")
REIMBURSEMENT_TYPE = "REMB"

_PATIENT_ACTIONS = frozenset(
    {
        Action.RECORD_LOOKUP,
        Action.RECORD_READ,
        Action.RECORD_CLOSE,
        Action.RECORD_REOPEN,
        Action.RECORD_OBJECT,
        Action.RECORD_REQUEST_DELETION,
        Action.JOURNAL_READ,
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
    record = target.record if isinstance(target, NewDocument | DocumentFacts) else target
    if isinstance(record, RecordFacts) and rpps is not None and rpps in record.blocked:
        return Decision(False, "blocked")  # the block wins over everything else
    if isinstance(target, NewDocument):
        return _decide_submission(actor, target)
    if isinstance(target, DocumentFacts):
        return _decide_document(actor, action, target)

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


def _relation(actor: Actor, record: RecordFacts) -> str | None:
    """How a person relates to a record: "holder", "representative" or None."""
    if actor.kind is not ActorKind.PATIENT or actor.ins is None:
        return None
    if actor.ins == record.holder:
        return "holder"
    if actor.ins in record.representatives:
        return "representative"
    return None


def _decide_submission(actor: Actor, target: NewDocument) -> Decision:
    is_reimbursement = target.type_code == REIMBURSEMENT_TYPE
    if actor.kind is ActorKind.INSURER_FEED:
        # The insurer feeds the reimbursement history, nothing else.
        return Decision(
            is_reimbursement,
            "insurer-feed" if is_reimbursement else "insurer-feeds-reimbursements-only",
            via="insurer-feed" if is_reimbursement else None,
        )
    if is_reimbursement:
        return Decision(False, "reimbursements-only-from-the-insurer")
    relation = _relation(actor, target.record)
    if relation is not None:
        if target.type_code.startswith(PATIENT_TYPE_PREFIXES):
            return Decision(True, f"{relation}-document", via=relation)
        return Decision(False, "patients-file-their-own-documents-only")
    if actor.kind in (ActorKind.PROFESSIONAL, ActorKind.SOFTWARE) and actor.rpps is not None:
        # The DMP's feeding profile; the access issue narrows it to the care team.
        return Decision(True, "professional-feeding", via="feeding")
    return Decision(False, "no-rule")


def _is_author(actor: Actor, target: DocumentFacts) -> bool:
    return actor.id == target.submitted_by or (actor.rpps is not None and actor.rpps in target.authors)


def _decide_document(actor: Actor, action: Action, target: DocumentFacts) -> Decision:
    relation = _relation(actor, target.record)
    if relation is not None:
        hidden = target.invisible_to_patient or (relation == "representative" and target.invisible_to_representatives)
        if hidden:
            return Decision(False, "invisible-to-" + relation)
        if action in (Action.DOCUMENT_READ, Action.DOCUMENT_MASK):
            return Decision(True, relation, via=relation)
        # Other changes belong to the author: the patient makes them on documents they filed.
        if action in (Action.DOCUMENT_UPDATE, Action.DOCUMENT_DELETE) and target.submitted_by == actor.id:
            return Decision(True, f"{relation}-own-document", via=relation)
        return Decision(False, "patients-mask-only" if action is Action.DOCUMENT_UPDATE else "no-rule")
    # Authors always read (and manage) what they wrote; the access issue adds the others. The
    # insurer is never an author here: it feeds the record but cannot read it.
    if (
        actor.kind in (ActorKind.PROFESSIONAL, ActorKind.SOFTWARE)
        and _is_author(actor, target)
        and action in (Action.DOCUMENT_READ, Action.DOCUMENT_MASK, Action.DOCUMENT_UPDATE, Action.DOCUMENT_DELETE)
    ):
        return Decision(True, "author", via="author")
    return Decision(False, "no-rule")


def readable_by(actor: Actor, record: RecordFacts, now: datetime) -> ColumnElement[bool]:
    """The documents of `record` that `actor` may read, as a SQL condition on `document`:
    the same rules as `decide(actor, DOCUMENT_READ, …)`, so lists, pages and totals agree."""
    from opendmp.document.models import Document, DocumentAuthor

    rpps = actor.rpps
    if rpps is not None and rpps in record.blocked:
        return false()
    relation = _relation(actor, record)
    if relation == "holder":
        return ~Document.invisible_to_patient
    if relation == "representative":
        return ~Document.invisible_to_patient & ~Document.invisible_to_representatives
    if actor.kind in (ActorKind.PROFESSIONAL, ActorKind.SOFTWARE):
        authored = Document.submitted_by == actor.id
        if rpps is None:
            return authored
        named = exists().where(DocumentAuthor.document_id == Document.id, DocumentAuthor.rpps == rpps)
        return authored | named
    return false()
