"""The holder's consents on a record: authorisations (with their access window), blocks, the
médecin traitant, the emergency switches, default masking, and the emergency accesses taken."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base
from opendmp.kit.ids import new_id


class AuthorisationKind(StrEnum):
    CARE_TEAM = "care-team"  # patient informed and did not object
    EXPLICIT = "explicit"  # the patient's express consent


class Authorisation(Base):
    __tablename__ = "authorisation"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"))
    rpps: Mapped[str] = mapped_column(String(11))
    kind: Mapped[str] = mapped_column(String(20))
    granted_at: Mapped[datetime]
    granted_via: Mapped[str] = mapped_column(String(30))  # "opening", "holder", "representative", "declaration"
    declared_by: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]  # end of the access window; None: until revoked
    revoked_at: Mapped[datetime | None]
    # The holder may grant the médecin traitant's right to see masked documents to others.
    masked_access: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_by: Mapped[str | None] = mapped_column(String(64))


Index("ix_authorisation_record_rpps", Authorisation.record_id, Authorisation.rpps)


class ProfessionalBlock(Base):
    """A professional the holder blocked by RPPS: no access at all, whatever else says."""

    __tablename__ = "professional_block"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"))
    rpps: Mapped[str] = mapped_column(String(11))
    blocked_at: Mapped[datetime]
    blocked_by: Mapped[str] = mapped_column(String(64))
    unblocked_at: Mapped[datetime | None]
    unblocked_by: Mapped[str | None] = mapped_column(String(64))


Index("ix_professional_block_record_rpps", ProfessionalBlock.record_id, ProfessionalBlock.rpps)


class ConsentPreferences(Base):
    """The holder's standing choices; absent row = the defaults (switches on, no masking)."""

    __tablename__ = "consent_preferences"

    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"), primary_key=True)
    medecin_traitant: Mapped[str | None] = mapped_column(String(11))
    medecin_traitant_since: Mapped[datetime | None]
    samu_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    break_glass_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    masked_in_emergency: Mapped[bool] = mapped_column(Boolean, default=True)
    mask_new_documents: Mapped[bool] = mapped_column(Boolean, default=False)
    # Days an authorisation lasts unless said otherwise (0: the day of the visit only).
    default_window_days: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))


class EmergencyAccess(Base):
    """One emergency access (bris de glace or SAMU), time-limited, awaiting an operator's review."""

    __tablename__ = "emergency_access"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"))
    rpps: Mapped[str] = mapped_column(String(11))
    profession: Mapped[str | None] = mapped_column(String(4))
    organisation: Mapped[str | None] = mapped_column(String(9))
    mode: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    reviewed_at: Mapped[datetime | None]
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    review_outcome: Mapped[str | None] = mapped_column(String(20))  # "justified", "unjustified"
    review_note: Mapped[str | None] = mapped_column(String(500))


Index("ix_emergency_access_record_expires", EmergencyAccess.record_id, EmergencyAccess.expires_at)
Index("ix_emergency_access_reviewed", EmergencyAccess.reviewed_at)


class ProfessionalFirstAccess(Base):
    """When each professional first read the record: the holder is told of every new one."""

    __tablename__ = "professional_first_access"

    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"), primary_key=True)
    rpps: Mapped[str] = mapped_column(String(11), primary_key=True)
    first_at: Mapped[datetime]


class InvisibleDocumentNotice(Base):
    """An INVISIBLE_PATIENT document the holder was told about (after two weeks), so once only."""

    __tablename__ = "invisible_document_notice"

    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("document.id"), primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"), index=True)
    noticed_at: Mapped[datetime]
