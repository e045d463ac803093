"""Tables of the OpenID Connect logins: staff accounts (counter agents and operators, mapped from
the provider's `sub`) and the logins started at a provider, waiting for its callback.

Professionals have no account here: the directory (identity.models.Professional) decides who
they are from the national identifier the provider vouches for. Reference tables, small."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base
from opendmp.kit.ids import new_id


class StaffRole(StrEnum):
    OPERATOR = "operator"
    COUNTER_AGENT = "counter-agent"


class StaffStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"  # every session ends, and the provider's sub no longer logs in


class StaffAccount(Base):
    """A counter agent or an operator: the name is their Actor id (what journals show); the
    (issuer, subject) pair is who the provider says logs in. The issuer is kept so that the same
    `sub` at another provider never matches."""

    __tablename__ = "staff_account"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    organisation: Mapped[str | None] = mapped_column(String(9))  # FINESS of a counter agent's office
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    disabled_at: Mapped[datetime | None]
    disabled_by: Mapped[str | None] = mapped_column(String(64))


class PendingLogin(Base):
    """A login sent to the provider: its `state` (stored as SHA-256), the nonce the ID token must
    carry, the PKCE verifier, and the browser it started in (HMAC of its pre-session cookie).
    Single use: the callback deletes it whatever the outcome; it lives login_step_minutes."""

    __tablename__ = "oidc_pending_login"

    state_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))  # "professional" or "staff"
    browser: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
