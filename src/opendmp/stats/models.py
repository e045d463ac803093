"""The remuneration ledger: who is paid for opening a record, by a rule table with dates of effect."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base
from opendmp.kit.ids import new_id


class Beneficiary(StrEnum):
    PHARMACY = "pharmacy"  # paid by FINESS
    NURSE = "nurse"  # paid by RPPS


class EntryStatus(StrEnum):
    DUE = "due"
    HELD = "held"  # the pharmacy is unknown: an operator assigns it


class RemunerationRule(Base):
    __tablename__ = "remuneration_rule"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(String(30))
    beneficiary: Mapped[str] = mapped_column(String(20))
    amount_cents: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_until: Mapped[date | None] = mapped_column(Date)  # exclusive


class RemunerationEntry(Base):
    __tablename__ = "remuneration_entry"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"), index=True)
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remuneration_rule.id"))
    beneficiary: Mapped[str] = mapped_column(String(20))
    finess: Mapped[str | None] = mapped_column(String(9), index=True)
    rpps: Mapped[str | None] = mapped_column(String(11), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    earned_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
    assigned_by: Mapped[str | None] = mapped_column(String(64))


# Maintained aggregates (docs/decisions/0018): one row per day, dimensions and stripe, moved by an
# upsert in the transaction of the event. Statistics, not health data: no INS, no record id. An
# unknown dimension is "" (a NULL would not conflict in the upsert's unique key).
class OpeningCount(Base):
    """Records opened, by day, channel, region and department of residence, opener's organisation kind."""

    __tablename__ = "stats_opening_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(30), primary_key=True)
    region: Mapped[str] = mapped_column(String(3), primary_key=True)
    department: Mapped[str] = mapped_column(String(3), primary_key=True)
    organisation_kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    # Concurrent openings of the same day and dimensions spread over a few rows, not one hot row.
    stripe: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class DocumentCount(Base):
    """Documents added (each stored version), by day, source, class and type code."""

    __tablename__ = "stats_document_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    class_code: Mapped[str] = mapped_column(String(60), primary_key=True)
    type_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    stripe: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
