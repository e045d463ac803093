"""The holder's consents: authorise, revoke, block, unblock, designate the médecin traitant, the
emergency switches, default masking and access windows; emergency access and its review; the
habilitation matrix's versions. Each use case asks the policy, changes, journals and notifies in
the caller's transaction, so a consent is effective on the very next request, whatever token the
professional holds (tokens carry who someone is, never what they may do)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.access import repository as matrix_repo
from opendmp.access import service as access
from opendmp.access.policy import (
    Action,
    EmergencyMode,
    NewAuthorisation,
    NewEmergency,
    RecordFacts,
)
from opendmp.access.rules import HabilitationMatrix, parse_matrix
from opendmp.consent import repository as repo
from opendmp.consent.errors import EmergencyReasonRequired, NoSuchConsent, RecordNotWritable, UnknownProfessional
from opendmp.consent.models import (
    Authorisation,
    AuthorisationKind,
    ConsentPreferences,
    EmergencyAccess,
    InvisibleDocumentNotice,
    ProfessionalBlock,
    ProfessionalFirstAccess,
)
from opendmp.consent.windows import EMERGENCY_DURATION, check_window_days, window_days_for, window_end
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins
from opendmp.identity.models import Professional
from opendmp.identity.service import validate_rpps
from opendmp.journal import service as journal
from opendmp.kit.errors import DomainError, InvalidInput
from opendmp.record import repository as records_repo
from opendmp.record.models import Record, RecordStatus

DOCTOR = "10"
# Consents change only on a record that lives; a closed record keeps its consents as they were.
_LIVE = frozenset({RecordStatus.ACTIVE.value, RecordStatus.PENDING_OBJECTION.value})


def record_facts(session: Session, record_id: uuid.UUID, now: datetime) -> tuple[Record, RecordFacts]:
    return records_repo.visible_facts(session, record_id, now, message="no such patient", field="patient")


def _event(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    action: str,
    target: str | None,
    now: datetime,
    *,
    reason: str | None = None,
    outcome: journal.Outcome = journal.Outcome.SUCCESS,
    target_type: str = "professional",
) -> None:
    journal.append(
        session,
        actor,
        journal.Event(action, target_type, target, outcome=outcome, reason=reason),
        record_id=record_id,
        at=now,
    )


def _refuse(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    action: str,
    target: str | None,
    now: datetime,
    error: DomainError,
) -> DomainError:
    """Journal a refused request and return its error, carrying the entry to write again should
    the transaction be rolled back (kit.db.unit_of_work)."""
    event = journal.Event(action, "professional", target, outcome=journal.Outcome.FAILURE, reason=str(error)[:200])
    journal.append(session, actor, event, record_id=record_id, at=now)

    def trace(fresh: Session) -> None:
        journal.append(fresh, actor, event, record_id=record_id, at=now)

    error.replay.append(trace)
    return error


def _professional(
    session: Session, actor: Actor, record_id: uuid.UUID, action: str, rpps: str, now: datetime, field: str = "rpps"
) -> Professional:
    """The directory's professional for `rpps`; an unknown RPPS is refused, and journaled."""
    try:
        validate_rpps(rpps, field=field)
    except InvalidInput as error:
        raise _refuse(
            session, actor, record_id, action, rpps[:64], now, UnknownProfessional(error.message, field=field)
        ) from None
    found = session.execute(select(Professional).where(Professional.rpps == rpps)).scalar_one_or_none()
    if found is None:
        raise _refuse(
            session,
            actor,
            record_id,
            action,
            rpps,
            now,
            UnknownProfessional(f"no professional with RPPS {rpps} in the directory", field=field),
        )
    return found


def _live(session: Session, actor: Actor, record: Record, action: str, target: str | None, now: datetime) -> None:
    if record.status not in _LIVE:
        raise _refuse(
            session,
            actor,
            record.id,
            action,
            target,
            now,
            RecordNotWritable(f"the record is {record.status}: its consents cannot change"),
        )


