"""The one place that decides who may do what (ARCHITECTURE rule 3).

`decide` is pure: no I/O, time passed in. Services load the facts, ask, journal, then act.
Deny by default: an action no rule allows is refused with reason "no-rule".

The rules, in the order `decide` applies them (each has its named test in tests/unit/test_policy.py):
- software acts only within the scopes of its token (SCOPE_ACTIONS), whatever its user may do;
- a professional the holder blocked (by RPPS) does nothing on the record, even with an
  authorisation, even as an author: the block wins;
- the holder and legal representatives read their record and manage its consents, except
  INVISIBLE_PATIENT documents until released (one month at most: RELEASE_INVISIBLE_AFTER) and, for
  representatives, INVISIBLE_REPRESENTANTS_LEGAUX documents;
- a caregiver the holder delegated to reads the record as the holder does (representatives'
  hidden documents excepted), and does nothing else: no consents, no filing, no closing;
- a document's authors always read it;
- other professionals read with an access (an authorisation within its window, the médecin
  traitant's designation, or a running emergency access the holder's switches allow), and only
  the classes the habilitation matrix grants their profession; MASQUE_PS documents only for the
  médecin traitant, those the holder granted the same right, and emergency access when allowed;
- authorised professionals (and software acting for one) add documents; the insurer adds only
  the reimbursement history; patients add their own documents;
- advance directives (EXPPAT_3) are filed and replaced by the holder alone (CSP L1111-11);
- the patient's content (expression libre) is written by the holder and representatives, read by
  caregivers and by professionals as the matrix reads patients' documents (class 90); the
  emergency summary by any professional with an access, emergency included; vaccinations are
  declared by the patient or recorded by a vaccinating professional with a non-emergency access;
- the VSM (60591-5) is written by the médecin traitant, or a doctor the holder gave the same
  right (an authorisation with masked documents); the DLU (74207-2) by the professionals of an
  EHPAD with an access (docs/decisions/0027);
- establishment software alone files batches of bundles (FEED_BATCH), each bundle then decided
  document by document like any submission;
- the insurer feed and counter agents open records but never read content; operators administer
  but read no documents;
- the counter agent or professional (or software) who opened a record may print its holder's
  credentials letter again within LETTER_REPRINT_WINDOW, until the holder activates;
- the holder's identifier and activation code are issued (CREDENTIALS_ISSUE) by those who hand
  them over: counter agents and professionals (or software) facing the person, operators, and the
  system step that issues them at automatic and online openings and for the insurer's mailing.
- a remuneration statement is read by its payee (the pharmacist of that pharmacy, the nurse
  themselves) and by operators; operators alone edit the rule table.
The same rules are `readable_by` in SQL, for lists; a property test proves they agree.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, false, select

from opendmp.access.rules import HabilitationMatrix, care_team_rule, default_matrix
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
    DOCUMENT_UPDATE = "document:update"  # visibility, confidentiality, archiving
    DOCUMENT_REPLACE = "document:replace"  # a new version that replaces this one
    DOCUMENT_DELETE = "document:delete"
    IDENTITY_UPDATE = "identity:update"
    IDENTITY_MERGE = "identity:merge"
    DIRECTORY_ADMIN = "directory:admin"
    REMUNERATION_ASSIGN = "remuneration:assign"
    STATS_READ = "stats:read"  # the deployment's aggregate figures: operators only
    REMUNERATION_STATEMENT = "remuneration:statement"  # a payee's monthly statement: its own, or operators
    REMUNERATION_RULES = "remuneration:rules"  # edit the rule table (amounts, payees, dates of effect)
    JOURNAL_READ = "journal:read"  # the record's journal, as the holder sees it (AuditEvent)
    JOURNAL_FORENSICS = "journal:forensics"  # one actor's entries across records: operators only
    CONSENT_READ = "consent:read"
    CONSENT_MANAGE = "consent:manage"  # authorise, revoke, block, switches, médecin traitant
    CONSENT_DECLARE = "consent:declare"  # an authorisation declared by a professional or the holder
    EMERGENCY_ACCESS = "emergency:access"  # bris de glace, SAMU regulation
    EMERGENCY_REVIEW = "emergency:review"
    MATRIX_ADMIN = "matrix:admin"
    CREDENTIALS_LETTER = "credentials:letter"  # print (again) the holder's activation letter
    CREDENTIALS_ISSUE = "credentials:issue"  # a new activation code (identifier kept), not content
    # The patient's own content (expression libre, vaccinations): rules in _decide_content.
    CONTENT_READ = "content:read"
    CONTENT_WRITE = "content:write"
    EMERGENCY_SUMMARY = "content:emergency-summary"
    VACCINATION_RECORD = "vaccination:record"
    FEED_BATCH = "feed:batch"  # many ITI-65 bundles at once: establishments' software


# The OAuth2 scopes of software clients, one per DMP-compatible profile, and the actions each
# allows (docs/api/contract.md, "Tokens"). A scope only narrows: the rules below still apply to
# the professional the software acts for. Every profile may look a patient up and declare the
# patient's consent, since filing and reading both need the record and an authorisation.
SCOPE_CREATION = "dmp:creation"
SCOPE_FEEDING = "dmp:alimentation"
SCOPE_CONSULTATION = "dmp:consultation"
_ANY_PROFILE = frozenset({Action.RECORD_LOOKUP, Action.CONSENT_DECLARE})
SCOPE_ACTIONS: Mapping[str, frozenset[Action]] = {
    SCOPE_CREATION: _ANY_PROFILE
    | {Action.RECORD_OPEN, Action.DOCUMENT_CREATE, Action.CREDENTIALS_LETTER, Action.CREDENTIALS_ISSUE},
    SCOPE_FEEDING: _ANY_PROFILE
    | {
        Action.DOCUMENT_CREATE,
        Action.DOCUMENT_UPDATE,
        Action.DOCUMENT_REPLACE,
        Action.DOCUMENT_DELETE,
        Action.DOCUMENT_MASK,
        Action.VACCINATION_RECORD,
        Action.CONTENT_WRITE,
        Action.FEED_BATCH,
    },
    SCOPE_CONSULTATION: _ANY_PROFILE
    | {
        Action.RECORD_READ,
        Action.DOCUMENT_READ,
        Action.EMERGENCY_ACCESS,
        Action.CONTENT_READ,
        Action.EMERGENCY_SUMMARY,
    },
}


@functools.cache
def actions_in_scopes(scopes: frozenset[str]) -> frozenset[Action]:
    """What a token with these scopes may do at most (unknown scopes allow nothing)."""
    return frozenset[Action]().union(*(SCOPE_ACTIONS.get(scope, ()) for scope in scopes))


# An INVISIBLE_PATIENT document becomes visible to the patient at the latest this long after it was
# filed (the announcement consultation should come first; the patient is told after two weeks).
RELEASE_INVISIBLE_AFTER = timedelta(days=30)
TELL_INVISIBLE_AFTER = timedelta(days=14)


class EmergencyMode(StrEnum):
    BREAK_GLASS = "bris-de-glace"  # a professional facing a patient unable to consent
    SAMU = "samu"  # the SAMU / Centre 15 regulating doctor


@dataclass(frozen=True, slots=True)
class Grant:
    """A professional's current authorisation on a record."""

    expires_at: datetime | None  # the end of its access window; None: until revoked
    masked: bool = False  # the holder granted the médecin traitant's right to see masked documents

    def valid_at(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True, slots=True)
