"""Server-side sessions for any actor kind (patients now; professionals, counter agents and
operators when they log in through OpenID Connect). The browser holds only a random id (256
bits); the server keeps its SHA-256, the stage of the login, the Actor, and the timeouts.

- A new id is issued at every change of privilege (password checked, second factor checked,
  activation): the previous one is revoked, so an id planted before login is worth nothing.
- Idle timeout (no request for `idle`), absolute timeout (`absolute` after the login; `step` for
  the unfinished stages of a login), and revocation at logout, password change or account
  disabled: the row says so, whatever the cookie holds.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from opendmp.auth.account_models import AccountStatus, AuthSession, PatientAccount, SessionStage
from opendmp.auth.hashing import Random, session_digest
from opendmp.auth.staff_models import StaffAccount, StaffStatus
from opendmp.auth.tokens import Unauthenticated
from opendmp.config import Settings
from opendmp.identity.actor import Actor, ActorKind
from opendmp.identity.ins import Ins, InsSystem

SESSION_ID_BYTES = 32  # 256 bits (at least 128 are required)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often


class SessionInvalid(Unauthenticated):
    """No usable session: `reason` is one of unknown, expired, idle, revoked, stage, disabled."""

    def __init__(self, reason: str) -> None:
        super().__init__("no valid session: please log in")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta
    step: timedelta  # how long an unfinished stage (second factor, activation, recovery) lives

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        return cls(
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_absolute_hours),
            step=timedelta(minutes=settings.login_step_minutes),
        )


@dataclass(frozen=True, slots=True)
class CurrentSession:
    digest: str
    stage: SessionStage
    actor: Actor
    account_id: uuid.UUID | None
    staff_account_id: uuid.UUID | None = None
    subject: str | None = None  # the throttle subject of an unfinished login or recovery


def actor_to_json(actor: Actor) -> str:
    fields: dict[str, Any] = {
        "kind": actor.kind.value,
        "id": actor.id,
        "ins_system": actor.ins.system.value if actor.ins else None,
        "profession": actor.profession,
        "organisation": actor.organisation,
        "display_name": actor.display_name,
        "samu_regulator": actor.samu_regulator,
    }
    return json.dumps({k: v for k, v in fields.items() if v not in (None, False)}, sort_keys=True)


def actor_from_json(text: str) -> Actor:
    fields = json.loads(text)
    kind = ActorKind(fields["kind"])
    ins = Ins(InsSystem(fields["ins_system"]), fields["id"]) if fields.get("ins_system") else None
    return Actor(
        kind=kind,
        id=fields["id"],
        ins=ins,
        profession=fields.get("profession"),
        organisation=fields.get("organisation"),
        display_name=fields.get("display_name"),
        samu_regulator=bool(fields.get("samu_regulator")),
    )


def start(
    session: Session,
    actor: Actor,
    stage: SessionStage,
    at: datetime,
    policy: SessionPolicy,
    random: Random,
    *,
    account_id: uuid.UUID | None = None,
    staff_account_id: uuid.UUID | None = None,
    subject: str | None = None,
    replacing: str | None = None,
    activity_key: bytes | None = None,
) -> str:
    """A new session; returns its id, for the cookie only. `replacing` (the id the browser held)
    is revoked: each step of a login gets a fresh id (no session fixation). With `activity_key`,
    a completed login enters the week's set of active users (statistics, keyed hash only)."""
    if replacing:
        revoke(session, replacing, at, "rotated")
    token = random.token(SESSION_ID_BYTES)
    lifetime = policy.absolute if stage is SessionStage.AUTHENTICATED else policy.step
    session.add(
        AuthSession(
            digest=session_digest(token),
            stage=stage.value,
            actor_kind=actor.kind.value,
            actor=actor_to_json(actor),
            account_id=account_id,
            staff_account_id=staff_account_id,
            subject=subject,
            created_at=at,
            last_seen_at=at,
            expires_at=at + lifetime,
        )
    )
    if activity_key is not None and stage is SessionStage.AUTHENTICATED:
        from opendmp.stats import counters

        counters.note_active_user(session, activity_key, actor, at)
    session.flush()
    return token


def current(
    session: Session, token: str | None, at: datetime, policy: SessionPolicy, *, stage: SessionStage
) -> CurrentSession:
    """The session behind `token` if it is live and at `stage`, else SessionInvalid (nothing is
    written: the edge journals the refusal). Touches last_seen_at, at most once a minute."""
    if not token:
        raise SessionInvalid("none")
    row = session.get(AuthSession, session_digest(token))
    if row is None:
        raise SessionInvalid("unknown")
    if row.revoked_at is not None:
        raise SessionInvalid("revoked")
    if row.expires_at <= at:
        raise SessionInvalid("expired")
    if row.last_seen_at + policy.idle <= at:
        raise SessionInvalid("idle")
    if row.stage != stage.value:
        raise SessionInvalid("stage")
    if row.account_id is not None:
        account = session.get(PatientAccount, row.account_id)
        if account is None or account.status == AccountStatus.DISABLED.value:
            raise SessionInvalid("disabled")
    if row.staff_account_id is not None:
        staff = session.get(StaffAccount, row.staff_account_id)
        if staff is None or staff.status != StaffStatus.ACTIVE.value:
            raise SessionInvalid("disabled")
    if at - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = at
        session.flush()
    return CurrentSession(
        row.digest,
        SessionStage(row.stage),
        actor_from_json(row.actor),
        row.account_id,
        row.staff_account_id,
        row.subject,
    )


def revoke(session: Session, token: str, at: datetime, reason: str) -> bool:
    result = session.execute(
        update(AuthSession)
        .where(AuthSession.digest == session_digest(token), AuthSession.revoked_at.is_(None))
        .values(revoked_at=at, revoked_reason=reason)
    )
    return bool(getattr(result, "rowcount", 0))


def revoke_for_account(
    session: Session, account_id: uuid.UUID, at: datetime, reason: str, *, keep: str | None = None
) -> int:
    """End every live session of an account (password changed, account disabled), except `keep`
    (the id of the session that changed the password)."""
    statement = update(AuthSession).where(AuthSession.account_id == account_id, AuthSession.revoked_at.is_(None))
    if keep:
        statement = statement.where(AuthSession.digest != session_digest(keep))
    result = session.execute(statement.values(revoked_at=at, revoked_reason=reason))
    return int(getattr(result, "rowcount", 0))


def revoke_for_staff(session: Session, staff_account_id: uuid.UUID, at: datetime, reason: str) -> int:
    """End every live session of a counter agent's or operator's account (account disabled)."""
    result = session.execute(
        update(AuthSession)
        .where(AuthSession.staff_account_id == staff_account_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=at, revoked_reason=reason)
    )
    return int(getattr(result, "rowcount", 0))
