"""Record tables. Every one carries the record id, the future distribution column."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base
from opendmp.kit.ids import new_id


class RecordStatus(StrEnum):
    # Opened under the opt-out policy and still inside the six-week objection window.
    PENDING_OBJECTION = "pending-objection"
    ACTIVE = "active"
    SUSPENDED = "suspended"  # by the insurer, for fraud
    CLOSED = "closed"  # archived 10 years, then purged; reopening restores it
    OBJECTED = "objected"  # the person refused the record during the objection window
    DELETION_REQUESTED = "deletion-requested"  # honoured within 3 months by the purge job
    MERGED = "merged"  # a duplicate folded into another record of the same person
    PURGED = "purged"  # content and identity destroyed; only the tombstone and journal stay


class Channel(StrEnum):
    PATIENT_ONLINE = "patient-online"
    PHARMACY = "pharmacy"
    INSURER_COUNTER = "insurer-counter"
    HEALTH_PROFESSIONAL = "health-professional"
    ESTABLISHMENT = "establishment"
    NURSE = "nurse"
    AUTOMATIC = "automatic"


class CloseReason(StrEnum):
    HOLDER_REQUEST = "holder-request"
    DEATH = "death"
    OPERATOR = "operator"


class Record(Base):
    __tablename__ = "record"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(30))
    # Bumped at each change: the ETag clients use for optimistic locking.
    version: Mapped[int] = mapped_column(Integer, default=1)
    opening_policy: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(30))
    opened_at: Mapped[datetime]
    opened_by_kind: Mapped[str] = mapped_column(String(20))
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_by_organisation: Mapped[str | None] = mapped_column(String(9))
    consent_at: Mapped[datetime | None]
    consent_method: Mapped[str | None] = mapped_column(String(30))
    consent_collected_by: Mapped[str | None] = mapped_column(String(64))
    objection_deadline: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(String(30))
    purge_after: Mapped[datetime | None]
    deletion_requested_at: Mapped[datetime | None]
    deletion_due: Mapped[datetime | None]
    suspended_at: Mapped[datetime | None]
    suspension_reason: Mapped[str | None] = mapped_column(String(200))
    deceased_on: Mapped[date | None] = mapped_column(Date)
    merged_into: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("record.id"))
    purged_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    # When its first document was stored: the statistics' "still empty after 30 days" (0028).
    first_document_at: Mapped[datetime | None]


class LegalRepresentative(Base):
    """A minor's legal representative (at most two), identified by their own INS."""

    __tablename__ = "legal_representative"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"), index=True)
    ins_system: Mapped[str] = mapped_column(String(40))
    ins_value: Mapped[str] = mapped_column(String(15))
    family: Mapped[str] = mapped_column(String(100))
    given: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime]
    # Set when the holder comes of age or the representative is removed; rights stop then.
    ended_at: Mapped[datetime | None]


# A parent's login finds their children's records by their own INS (auth/delegations.py).
Index("ix_legal_representative_ins", LegalRepresentative.ins_system, LegalRepresentative.ins_value)


class HeirAccessRequest(Base):
    """After a death, heirs may ask for access (CSP L1110-4): recorded for an operator to decide."""

    __tablename__ = "heir_access_request"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"), index=True)
    requester_name: Mapped[str] = mapped_column(String(200))
    relationship: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(String(500))
    requested_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))