class Emergency:
    mode: EmergencyMode
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Switches:
    """The holder's emergency switches: all on unless the holder turned one off beforehand."""

    samu: bool = True
    break_glass: bool = True
    masked_in_emergency: bool = True

    def allows(self, mode: EmergencyMode) -> bool:
        return self.samu if mode is EmergencyMode.SAMU else self.break_glass


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """What the policy needs to know about a record, loaded by the record repository."""

    record_id: uuid.UUID
    status: str
    holder: Ins
    representatives: frozenset[Ins] = frozenset()
    delegates: frozenset[Ins] = frozenset()  # caregivers the holder delegated to (auth/delegations.py)
    grants: Mapping[str, Grant] = field(default_factory=dict)  # by RPPS; revoked ones left out
    blocked: frozenset[str] = frozenset()  # RPPS blocked by the holder
    medecin_traitant: str | None = None  # RPPS
    switches: Switches = Switches()
    emergencies: Mapping[str, Emergency] = field(default_factory=dict)  # by RPPS, latest per professional
    matrix: HabilitationMatrix = field(default_factory=default_matrix)
    mask_new_documents: bool = False


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
    """The target of a submission: the record and the document's type code (and, for the types
    only some organisations write, the kind of the submitter's organisation)."""

    record: RecordFacts
    type_code: str
    organisation_kind: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What the policy needs to know about one document (one version)."""

    document_id: uuid.UUID
    record: RecordFacts
    type_code: str
    authors: frozenset[str]  # RPPS of the professionals named as authors
    submitted_by: str  # the submitting actor's id (RPPS, INS value, client id)
    class_code: str = "10"
    submitted_at: datetime | None = None
    masked_from_professionals: bool = False  # MASQUE_PS
    invisible_to_patient: bool = False  # INVISIBLE_PATIENT
    invisible_to_representatives: bool = False  # INVISIBLE_REPRESENTANTS_LEGAUX


@dataclass(frozen=True, slots=True)
class NewAuthorisation:
    """An authorisation being created: the actor declares it, `rpps` receives it."""

    record: RecordFacts
    rpps: str
    care_team: bool  # "patient informed and did not object" rather than express consent
    patient_present: bool


@dataclass(frozen=True, slots=True)
class NewEmergency:
    record: RecordFacts
    mode: EmergencyMode


# How long after an opening its opener may print the credentials letter again (a lost or spoiled
# print, the patient still at the counter); later, a counter agent's recovery gives a new one.
LETTER_REPRINT_WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class CredentialsLetter:
    """A new activation code printed on a letter: who opened the record, when, and whether its
    holder has activated their account already (then the code would be a takeover)."""

    record: RecordFacts
    opened_by_kind: str
    opened_by: str
    opened_at: datetime
    activated: bool


@dataclass(frozen=True, slots=True)
class PatientContent:
    """An item of the patient's content (content/): its kind and, once recorded, who recorded it
    (RPPS for professionals, INS value for patients)."""

    record: RecordFacts
    kind: str  # content.schemas.ContentKind
    recorded_by: str | None = None


@dataclass(frozen=True, slots=True)
class Payee:
    """A beneficiary of the remuneration ledger: a pharmacy by FINESS, a nurse by RPPS."""

    kind: str  # stats.models.Beneficiary: "pharmacy" | "nurse"
    identifier: str


Target = (
    RecordFacts
    | Payee
    | NewRecord
    | NewDocument
    | DocumentFacts
    | NewAuthorisation
    | NewEmergency
    | CredentialsLetter
    | PatientContent
    | None
)
_ON_A_RECORD = (NewDocument, DocumentFacts, NewAuthorisation, NewEmergency, CredentialsLetter, PatientContent)

# Types a patient may file in their own record (expression libre and deposited documents).
PATIENT_TYPE_PREFIXES = ("EXPPAT_", "DOCPAT")
REIMBURSEMENT_TYPE = "REMB"
# Advance directives (CSP L1111-11): written by the person alone, "toute personne majeure"; a
# protected adult writes their own (with the judge's or family council's leave under tutelle),
# the guardian never writes them for them, nor do a minor's parents. So only the holder files or
# replaces them: not representatives, not caregivers, not professionals (docs/decisions/0023).
ADVANCE_DIRECTIVES_TYPE = "EXPPAT_3"
# Expression libre belongs to the patients' documents class, vaccinations to certificates (JDV_J57).
PATIENT_DOCUMENTS_CLASS = "90"
VACCINATION_CLASS = "52"
VACCINATION_KIND = "vaccination"
# Who may record a vaccination they gave (TRE_G15): physicians, pharmacists, midwives, nurses.
VACCINATORS = frozenset({"10", "21", "50", "60", "69"})
VSM_TYPE = "60591-5"  # volet de synthèse médicale: the médecin traitant's summary
DLU_TYPE = "74207-2"  # dossier de liaison d'urgence: the EHPAD's emergency liaison file
DLU_ORGANISATION_KIND = "ehpad"
DOCTOR = "10"  # TRE_G15 médecin

_PATIENT_ACTIONS = frozenset(
    {
        Action.RECORD_LOOKUP,
        Action.RECORD_READ,
        Action.RECORD_CLOSE,
        Action.RECORD_REOPEN,
        Action.RECORD_OBJECT,
        Action.RECORD_REQUEST_DELETION,
        Action.JOURNAL_READ,
        Action.CONSENT_READ,
        Action.CONSENT_MANAGE,
    }
)
# The holder's legal representatives exercise the holder's rights (CSP L1111-19), and the first
# may invite the second.
_REPRESENTATIVE_ACTIONS = _PATIENT_ACTIONS | {Action.RECORD_MANAGE_REPRESENTATIVES}
# A caregiver helps the holder read their record; consents and the record's fate stay the holder's.
_DELEGATE_ACTIONS = frozenset({Action.RECORD_LOOKUP, Action.RECORD_READ})
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
        Action.REMUNERATION_STATEMENT,
        Action.REMUNERATION_RULES,
        Action.STATS_READ,
        Action.EMERGENCY_REVIEW,
        Action.MATRIX_ADMIN,
        Action.JOURNAL_FORENSICS,
        Action.CREDENTIALS_ISSUE,
    }
)
# The system issues credentials for openers who hand none over (the insurer's batch, a person
# online) and for the insurer's mailing; never the opener itself (it would hold the code).
_SYSTEM_ACTIONS = frozenset(
    {Action.RECORD_ACTIVATE, Action.RECORD_PURGE, Action.RECORD_MANAGE_REPRESENTATIVES, Action.CREDENTIALS_ISSUE}
)
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
_PROFESSIONALS = frozenset({ActorKind.PROFESSIONAL, ActorKind.SOFTWARE})
# Who opens with the patient in front of them, and so hands over the credentials letter.
_LETTER_PRINTERS = frozenset({ActorKind.COUNTER_AGENT, ActorKind.PROFESSIONAL, ActorKind.SOFTWARE})
# Record statuses (record.models.RecordStatus) in which professionals may use an access.
_LIVE_STATUSES = frozenset({"active", "pending-objection"})
# Masking (MASQUE_PS) is the holder's: an author may file a document masked, never unmask it.
_AUTHOR_ACTIONS = frozenset(
    {Action.DOCUMENT_READ, Action.DOCUMENT_UPDATE, Action.DOCUMENT_REPLACE, Action.DOCUMENT_DELETE}
)
_READ_OR_MASK = frozenset({Action.DOCUMENT_READ, Action.DOCUMENT_MASK})
_UPDATE_OR_DELETE = frozenset({Action.DOCUMENT_UPDATE, Action.DOCUMENT_REPLACE, Action.DOCUMENT_DELETE})
_CONSENT_ACTIONS = frozenset({Action.CONSENT_MANAGE, Action.CONSENT_READ})

# Speed: `decide` runs for every document of every answer (goal: >= 500,000 decisions/s, measured
# by bench/access/policy_bench.py). On CPython 3.11 three things cost more than the rules:
# - reading an enum member off its class (`ActorKind.PATIENT`) goes through the enum's descriptor,
#   ~0.1 µs each time, so the hot paths compare with these aliases (the very same objects);
# - building a frozen dataclass costs ~0.6 µs (one object.__setattr__ per field), so answers come
#   from `_answer`, which builds each distinct Decision once and then shares it: a Decision is
#   immutable and its fields come from the finite set of reasons written below;
# - `Actor.rpps` is a property (~0.3 µs): `decide` reads it once and hands it down.
_PATIENT, _SYSTEM, _OPERATOR = ActorKind.PATIENT, ActorKind.SYSTEM, ActorKind.OPERATOR
_SOFTWARE = ActorKind.SOFTWARE
_INSURER_FEED = ActorKind.INSURER_FEED
_RECORD_OPEN, _RECORD_LOOKUP, _RECORD_READ = Action.RECORD_OPEN, Action.RECORD_LOOKUP, Action.RECORD_READ
_DOCUMENT_READ, _DOCUMENT_UPDATE = Action.DOCUMENT_READ, Action.DOCUMENT_UPDATE
_answer = functools.cache(Decision)


def decide(actor: Actor, action: Action, target: Target, now: datetime) -> Decision:
    """May `actor` do `action` on `target` at `now`? Pure; the first matching rule answers."""
    # Software tokens carry scopes (one per DMP-compatible profile: creation, feeding,
    # consultation); an action outside them is refused before any other rule, so a
    # consultation-only token never files and a feeding-only one never reads.
    scopes = actor.scopes
    if scopes is not None and action not in actions_in_scopes(scopes):
        return _answer(False, "outside-token-scopes")
    rpps = actor.rpps
    record = target.record if isinstance(target, _ON_A_RECORD) else target
    if isinstance(record, RecordFacts) and rpps is not None and rpps in record.blocked:
        return _answer(False, "blocked")  # the block wins over everything else
    if isinstance(target, DocumentFacts):
        return _decide_document(actor, rpps, action, target, now)
    if isinstance(target, NewDocument):
        return _decide_submission(actor, rpps, target, now)
    if isinstance(target, NewAuthorisation):
        return _decide_declaration(actor, target)
    if isinstance(target, NewEmergency):
        return _decide_emergency(actor, target)
    if isinstance(target, CredentialsLetter):
        return _decide_letter(actor, target, now)
    if isinstance(target, Payee):
        return _decide_payee(actor, action, target)
    if isinstance(target, PatientContent):
        return _decide_content(actor, rpps, action, target, now)

    kind = actor.kind
    if action is _RECORD_OPEN:
        if kind not in _OPENERS:
            return _answer(False, "not-an-opener")
        if kind is _PATIENT:
            # A person opens their own record online; a minor's is opened at a counter.
            if isinstance(target, NewRecord) and actor.ins == target.ins:
                return _answer(True, "own-record", "holder")
            return _answer(False, "not-own-record")
        return _answer(True, "opener", kind.value)

    if action is Action.FEED_BATCH:
        if kind is _SOFTWARE:
            return _answer(True, "establishment-software", "feeding")
        return _answer(False, "batches-come-from-establishment-software")

    if kind is _SYSTEM:
        if action in _SYSTEM_ACTIONS:
            return _answer(True, "scheduled-job", "system")
        return _answer(False, "no-rule")

    if kind is _OPERATOR:
        if action in _OPERATOR_ACTIONS:
            return _answer(True, "operator-administration", "operator")
        return _answer(False, "operators-read-no-content")

    if not isinstance(target, RecordFacts):
        return _answer(False, "no-rule")

    if kind is _PATIENT and actor.ins is not None:
        if actor.ins == target.holder and action in _PATIENT_ACTIONS:
            return _answer(True, "holder", "holder")
        if actor.ins in target.representatives and action in _REPRESENTATIVE_ACTIONS:
            return _answer(True, "legal-representative", "representative")
        if actor.ins in target.delegates and action in _DELEGATE_ACTIONS:
            return _answer(True, "delegate", "delegate")
        return _answer(False, "not-holder")

    if kind in _LETTER_PRINTERS and action is Action.CREDENTIALS_ISSUE:
        return _answer(True, "hands-over-credentials", kind.value)
    if kind in _LOOKERS and action is _RECORD_LOOKUP:
        access = _access(kind, rpps, target, now)
        return _answer(True, "lookup", access[0] if access else "lookup")
    if kind in _PROFESSIONALS and action is _RECORD_READ:
        access = _access(kind, rpps, target, now)
        return _answer(True, access[0], access[0]) if access else _answer(False, "no-authorisation")
    if kind in _PROFESSIONALS and action in _CONSENT_ACTIONS:
        return _answer(False, "consents-belong-to-the-holder")

    return _answer(False, "no-rule")


def _decide_payee(actor: Actor, action: Action, target: Payee) -> Decision:
    """A remuneration statement: operators see every payee's; a pharmacist sees the statement of
    the pharmacy they work in (by FINESS), a nurse their own (by RPPS); nobody else."""
    if action is not Action.REMUNERATION_STATEMENT:
        return _answer(False, "no-rule")
    if actor.kind is _OPERATOR:
        return _answer(True, "operator-administration", "operator")
    if actor.kind is ActorKind.PROFESSIONAL:
        if target.kind == "pharmacy" and actor.profession == "21" and actor.organisation == target.identifier:
            return _answer(True, "own-pharmacy", "payee")
        if target.kind == "nurse" and actor.rpps == target.identifier:
            return _answer(True, "own-remuneration", "payee")
    return _answer(False, "not-the-payee")


_PURPOSES = {
    "holder": "patient-access",
    "representative": "patient-access",
    "delegate": "delegate-access",
    "emergency": "emergency",
    "authorisation": "care",
    "medecin-traitant": "care",
    "author": "care",
    "feeding": "care",
}


def purpose_of(decision: Decision) -> str | None:
    """Why an allowed access happened, for the journal: care, emergency or the patient's own."""
    return _PURPOSES.get(decision.via or "")