def _tell(session: Session, record_id: uuid.UUID, change: str, now: datetime, professional: str | None = None) -> None:
    """Queue the holder's "consent changed" notification in this transaction (a change the holder
    did not make, or an account taken over, shows up in their mailbox)."""
    from opendmp.notify import service as notify
    from opendmp.notify.models import Category

    notify.notify_holder(
        session, record_id, Category.CONSENT_CHANGE, {"change": change, "professional": professional}, now
    )


def _name(professional: Professional) -> str:
    return f"{professional.given} {professional.family}".strip()


# --- authorisations --------------------------------------------------------------------------


def authorise(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    rpps: str,
    now: datetime,
    *,
    window_days: int | None = None,
    masked_access: bool = False,
    care_team: bool = False,
    patient_present: bool = False,
) -> Authorisation:
    """Grant `rpps` access. The holder or a representative grants it; a professional declares it
    with the patient present (care team: "informed and did not object"; otherwise express
    consent, which one professional may collect for another)."""
    record, facts = record_facts(session, record_id, now)
    professional = _professional(session, actor, record_id, "consent:authorise", rpps, now)
    decision = access.require(
        session, actor, Action.CONSENT_DECLARE, NewAuthorisation(facts, rpps, care_team, patient_present), now
    )
    _live(session, actor, record, "consent:authorise", rpps, now)
    by_holder = decision.via in ("holder", "representative")
    if masked_access and not by_holder:
        raise _refuse(
            session,
            actor,
            record_id,
            "consent:authorise",
            rpps,
            now,
            InvalidInput("only the holder grants access to masked documents", field="maskedAccess"),
        )
    if window_days is not None and not by_holder:
        raise _refuse(
            session,
            actor,
            record_id,
            "consent:authorise",
            rpps,
            now,
            InvalidInput("only the holder chooses an access window", field="window"),
        )
    if window_days is not None:
        check_window_days(window_days)
    prefs = repo.preferences(session, record_id)
    days = window_days_for(professional.profession, window_days, prefs.default_window_days if prefs else None)
    kind = AuthorisationKind.CARE_TEAM if care_team and not by_holder else AuthorisationKind.EXPLICIT
    # A new grant replaces the professional's earlier ones, so one row says what applies.
    for earlier in repo.active_authorisations(session, record_id, rpps):
        earlier.revoked_at, earlier.revoked_by = now, "superseded"
    grant = Authorisation(
        record_id=record_id,
        rpps=rpps,
        kind=kind.value,
        granted_at=now,
        granted_via=decision.via or "declaration",
        declared_by=actor.rpps if not by_holder else actor.id,
        expires_at=window_end(now, days),
        revoked_at=None,
        masked_access=masked_access,
    )
    session.add(grant)
    session.flush()
    _event(
        session,
        actor,
        record_id,
        "consent:authorise",
        rpps,
        now,
        reason=f"kind={kind.value};via={grant.granted_via};days={days}" + (";masked" if masked_access else ""),
    )
    _tell(session, record_id, "authorised", now, _name(professional))
    return grant


def revoke(session: Session, actor: Actor, record_id: uuid.UUID, rpps: str, now: datetime) -> list[Authorisation]:
    _, facts = record_facts(session, record_id, now)
    access.require(session, actor, Action.CONSENT_MANAGE, facts, now)
    current = repo.active_authorisations(session, record_id, rpps)
    if not current:
        raise _refuse(
            session,
            actor,
            record_id,
            "consent:revoke",
            rpps[:64],
            now,
            NoSuchConsent(f"no current authorisation for RPPS {rpps}", field="rpps"),
        )
    for grant in current:
        grant.revoked_at, grant.revoked_by = now, actor.id
    _event(session, actor, record_id, "consent:revoke", rpps, now)
    _tell(session, record_id, "revoked", now)
    return current


def revoke_by_id(session: Session, actor: Actor, authorisation_id: uuid.UUID, now: datetime) -> Authorisation:
    grant = session.get(Authorisation, authorisation_id)
    if grant is None:
        raise NoSuchConsent("no such consent")
    _, facts = record_facts(session, grant.record_id, now)
    access.require(session, actor, Action.CONSENT_MANAGE, facts, now)
    if grant.revoked_at is None:
        grant.revoked_at, grant.revoked_by = now, actor.id
        _event(session, actor, grant.record_id, "consent:revoke", grant.rpps, now)
        _tell(session, grant.record_id, "revoked", now)
    return grant


