"""Notification tables: who can be reached (a record's contact points, professionals' secure
messaging addresses), what the holder wants to hear about, and the outbox the worker drains.

Contact points, preferences and outbox rows carry the record id (the distribution column);
`professional_contact` is reference data keyed by RPPS, like the directory it extends."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base
from opendmp.kit.ids import new_id


class Category(StrEnum):
    """What a notification is about; the holder chooses channels per category."""

    NEW_DOCUMENT = "new-document"
    FIRST_ACCESS = "first-access"  # a professional reads the record for the first time
    EMERGENCY_ACCESS = "emergency-access"  # bris de glace or SAMU regulation: cannot be turned off
    CONSENT_CHANGE = "consent-change"
    VSM_REMINDER = "vsm-reminder"  # to the médecin traitant: the VSM is over a year old


class ChannelKind(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class RecipientKind(StrEnum):
    HOLDER = "holder"
    REPRESENTATIVE = "representative"  # a minor's legal representative, at their own contact points
    PROFESSIONAL = "professional"  # by RPPS, at a secure messaging (MSSanté) address


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker until next_attempt_at (the lease)
    SENT = "sent"
    FAILED = "failed"  # gave up: listed by `opendmp notify failed`


HOLDER = "holder"  # `ContactPoint.person` of the holder; a representative's is their row id


class ContactPoint(Base):
    """One address of one person of a record: the holder or a current legal representative.
    Only verified addresses receive notifications (the authentication issue verifies them; an
    operator who sets one after checking it with the person marks it verified)."""

    __tablename__ = "contact_point"
    __table_args__ = (UniqueConstraint("record_id", "person", "channel"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"))
    # "holder" or the id of a legal_representative row of this record.
    person: Mapped[str] = mapped_column(String(36))
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(320))
    verified_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class NotificationPreference(Base):
    """The holder's channels for one category; without a row the defaults apply (service.DEFAULTS)."""

    __tablename__ = "notification_preference"

    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"), primary_key=True)
    category: Mapped[str] = mapped_column(String(30), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean)
    sms: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime]


class ProfessionalContact(Base):
    """A professional's secure messaging address (MSSanté), e.g. for the médecin traitant to hear
    of an emergency access to a patient's record."""

    __tablename__ = "professional_contact"

    rpps: Mapped[str] = mapped_column(String(11), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime]


class OutboxMessage(Base):
    """One message to one address on one channel, rendered when the event happened and written in
    the event's transaction: a rolled-back event leaves nothing to send."""

    __tablename__ = "notification_outbox"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("record.id"), index=True)
    category: Mapped[str] = mapped_column(String(30))
    recipient_kind: Mapped[str] = mapped_column(String(20))
    recipient_ref: Mapped[str | None] = mapped_column(String(64))  # representative id or RPPS
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))
    # Claims made so far (a claim lost to a crash counts, so a message that kills workers gives up).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    # When a pending message is due, or when a claimed one's lease ends and it may be claimed again.
    next_attempt_at: Mapped[datetime]
    # The claim token of the worker holding the lease: only that claim may mark the row.
    claimed_by: Mapped[str | None] = mapped_column(String(36))
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))


Index("ix_notification_outbox_due", OutboxMessage.status, OutboxMessage.next_attempt_at)