def professional_access(actor: Actor, record: RecordFacts, now: datetime) -> tuple[str, bool] | None:
    """A professional's current access to the record, if any: (how, may see masked documents).
    The block is checked before; the matrix applies on top, document by document."""
    return _access(actor.kind, actor.rpps, record, now)


def _access(kind: ActorKind, rpps: str | None, record: RecordFacts, now: datetime) -> tuple[str, bool] | None:
    if rpps is None or kind not in _PROFESSIONALS:
        return None
    if record.status not in _LIVE_STATUSES:
        return None  # a closed, suspended or refused record is open to no professional's access
    if rpps == record.medecin_traitant:
        return "medecin-traitant", True
    emergency = record.emergencies.get(rpps)
    in_emergency = emergency is not None and now < emergency.expires_at and record.switches.allows(emergency.mode)
    masked_in_emergency = in_emergency and record.switches.masked_in_emergency
    grant = record.grants.get(rpps)
    if grant is not None and grant.valid_at(now):
        return "authorisation", grant.masked or masked_in_emergency
    if in_emergency:
        return "emergency", masked_in_emergency
    return None


def _relation(actor: Actor, record: RecordFacts) -> str | None:
    """How a person relates to a record: "holder", "representative", "delegate" or None."""
    if actor.kind is not _PATIENT or actor.ins is None:
        return None
    if actor.ins == record.holder:
        return "holder"
    if actor.ins in record.representatives:
        return "representative"
    if actor.ins in record.delegates:
        return "delegate"
    return None


