"""Tables of identities: the patient (per record), the global INS and traits lookups, and the
reference tables of professionals and organisations (replicated, not distributed, on Citus)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base
from opendmp.kit.ids import new_id


class Patient(Base):
    """The holder's identity; one per record, keyed by the record id (the distribution key)."""

    __tablename__ = "patient"

    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"), primary_key=True)
    ins_system: Mapped[str] = mapped_column(String(40))
    ins_value: Mapped[str] = mapped_column(String(15))
    birth_family: Mapped[str] = mapped_column(String(100))
    given_names: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(10))
    birthplace_code: Mapped[str] = mapped_column(String(5))
    residence_department: Mapped[str | None] = mapped_column(String(3))
    updated_at: Mapped[datetime]


class InsLookup(Base):
    """Global uniqueness of one record per INS, kept apart so it works across shards."""

    __tablename__ = "ins_lookup"

    ins_system: Mapped[str] = mapped_column(String(40), primary_key=True)
    ins_value: Mapped[str] = mapped_column(String(15), primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"), index=True)


class TraitsLookup(Base):
    """Find a record by the five strict traits without scanning patients across shards.
    Keyed by a SHA-256 digest of the normalised traits, so the index holds no names."""

    __tablename__ = "traits_lookup"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"), primary_key=True)


class Organisation(Base):
    __tablename__ = "organisation"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    finess: Mapped[str] = mapped_column(String(9), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    department: Mapped[str | None] = mapped_column(String(3))
    region: Mapped[str | None] = mapped_column(String(2))


class Professional(Base):
    __tablename__ = "professional"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    rpps: Mapped[str] = mapped_column(String(11), unique=True)
    profession: Mapped[str] = mapped_column(String(4))
    specialty: Mapped[str | None] = mapped_column(String(20))
    family: Mapped[str] = mapped_column(String(100))
    given: Mapped[str] = mapped_column(String(100))


class ProfessionalActivity(Base):
    """Where a professional works (the RPPS directory's activity lines)."""

    __tablename__ = "professional_activity"
    __table_args__ = (UniqueConstraint("professional_id", "organisation_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    professional_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("professional.id"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"), index=True)


Index("ix_patient_ins", Patient.ins_system, Patient.ins_value)
