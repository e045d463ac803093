"""Counter agents' and operators' accounts: created, listed and disabled by an operator
(`opendmp operator add|list|disable`), each journaled on the system chain. An account maps the
identity provider's `sub` (at one issuer) to a name and a role; disabling it ends its sessions."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import Action
from opendmp.auth import sessions as login_sessions
from opendmp.auth.staff_models import StaffAccount, StaffRole, StaffStatus
from opendmp.identity.actor import Actor
from opendmp.identity.models import Organisation
from opendmp.identity.service import validate_finess
from opendmp.journal import service as journal
from opendmp.kit.errors import Conflict, InvalidInput, NotFound

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class StaffAccountNotFound(NotFound):
    pass


@dataclass(frozen=True, slots=True)
class StaffIn:
    name: str
    subject: str
    issuer: str
    role: StaffRole = StaffRole.OPERATOR
    finess: str | None = None  # a counter agent's office


@dataclass(frozen=True, slots=True)
class StaffView:
    id: uuid.UUID
    name: str
    role: str
    issuer: str
    subject: str
    organisation: str | None
    status: str
    created_at: datetime
    disabled_at: datetime | None


def _view(account: StaffAccount) -> StaffView:
    return StaffView(
        account.id,
        account.name,
        account.role,
        account.issuer,
        account.subject,
        account.organisation,
        account.status,
        account.created_at,
        account.disabled_at,
    )


def _journal(session: Session, actor: Actor, action: str, account: StaffAccount, now: datetime) -> None:
    event = journal.Event(action, "staff-account", str(account.id), reason=f"{account.role};{account.name}")
    journal.append(session, actor, event, record_id=None, at=now)


def add_staff(session: Session, actor: Actor, data: StaffIn, now: datetime) -> StaffView:
    access.require(session, actor, Action.DIRECTORY_ADMIN, None, now)
    name = data.name.strip().lower()
    if not NAME_RE.match(name):
        raise InvalidInput("a name has 2 to 64 characters: letters, digits, '.', '_' or '-'", field="name")
    subject = data.subject.strip()
    if not subject or len(subject) > 255:
        raise InvalidInput("the provider's subject (sub) is required, at most 255 characters", field="subject")
    if not data.issuer:
        raise InvalidInput("no identity provider is configured (OPENDMP_OIDC_ISSUER)", field="issuer")
    finess = None
    if data.role is StaffRole.COUNTER_AGENT:
        if not data.finess:
            raise InvalidInput("a counter agent belongs to an office: give its FINESS", field="finess")
        finess = validate_finess(data.finess)
        known = session.execute(select(Organisation.id).where(Organisation.finess == finess)).scalar_one_or_none()
        if known is None:
            raise InvalidInput(f"no organisation {finess} in the directory", field="finess")
    elif data.finess:
        raise InvalidInput("only counter agents belong to an office", field="finess")
    account = StaffAccount(
        name=name,
        role=data.role.value,
        issuer=data.issuer,
        subject=subject,
        organisation=finess,
        status=StaffStatus.ACTIVE.value,
        created_at=now,
        created_by=actor.id[:64],
    )
    try:
        with session.begin_nested():
            session.add(account)
            session.flush()
    except IntegrityError as error:
        raise Conflict("an account already has this name, or this subject at this provider", field="name") from error
    _journal(session, actor, "staff:add", account, now)
    return _view(account)


def list_staff(session: Session, actor: Actor, now: datetime) -> list[StaffView]:
    access.require(session, actor, Action.DIRECTORY_ADMIN, None, now)
    rows = session.execute(select(StaffAccount).order_by(StaffAccount.name)).scalars()
    return [_view(row) for row in rows]


def disable_staff(session: Session, actor: Actor, name: str, now: datetime) -> tuple[StaffView, int]:
    """Disable an account and revoke its live sessions; returns the account and how many ended."""
    access.require(session, actor, Action.DIRECTORY_ADMIN, None, now)
    account = session.execute(
        select(StaffAccount).where(StaffAccount.name == name.strip().lower()).with_for_update()
    ).scalar_one_or_none()
    if account is None:
        raise StaffAccountNotFound(f"no staff account named {name!r}", field="name")
    ended = 0
    if account.status != StaffStatus.DISABLED.value:
        account.status = StaffStatus.DISABLED.value
        account.disabled_at, account.disabled_by = now, actor.id[:64]
        ended = login_sessions.revoke_for_staff(session, account.id, now, "account-disabled")
        _journal(session, actor, "staff:disable", account, now)
    return _view(account), ended