def _decide_submission(actor: Actor, rpps: str | None, target: NewDocument, now: datetime) -> Decision:
    is_reimbursement = target.type_code == REIMBURSEMENT_TYPE
    kind = actor.kind
    if target.type_code == ADVANCE_DIRECTIVES_TYPE and _relation(actor, target.record) != "holder":
        return _answer(False, "advance-directives-belong-to-the-holder")
    if kind is _INSURER_FEED:
        # The insurer feeds the reimbursement history, nothing else.
        return _answer(
            is_reimbursement,
            "insurer-feed" if is_reimbursement else "insurer-feeds-reimbursements-only",
            "insurer-feed" if is_reimbursement else None,
        )
    if is_reimbursement:
        return _answer(False, "reimbursements-only-from-the-insurer")
    relation = _relation(actor, target.record)
    if relation == "delegate":
        return _answer(False, "delegates-read-only")
    if relation is not None:
        if target.type_code.startswith(PATIENT_TYPE_PREFIXES):
            return _answer(True, f"{relation}-document", relation)
        return _answer(False, "patients-file-their-own-documents-only")
    access = _access(kind, rpps, target.record, now)
    if access is not None and access[0] != "emergency":
        if target.type_code == VSM_TYPE and not _writes_vsm(actor, rpps, target.record, now):
            return _answer(False, "vsm-by-the-medecin-traitant")
        if target.type_code == DLU_TYPE and target.organisation_kind != DLU_ORGANISATION_KIND:
            return _answer(False, "dlu-by-the-ehpad")
        # Software feeds for the professional it acts for, so the same access is required.
        return _answer(True, "authorised-professional", access[0])
    if kind in _PROFESSIONALS:
        return _answer(False, "emergency-access-reads-only" if access else "no-authorisation")
    return _answer(False, "no-rule")