# --- blocks -----------------------------------------------------------------------------------


def block(session: Session, actor: Actor, record_id: uuid.UUID, rpps: str, now: datetime) -> ProfessionalBlock:
    """Block a professional by RPPS: no access at all, even with an authorisation or as an author."""
    _, facts = record_facts(session, record_id, now)
    access.require(session, actor, Action.CONSENT_MANAGE, facts, now)
    _professional(session, actor, record_id, "consent:block", rpps, now)
    existing = repo.active_block(session, record_id, rpps)
    if existing is not None:
        return existing
    entry = ProfessionalBlock(record_id=record_id, rpps=rpps, blocked_at=now, blocked_by=actor.id)
    session.add(entry)
    session.flush()
    _event(session, actor, record_id, "consent:block", rpps, now)
    _tell(session, record_id, "blocked", now)
    return entry


def unblock(session: Session, actor: Actor, record_id: uuid.UUID, rpps: str, now: datetime) -> ProfessionalBlock:
    _, facts = record_facts(session, record_id, now)
    access.require(session, actor, Action.CONSENT_MANAGE, facts, now)
    existing = repo.active_block(session, record_id, rpps)
    if existing is None:
        raise _refuse(
            session,
            actor,
            record_id,
            "consent:unblock",
            rpps[:64],
            now,
            NoSuchConsent(f"RPPS {rpps} is not blocked", field="rpps"),
        )
    existing.unblocked_at, existing.unblocked_by = now, actor.id
    _event(session, actor, record_id, "consent:unblock", rpps, now)
    _tell(session, record_id, "unblocked", now)
    return existing


# --- standing preferences ---------------------------------------------------------------------


def _preferences_for_update(session: Session, actor: Actor, record_id: uuid.UUID, now: datetime) -> ConsentPreferences:
    prefs = repo.preferences(session, record_id)
    if prefs is None:
        prefs = ConsentPreferences(
            record_id=record_id,
            samu_allowed=True,
            break_glass_allowed=True,
            masked_in_emergency=True,
            mask_new_documents=False,
            updated_at=now,
            updated_by=actor.id,
        )
        session.add(prefs)
    prefs.updated_at, prefs.updated_by = now, actor.id
    return prefs


def designate_medecin_traitant(
    session: Session, actor: Actor, record_id: uuid.UUID, rpps: str | None, now: datetime
) -> ConsentPreferences:
    """The médecin traitant sees everything the matrix allows doctors, masked documents included."""
    record, facts = record_facts(session, record_id, now)
    access.require(session, actor, Action.CONSENT_MANAGE, facts, now)
    _live(session, actor, record, "consent:medecin-traitant", rpps, now)
    if rpps is not None:
        professional = _professional(session, actor, record_id, "consent:medecin-traitant", rpps, now)
        if professional.profession != DOCTOR:
            raise _refuse(
                session,
                actor,
                record_id,
                "consent:medecin-traitant",
                rpps,
                now,
                InvalidInput("the médecin traitant is a doctor (profession 10)", field="rpps"),
            )
        if rpps in facts.blocked:
            raise _refuse(
                session,
                actor,
                record_id,
                "consent:medecin-traitant",
                rpps,
                now,
                InvalidInput("this professional is blocked: unblock first", field="rpps"),
            )
    prefs = _preferences_for_update(session, actor, record_id, now)
    prefs.medecin_traitant, prefs.medecin_traitant_since = rpps, now if rpps else None
    _event(session, actor, record_id, "consent:medecin-traitant", rpps, now, reason="designated" if rpps else "removed")
    _tell(session, record_id, "treating-doctor", now)
    return prefs


