"""Tables of people's logins: patient accounts, their one-time codes, server-side sessions (any
actor kind), the login throttle, and the caregivers' delegations.

Secrets are never stored as given: passwords as Argon2id hashes, codes and session ids as keyed
or plain SHA-256 digests (auth/secrets.py), TOTP seeds sealed with a key derived from the master key.
Account, code and delegation rows carry the record id (the distribution column)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base
from opendmp.kit.ids import new_id


class AccountStatus(StrEnum):
    PENDING = "pending"  # credentials issued, not activated yet
    ACTIVE = "active"
    DISABLED = "disabled"  # by a counter agent or an operator: every session ends


class Delivery(StrEnum):
    """How an activation code reached its holder."""

    IN_PERSON = "in-person"  # the opener's or counter agent's letter, handed over
    EMAIL = "email"
    SMS = "sms"
    POST = "post"  # the insurer's mailing (opendmp credentials letters)


class SecondFactor(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    TOTP = "totp"


class CodePurpose(StrEnum):
    LOGIN = "login"
    CONTACT = "contact"  # proves the phone or email given at activation (or changed later)
    RECOVERY = "recovery"  # a lost password


class SessionStage(StrEnum):
    ACTIVATING = "activating"  # activation code and identity checked; password and contact next
    SECOND_FACTOR = "second-factor"  # password checked; a one-time code next
    RECOVERING = "recovering"  # a recovery code sent; the code and a new password next
    AUTHENTICATED = "authenticated"


class PatientAccount(Base):
    """The holder's login to their record. The identifier is random (never derived from the NIR)
    and human-typable; the person behind it is the record's holder, read from the record at
    each login (an identity update follows)."""

    __tablename__ = "patient_account"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"), unique=True)
    login_id: Mapped[str] = mapped_column(String(16), unique=True)
    status: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed_at: Mapped[datetime | None]
    # The provisional activation code (keyed digest, so it can be looked up), single use.
    activation_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    activation_expires_at: Mapped[datetime | None]
    # How the current activation code reached the holder ("in-person", "email", "sms", "post") and
    # when; None: issued by the system with no contact, waiting for the insurer's mailing.
    delivery: Mapped[str | None] = mapped_column(String(10))
    delivered_at: Mapped[datetime | None]
    # The Vitale card serial printed on the card, when the counter noted it (activation proof).
    card_serial: Mapped[str | None] = mapped_column(String(20))
    second_factor: Mapped[str] = mapped_column(String(10), default=SecondFactor.SMS.value)
    totp_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_last_counter: Mapped[int | None] = mapped_column(Integer)  # a TOTP code works once too
    activated_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OneTimeCode(Base):
    """A 6-digit code sent by SMS or email: ten minutes at most, single use, and a new code of the
    same purpose replaces the previous one (its row is deleted)."""

    __tablename__ = "one_time_code"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient_account.id"))
    purpose: Mapped[str] = mapped_column(String(10))
    digest: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(10))
    # The address being verified (contact codes): it becomes a contact point once the code matches.
    address: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


Index("ix_one_time_code_account_purpose", OneTimeCode.account_id, OneTimeCode.purpose)


class AuthSession(Base):
    """A server-side session of any actor kind (patients here, professionals, counter agents and
    operators once they log in through OpenID Connect). Only the SHA-256 of the session id is
    stored: a copy of this table lets no one in."""

    __tablename__ = "auth_session"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    stage: Mapped[str] = mapped_column(String(15))
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(Text)  # the Actor as JSON (auth/sessions.py)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patient_account.id"), index=True)
    # A counter agent's or operator's account (OpenID Connect logins): disabling it ends the session.
    staff_account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_account.id"), index=True)
    # The throttle subject the rest of this login (or recovery) counts its failures on: the
    # identifier as typed, or the known device's own counter (auth/throttle.py).
    subject: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # the absolute timeout
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(30))


class LoginThrottle(Base):
    """Consecutive failures per login subject (a keyed digest of the identifier as typed, so known
    and unknown identifiers are counted alike). In the database, so every process sees them."""

    __tablename__ = "login_throttle"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None]
    backoff_until: Mapped[datetime | None]


class Delegation(Base):
    """The holder lets a caregiver act on their record (read it), until the holder revokes it.
    The caregiver is named by INS and logs in with their own account."""

    __tablename__ = "delegation"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"), index=True)
    delegate_ins_system: Mapped[str] = mapped_column(String(40))
    delegate_ins_value: Mapped[str] = mapped_column(String(15))
    delegate_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))


Index("ix_delegation_delegate", Delegation.delegate_ins_system, Delegation.delegate_ins_value)