def _writes_vsm(actor: Actor, rpps: str | None, record: RecordFacts, now: datetime) -> bool:
    """The médecin traitant writes the VSM; so does a doctor to whom the holder gave the médecin
    traitant's right (an authorisation that includes masked documents)."""
    if rpps is None:
        return False
    if rpps == record.medecin_traitant:
        return True
    grant = record.grants.get(rpps)
    return actor.profession == DOCTOR and grant is not None and grant.masked and grant.valid_at(now)


def _is_author(actor: Actor, rpps: str | None, target: DocumentFacts) -> bool:
    if actor.kind is _SOFTWARE:
        # A client files for every professional of its organisation: the client id makes no one
        # an author, only the professional it acts for named among the authors does.
        return rpps is not None and rpps in target.authors
    return actor.id == target.submitted_by or (rpps is not None and rpps in target.authors)


def _hidden_from_patient(target: DocumentFacts, now: datetime) -> bool:
    if not target.invisible_to_patient:
        return False
    return target.submitted_at is None or now < target.submitted_at + RELEASE_INVISIBLE_AFTER


def _decide_document(actor: Actor, rpps: str | None, action: Action, target: DocumentFacts, now: datetime) -> Decision:
    record = target.record
    relation = _relation(actor, record)
    if relation is not None:
        if _hidden_from_patient(target, now):
            return _answer(False, "invisible-to-patient-until-released")
        if relation != "holder" and target.invisible_to_representatives:
            return _answer(False, "invisible-to-representatives")
        if relation == "delegate":
            if action is _DOCUMENT_READ:
                return _answer(True, relation, relation)
            return _answer(False, "delegates-read-only")
        if action in _READ_OR_MASK:
            return _answer(True, relation, relation)
        # Other changes belong to the author: the patient makes them on documents they filed.
        if action in _UPDATE_OR_DELETE and target.submitted_by == actor.id:
            return _answer(True, f"{relation}-own-document", relation)
        return _answer(False, "patients-mask-only" if action is _DOCUMENT_UPDATE else "no-rule")
    kind = actor.kind
    if kind not in _PROFESSIONALS:
        # The insurer feeds the record, counter agents open it, operators run it: none reads it.
        return _answer(False, "no-access-to-content")
    # Authors always read (and manage) what they wrote.
    if _is_author(actor, rpps, target) and action in _AUTHOR_ACTIONS:
        return _answer(True, "author", "author")
    if (
        action is Action.DOCUMENT_REPLACE
        and target.type_code == VSM_TYPE
        and record.status in _LIVE_STATUSES
        and _writes_vsm(actor, rpps, record, now)
    ):
        # A new médecin traitant brings the summary up to date: a new version of the VSM, on a
        # live record. Only a replacement: the other doctor's VSM's flags stay its author's.
        return _answer(True, "vsm-by-the-medecin-traitant", "medecin-traitant")
    if action is not _DOCUMENT_READ:
        return _answer(False, "authors-only")
    access = _access(kind, rpps, record, now)
    if access is None:
        return _answer(False, "no-authorisation")
    via, sees_masked = access
    if not record.matrix.allows(actor.profession, target.class_code):
        return _answer(False, "habilitation-matrix")
    if target.masked_from_professionals and not sees_masked:
        return _answer(False, "masked-by-the-holder")
    return _answer(True, via, via)