def set_preferences(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    now: datetime,
    *,
    samu: bool | None = None,
    break_glass: bool | None = None,
    masked_in_emergency: bool | None = None,
    mask_new_documents: bool | None = None,
    default_window_days: int | None = None,
) -> ConsentPreferences:
    """The emergency switches, default masking of new documents and the default access window."""
    record, facts = record_facts(session, record_id, now)
    access.require(session, actor, Action.CONSENT_MANAGE, facts, now)
    _live(session, actor, record, "consent:preferences", None, now)
    if default_window_days is not None:
        check_window_days(default_window_days, field="defaultWindowDays")
    prefs = _preferences_for_update(session, actor, record_id, now)
    changes = []
    for name, value in (
        ("samu_allowed", samu),
        ("break_glass_allowed", break_glass),
        ("masked_in_emergency", masked_in_emergency),
        ("mask_new_documents", mask_new_documents),
        ("default_window_days", default_window_days),
    ):
        if value is not None and getattr(prefs, name) != value:
            setattr(prefs, name, value)
            changes.append(f"{name}={value}")
    if changes:
        _event(
            session, actor, record_id, "consent:preferences", None, now, reason=";".join(changes), target_type="record"
        )
    return prefs


# --- emergency access -------------------------------------------------------------------------


def break_glass(
    session: Session,
    actor: Actor,
    record_id: uuid.UUID,
    now: datetime,
    *,
    reason: str,
    mode: EmergencyMode = EmergencyMode.BREAK_GLASS,
    duration: timedelta = EMERGENCY_DURATION,
) -> EmergencyAccess:
    """Emergency access for a patient unable to consent: a stated reason, limited in time, the
    holder and the médecin traitant told, and an operator's review afterwards."""
    record, facts = record_facts(session, record_id, now)
    reason = (reason or "").strip()
    if not reason:
        raise _refuse(
            session,
            actor,
            record_id,
            "emergency:access",
            actor.rpps,
            now,
            EmergencyReasonRequired("an emergency access needs its reason", field="reason"),
        )
    access.require(session, actor, Action.EMERGENCY_ACCESS, NewEmergency(facts, mode), now)
    if record.status != RecordStatus.ACTIVE.value:
        raise _refuse(
            session,
            actor,
            record_id,
            "emergency:access",
            actor.rpps,
            now,
            RecordNotWritable(f"the record is {record.status}"),
        )
    assert actor.rpps is not None  # the policy admits professionals only
    entry = EmergencyAccess(
        record_id=record_id,
        rpps=actor.rpps,
        profession=actor.profession,
        organisation=actor.organisation,
        mode=mode.value,
        reason=reason[:500],
        started_at=now,
        expires_at=now + duration,
    )
    session.add(entry)
    session.flush()
    _event(
        session,
        actor,
        record_id,
        "emergency:access",
        actor.rpps,
        now,
        reason=f"{mode.value}: {reason}"[:200],
    )
    from opendmp.notify import service as notify
    from opendmp.notify.models import Category

    who = actor.display_name or _directory_name(session, actor.rpps)
    params = {"professional": who, "mode": mode.value}
    notify.notify_holder(session, record_id, Category.EMERGENCY_ACCESS, params, now)
    if facts.medecin_traitant is not None:
        patient = records_repo.get_patient(session, record_id)
        name = f"{patient.given_names.split()[0].title()} {patient.birth_family}" if patient else None
        notify.notify_professional(
            session,
            facts.medecin_traitant,
            Category.EMERGENCY_ACCESS,
            {**params, "patient": name},
            now,
            record_id=record_id,
        )
    return entry


def _directory_name(session: Session, rpps: str) -> str:
    found = session.execute(select(Professional).where(Professional.rpps == rpps)).scalar_one_or_none()
    return _name(found) if found else f"RPPS {rpps}"


def pending_reviews(session: Session, actor: Actor, now: datetime) -> list[EmergencyAccess]:
    """The emergency accesses awaiting review. Their reasons touch several records' care, so the
    listing itself is journaled, once, on the system chain."""
    access.require(session, actor, Action.EMERGENCY_REVIEW, None, now)
    pending = list(
        session.execute(
            select(EmergencyAccess).where(EmergencyAccess.reviewed_at.is_(None)).order_by(EmergencyAccess.started_at)
        ).scalars()
    )
    journal.append(
        session,
        actor,
        journal.Event("emergency:review-list", "platform", None, reason=f"returned={len(pending)}"),
        record_id=None,
        at=now,
    )
    return pending


