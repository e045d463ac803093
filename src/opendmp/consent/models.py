"""Authorisations of professionals on a record. The access issue adds windows, blocks, switches."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
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
    granted_via: Mapped[str] = mapped_column(String(30))  # "opening", "patient", "declaration"
    declared_by: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


Index("ix_authorisation_record_rpps", Authorisation.record_id, Authorisation.rpps)
