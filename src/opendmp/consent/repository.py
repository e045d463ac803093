"""Queries on consents: what the policy needs about one record, loaded in a few indexed reads."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, Executable, String, bindparam, cast, literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from opendmp.access.policy import Emergency, EmergencyMode, Grant, Switches
from opendmp.consent.models import Authorisation, ConsentPreferences, EmergencyAccess, ProfessionalBlock
from opendmp.identity.ins import Ins, InsSystem
from opendmp.kit.base import UTCDateTime


def active_authorisations(session: Session, record_id: uuid.UUID, rpps: str | None = None) -> list[Authorisation]:
    stmt = select(Authorisation).where(Authorisation.record_id == record_id, Authorisation.revoked_at.is_(None))
    if rpps is not None:
        stmt = stmt.where(Authorisation.rpps == rpps)
    return list(session.execute(stmt.order_by(Authorisation.granted_at)).scalars())


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


@dataclass(frozen=True, slots=True)
class AccessRows:
    """Who relates to a record, read in one round trip (every request loads it)."""

    representatives: frozenset[Ins]
    delegates: frozenset[Ins]
    grants: dict[str, Grant]
    blocked: frozenset[str]
    emergencies: dict[str, Emergency]


@functools.cache
def _access_rows_statement(representatives: bool) -> Executable:
    """Built once per process, run with the record id and the time as parameters: the five
    selects cost more to build than to run (every request loads them)."""
    from opendmp.auth.account_models import Delegation  # the login module owns the table
    from opendmp.record.models import LegalRepresentative

    record_id = bindparam("record_id", type_=Authorisation.record_id.type)
    now = bindparam("now", type_=UTCDateTime())
    no_text = cast(null(), String())
    no_time = cast(null(), UTCDateTime())
    no_flag = cast(null(), Boolean())
    parts = [
        select(
            literal("grant"), Authorisation.rpps, no_text, Authorisation.expires_at, Authorisation.masked_access
        ).where(
            Authorisation.record_id == record_id,
            Authorisation.revoked_at.is_(None),
            or_(Authorisation.expires_at.is_(None), Authorisation.expires_at > now),
        ),
        select(literal("block"), ProfessionalBlock.rpps, no_text, no_time, no_flag).where(
            ProfessionalBlock.record_id == record_id, ProfessionalBlock.unblocked_at.is_(None)
        ),
        select(
            literal("emergency"), EmergencyAccess.rpps, EmergencyAccess.mode, EmergencyAccess.expires_at, no_flag
        ).where(EmergencyAccess.record_id == record_id, EmergencyAccess.expires_at > now),
        select(
            literal("delegate"), Delegation.delegate_ins_system, Delegation.delegate_ins_value, no_time, no_flag
        ).where(Delegation.record_id == record_id, Delegation.revoked_at.is_(None)),
    ]
    if representatives:
        parts.append(
            select(
                literal("representative"),
                LegalRepresentative.ins_system,
                LegalRepresentative.ins_value,
                no_time,
                no_flag,
            ).where(LegalRepresentative.record_id == record_id, LegalRepresentative.ended_at.is_(None))
        )
    return union_all(*parts)


def access_rows(session: Session, record_id: uuid.UUID, now: datetime, *, representatives: bool = True) -> AccessRows:
    """The record's legal representatives, delegates, current grants, blocks and running
    emergency accesses, as one UNION ALL: five indexed reads, one round trip."""
    found = session.execute(_access_rows_statement(representatives), {"record_id": record_id, "now": now})
    reps: set[Ins] = set()
    delegates: set[Ins] = set()
    grants: dict[str, Grant] = {}
    blocked: set[str] = set()
    emergencies: dict[str, Emergency] = {}
    for kind, first, second, at, flag in found:
        if kind == "grant":
            _merge_grant(grants, first, at, bool(flag))
        elif kind == "block":
            blocked.add(first)
        elif kind == "emergency" and at is not None:
            known = emergencies.get(first)
            if known is None or at > known.expires_at:  # the latest one per professional
                emergencies[first] = Emergency(EmergencyMode(second), at)
        elif kind == "delegate":
            delegates.add(Ins(InsSystem(first), second))
        else:
            reps.add(Ins(InsSystem(first), second))
    return AccessRows(frozenset(reps), frozenset(delegates), grants, frozenset(blocked), emergencies)


def _merge_grant(grants: dict[str, Grant], rpps: str, expires_at: datetime | None, masked: bool) -> None:
    known = grants.get(rpps)
    if known is None:
        grants[rpps] = Grant(expires_at, masked)
        return
    longest = None if known.expires_at is None or expires_at is None else max(known.expires_at, expires_at)
    grants[rpps] = Grant(longest, known.masked or masked)