def _decide_declaration(actor: Actor, target: NewAuthorisation) -> Decision:
    if target.rpps in target.record.blocked:
        return Decision(False, "professional-blocked-by-the-holder")
    relation = _relation(actor, target.record)
    if relation in ("holder", "representative"):
        return Decision(True, f"granted-by-{relation}", via=relation)
    if relation is not None:
        return Decision(False, "delegates-give-no-consent")  # a caregiver reads, never grants
    if actor.kind not in _PROFESSIONALS or actor.rpps is None:
        return Decision(False, "no-rule")
    if not target.patient_present:
        return Decision(False, "patient-not-present")
    if target.care_team and target.rpps != actor.rpps:
        return Decision(False, "express-consent-required-for-another-professional")
    if target.care_team and not care_team_rule(actor.profession).declares_care_team:
        return Decision(False, "express-consent-required-for-this-profession")
    return Decision(True, "declared-with-patient-present", via="declaration")


def _decide_emergency(actor: Actor, target: NewEmergency) -> Decision:
    if actor.kind not in _PROFESSIONALS or actor.rpps is None:
        return Decision(False, "emergency-access-is-for-professionals")
    if not care_team_rule(actor.profession).emergency_access:
        return Decision(False, "profession-not-eligible-for-emergency-access")
    if target.mode is EmergencyMode.SAMU and not actor.samu_regulator:
        return Decision(False, "not-a-samu-regulator")
    if not target.record.switches.allows(target.mode):
        return Decision(False, "turned-off-by-the-holder")
    return Decision(True, target.mode.value, via="emergency")