def review(
    session: Session, actor: Actor, emergency_id: uuid.UUID, now: datetime, *, justified: bool, note: str | None
) -> EmergencyAccess:
    access.require(session, actor, Action.EMERGENCY_REVIEW, None, now)
    entry = session.get(EmergencyAccess, emergency_id)
    if entry is None:
        raise NoSuchConsent("no such emergency access")
    if entry.reviewed_at is not None:
        raise InvalidInput("this emergency access was already reviewed", field="id")
    entry.reviewed_at, entry.reviewed_by = now, actor.id
    entry.review_outcome = "justified" if justified else "unjustified"
    entry.review_note = note
    _event(session, actor, entry.record_id, "emergency:review", entry.rpps, now, reason=entry.review_outcome)
    return entry


# --- the holder's view ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentsView:
    record_id: uuid.UUID
    authorisations: list[Authorisation]
    blocks: list[ProfessionalBlock]
    preferences: ConsentPreferences | None
    emergencies: list[EmergencyAccess]


def consents_of(session: Session, actor: Actor, record_id: uuid.UUID, now: datetime) -> ConsentsView:
    """Everything the holder decided and every emergency access taken, current and past."""
    _, facts = record_facts(session, record_id, now)
    # The holder's choices are theirs: to anyone else there is nothing to see (journaled).
    access.require(session, actor, Action.CONSENT_READ, facts, now, absent="no such patient", field="patient")
    grants = list(
        session.execute(
            select(Authorisation).where(Authorisation.record_id == record_id).order_by(Authorisation.granted_at)
        ).scalars()
    )
    blocks = list(
        session.execute(
            select(ProfessionalBlock)
            .where(ProfessionalBlock.record_id == record_id)
            .order_by(ProfessionalBlock.blocked_at)
        ).scalars()
    )
    emergencies = list(
        session.execute(
            select(EmergencyAccess).where(EmergencyAccess.record_id == record_id).order_by(EmergencyAccess.started_at)
        ).scalars()
    )
    _event(session, actor, record_id, "consent:read", None, now, target_type="record")
    return ConsentsView(record_id, grants, blocks, repo.preferences(session, record_id), emergencies)


# --- the habilitation matrix ------------------------------------------------------------------


def import_matrix(session: Session, actor: Actor, text: str, now: datetime, note: str | None = None) -> int:
    access.require(session, actor, Action.MATRIX_ADMIN, None, now)
    matrix = parse_matrix(text)
    version = matrix_repo.add_version(session, matrix, at=now, by=actor.id, note=note)
    journal.append(
        session, actor, journal.Event("matrix:import", "matrix", str(version), reason=note), record_id=None, at=now
    )
    return version


def export_matrix(session: Session, actor: Actor, now: datetime, version: int | None = None) -> HabilitationMatrix:
    access.require(session, actor, Action.MATRIX_ADMIN, None, now)
    return matrix_repo.matrix_version(session, version) if version is not None else matrix_repo.current_matrix(session)


# --- one consent, by id (the FHIR edge's read and status change) -------------------------------


@dataclass(frozen=True, slots=True)
class OneConsent:
    kind: str  # "authorisation", "block", "preferences"
    record_id: uuid.UUID
    holder: Ins
    authorisation: Authorisation | None = None
    block: ProfessionalBlock | None = None
    preferences: ConsentPreferences | None = None


def _locate(session: Session, consent_id: uuid.UUID) -> tuple[str, uuid.UUID, Any]:
    grant = session.get(Authorisation, consent_id)
    if grant is not None:
        return "authorisation", grant.record_id, grant
    blocked_row = session.get(ProfessionalBlock, consent_id)
    if blocked_row is not None:
        return "block", blocked_row.record_id, blocked_row
    if records_repo.get_record(session, consent_id) is not None:
        return "preferences", consent_id, repo.preferences(session, consent_id)
    raise NoSuchConsent("no such consent")


