"""Queries on consents: what the policy needs about one record, loaded in a few indexed reads."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from opendmp.access.policy import Emergency, EmergencyMode, Grant, Switches
from opendmp.consent.models import Authorisation, ConsentPreferences, EmergencyAccess, ProfessionalBlock


def current_grants(session: Session, record_id: uuid.UUID, now: datetime) -> dict[str, Grant]:
    """Each professional's current authorisation (not revoked, window still open); when several
    overlap, the longest-lasting one counts, and masked access if any of them grants it."""
    rows = session.execute(
        select(Authorisation.rpps, Authorisation.expires_at, Authorisation.masked_access).where(
            Authorisation.record_id == record_id,
            Authorisation.revoked_at.is_(None),
            or_(Authorisation.expires_at.is_(None), Authorisation.expires_at > now),
        )
    ).all()
    grants: dict[str, Grant] = {}
    for rpps, expires_at, masked in rows:
        known = grants.get(rpps)
        if known is not None:
            longest = None if known.expires_at is None or expires_at is None else max(known.expires_at, expires_at)
            grants[rpps] = Grant(longest, known.masked or masked)
        else:
            grants[rpps] = Grant(expires_at, masked)
    return grants


def active_authorisations(session: Session, record_id: uuid.UUID, rpps: str | None = None) -> list[Authorisation]:
    stmt = select(Authorisation).where(Authorisation.record_id == record_id, Authorisation.revoked_at.is_(None))
    if rpps is not None:
        stmt = stmt.where(Authorisation.rpps == rpps)
    return list(session.execute(stmt.order_by(Authorisation.granted_at)).scalars())


def blocked(session: Session, record_id: uuid.UUID) -> frozenset[str]:
    return frozenset(
        session.execute(
            select(ProfessionalBlock.rpps).where(
                ProfessionalBlock.record_id == record_id, ProfessionalBlock.unblocked_at.is_(None)
            )
        ).scalars()
    )


def active_block(session: Session, record_id: uuid.UUID, rpps: str) -> ProfessionalBlock | None:
    return session.execute(
        select(ProfessionalBlock).where(
            ProfessionalBlock.record_id == record_id,
            ProfessionalBlock.rpps == rpps,
            ProfessionalBlock.unblocked_at.is_(None),
        )
    ).scalar_one_or_none()


def preferences(session: Session, record_id: uuid.UUID) -> ConsentPreferences | None:
    return session.get(ConsentPreferences, record_id)


def switches_of(prefs: ConsentPreferences | None) -> Switches:
    if prefs is None:
        return Switches()
    return Switches(prefs.samu_allowed, prefs.break_glass_allowed, prefs.masked_in_emergency)


def running_emergencies(session: Session, record_id: uuid.UUID, now: datetime) -> dict[str, Emergency]:
    rows = session.execute(
        select(EmergencyAccess.rpps, EmergencyAccess.mode, EmergencyAccess.expires_at)
        .where(EmergencyAccess.record_id == record_id, EmergencyAccess.expires_at > now)
        .order_by(EmergencyAccess.expires_at)
    ).all()
    return {rpps: Emergency(EmergencyMode(mode), expires_at) for rpps, mode, expires_at in rows}