_CONTENT_READS = frozenset({Action.CONTENT_READ, Action.EMERGENCY_SUMMARY})


def _decide_content(actor: Actor, rpps: str | None, action: Action, target: PatientContent, now: datetime) -> Decision:
    """Expression libre is the patient's: the holder and representatives write it, caregivers read
    it; professionals read it per the matrix (class 90), the emergency summary with any access,
    emergency included. Vaccinations: declared by the patient, or recorded by a vaccinating
    professional with a (non-emergency) access; each changes only what they recorded."""
    record = target.record
    vaccination = target.kind == VACCINATION_KIND
    relation = _relation(actor, record)
    if relation is not None:
        if action in _CONTENT_READS:
            return _answer(True, relation, relation)
        if relation == "delegate":
            return _answer(False, "delegates-read-only")
        if action is Action.VACCINATION_RECORD:
            return _answer(True, f"{relation}-declaration", relation)
        if action is Action.CONTENT_WRITE:
            if vaccination and target.recorded_by not in (None, actor.id):
                return _answer(False, "recorded-by-someone-else")
            return _answer(True, f"{relation}-content", relation)
        return _answer(False, "no-rule")
    kind = actor.kind
    if kind not in _PROFESSIONALS:
        return _answer(False, "no-access-to-content")
    access = _access(kind, rpps, record, now)
    if action is Action.VACCINATION_RECORD or (action is Action.CONTENT_WRITE and vaccination):
        if access is None:
            return _answer(False, "no-authorisation")
        if access[0] == "emergency":
            return _answer(False, "emergency-access-reads-only")
        if actor.profession not in VACCINATORS:
            return _answer(False, "profession-does-not-vaccinate")
        if action is Action.CONTENT_WRITE and target.recorded_by != rpps:
            return _answer(False, "recorded-by-someone-else")
        return _answer(True, "vaccinating-professional", access[0])
    if action is Action.CONTENT_WRITE:
        return _answer(False, "expression-libre-belongs-to-the-patient")
    if access is None:
        return _answer(False, "no-authorisation")
    via = access[0]
    if action is Action.EMERGENCY_SUMMARY:
        if via == "emergency" or record.matrix.allows(actor.profession, PATIENT_DOCUMENTS_CLASS):
            return _answer(True, via, via)
        return _answer(False, "habilitation-matrix")
    if action is Action.CONTENT_READ:
        if record.matrix.allows(actor.profession, VACCINATION_CLASS if vaccination else PATIENT_DOCUMENTS_CLASS):
            return _answer(True, via, via)
        return _answer(False, "habilitation-matrix")
    return _answer(False, "no-rule")