def get_consent(session: Session, actor: Actor, consent_id: uuid.UUID, now: datetime) -> OneConsent:
    """A consent the actor may read (the holder's and representatives'); to anyone else it does
    not exist, and the refusal is journaled."""
    kind, record_id, row = _locate(session, consent_id)
    _, facts = record_facts(session, record_id, now)
    access.require(session, actor, Action.CONSENT_READ, facts, now, absent="no such consent")
    _event(session, actor, record_id, "consent:read", str(consent_id), now, target_type="consent")
    return OneConsent(
        kind,
        record_id,
        facts.holder,
        authorisation=row if kind == "authorisation" else None,
        block=row if kind == "block" else None,
        preferences=row if kind == "preferences" else None,
    )


def deactivate(session: Session, actor: Actor, consent_id: uuid.UUID, now: datetime) -> OneConsent:
    """Status → inactive: revoke an authorisation, lift a block. Whoever may not read the consent
    is told it does not exist, like a read."""
    kind, record_id, row = _locate(session, consent_id)
    _, facts = record_facts(session, record_id, now)
    access.require(session, actor, Action.CONSENT_MANAGE, facts, now, absent="no such consent")
    if kind == "authorisation":
        revoke_by_id(session, actor, consent_id, now)
    elif kind == "block":
        if row.unblocked_at is None:
            unblock(session, actor, record_id, row.rpps, now)
        else:
            _, facts = record_facts(session, record_id, now)
            access.require(session, actor, Action.CONSENT_MANAGE, facts, now)
    else:
        raise InvalidInput("the preferences stay active: change them instead", field="Consent.status")
    return get_consent(session, actor, consent_id, now)


def display_names(session: Session, rpps: set[str]) -> dict[str, str]:
    if not rpps:
        return {}
    rows = session.execute(select(Professional).where(Professional.rpps.in_(sorted(rpps)))).scalars()
    return {p.rpps: _name(p) for p in rows}


# --- what the holder is told without asking --------------------------------------------------


def note_professional_access(session: Session, actor: Actor, record_id: uuid.UUID, now: datetime) -> None:
    """The first time a professional reads the record, the holder is told who (OpenDMP's addition
    to the DMP's notifications); later reads are only journaled."""
    rpps = actor.rpps
    if rpps is None or actor.kind.value not in ("professional", "software"):
        return
    if session.get(ProfessionalFirstAccess, (record_id, rpps)) is not None:
        return
    session.add(ProfessionalFirstAccess(record_id=record_id, rpps=rpps, first_at=now))
    from opendmp.notify import service as notify
    from opendmp.notify.models import Category

    who = actor.display_name or _directory_name(session, rpps)
    notify.notify_holder(session, record_id, Category.FIRST_ACCESS, {"professional": who}, now)


def announce_invisible_documents(session: Session, now: datetime) -> int:
    """Tell each holder, once, about INVISIBLE_PATIENT documents filed more than two weeks ago and
    not yet released (the announcement consultation should have happened by then); they become
    visible at one month by the policy itself. Returns how many holders were told."""
    from opendmp.access.policy import RELEASE_INVISIBLE_AFTER, TELL_INVISIBLE_AFTER
    from opendmp.document.models import Document
    from opendmp.notify import service as notify
    from opendmp.notify.models import Category

    due = session.execute(
        select(Document.id, Document.record_id)
        .outerjoin(InvisibleDocumentNotice, InvisibleDocumentNotice.document_id == Document.id)
        .where(
            Document.invisible_to_patient,
            Document.status == "current",
            Document.submitted_at <= now - TELL_INVISIBLE_AFTER,
            Document.submitted_at > now - RELEASE_INVISIBLE_AFTER,
            InvisibleDocumentNotice.document_id.is_(None),
        )
    ).all()
    by_record: dict[uuid.UUID, int] = {}
    for document_id, record_id in due:
        session.add(InvisibleDocumentNotice(document_id=document_id, record_id=record_id, noticed_at=now))
        by_record[record_id] = by_record.get(record_id, 0) + 1
    for record_id, count in by_record.items():
        # Not to the representatives: such a document may be a minor's confidential act.
        notify.notify_holder(
            session, record_id, Category.NEW_DOCUMENT, {"count": count}, now, include_representatives=False
        )
    return len(by_record)