def _decide_letter(actor: Actor, target: CredentialsLetter, now: datetime) -> Decision:
    if actor.kind not in _LETTER_PRINTERS:
        return _answer(False, "letters-are-printed-by-the-opener")
    if actor.kind.value != target.opened_by_kind or actor.id != target.opened_by:
        return _answer(False, "not-the-opener")
    if now >= target.opened_at + LETTER_REPRINT_WINDOW:
        return _answer(False, "reprint-window-over")
    if target.record.status not in _LIVE_STATUSES:
        return _answer(False, "record-not-live")
    if target.activated:
        return _answer(False, "account-already-activated")
    return _answer(True, "opener-prints-the-letter", "opener")


def readable_by(actor: Actor, record: RecordFacts, now: datetime) -> ColumnElement[bool]:
    """The documents of `record` that `actor` may read, as a SQL condition on `document`:
    the same rules as `decide(actor, DOCUMENT_READ, …)`, so lists, pages and totals agree
    (tests/integration/test_policy_agreement.py proves it on both databases)."""
    from opendmp.document.models import Document, DocumentAuthor

    if actor.scopes is not None and Action.DOCUMENT_READ not in actions_in_scopes(actor.scopes):
        return false()  # a software token without the consultation scope lists nothing
    rpps = actor.rpps
    if rpps is not None and rpps in record.blocked:
        return false()
    relation = _relation(actor, record)
    if relation is not None:
        visible = ~Document.invisible_to_patient | (Document.submitted_at <= now - RELEASE_INVISIBLE_AFTER)
        if relation != "holder":
            visible = visible & ~Document.invisible_to_representatives
        return visible
    if actor.kind not in _PROFESSIONALS:
        return false()
    # The same authorship as _is_author: a software client's own id makes no one an author.
    authored: ColumnElement[bool] = false() if actor.kind is _SOFTWARE else Document.submitted_by == actor.id
    if rpps is not None:
        # An uncorrelated IN over the record's author rows (author rows carry their document's
        # record, merges included): one index probe per list instead of one EXISTS per row
        # (bench/RESULTS.md, "Access policy": 400 buffers down to 3 for a count of 100).
        own = select(DocumentAuthor.document_id).where(
            DocumentAuthor.record_id == record.record_id, DocumentAuthor.rpps == rpps
        )
        authored = authored | Document.id.in_(own)
    access = professional_access(actor, record, now)
    if access is None:
        return authored
    classes = record.matrix.classes_for(actor.profession)
    if not classes:
        return authored
    permitted: ColumnElement[bool] = Document.class_code.in_(classes)
    if not access[1]:
        permitted = permitted & ~Document.masked_from_professionals
    return authored | permitted
