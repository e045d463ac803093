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


# The dashboard's coarser aggregates (docs/decisions/0028): the same counts by ISO week (its
# Monday) or since the start, moved with the daily rows, so the dashboard reads a few hundred
# rows a year however many records and documents there are.
class OpeningWeekCount(Base):
    """Records opened, by week and channel."""

    __tablename__ = "stats_opening_week"

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(30), primary_key=True)
    stripe: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class OpeningRegionCount(Base):
    """Records opened, by region of residence, since the start."""

    __tablename__ = "stats_opening_region"

    region: Mapped[str] = mapped_column(String(3), primary_key=True)
    stripe: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class DocumentWeekCount(Base):
    """Documents added, by week and source."""

    __tablename__ = "stats_document_week"

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    stripe: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class DocumentTypeCount(Base):
    """Documents added, by class and type code, since the start."""

    __tablename__ = "stats_document_type"

    class_code: Mapped[str] = mapped_column(String(60), primary_key=True)
    type_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    stripe: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class ActivationCount(Base):
    """Holders' accounts activated (first password and verified contact), by day."""

    __tablename__ = "stats_activation_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    stripe: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class FilledCount(Base):
    """Records that received their first document, by the day the record was opened: opened
    minus filled, for the days more than 30 days ago, is the records still empty."""

    __tablename__ = "stats_filled_day"

    opened_day: Mapped[date] = mapped_column(Date, primary_key=True)
    stripe: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class Opener(Base):
    """The pharmacies (FINESS) and nurses (RPPS) that opened at least one record, and when first.
    Business identifiers of professionals, public in the directory; nothing about patients."""

    __tablename__ = "stats_opener"

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # "pharmacy" | "nurse"
    identifier: Mapped[str] = mapped_column(String(11), primary_key=True)
    first_day: Mapped[date] = mapped_column(Date)


class Feeder(Base):
    """Establishments whose software filed at least one document (automatic feeding)."""

    __tablename__ = "stats_feeder"

    finess: Mapped[str] = mapped_column(String(9), primary_key=True)
    organisation_kind: Mapped[str] = mapped_column(String(30))
    first_day: Mapped[date] = mapped_column(Date)


class WeekUser(Base):
    """Who was active in a week, as a keyed hash of the user (no identifier, no health data):
    the set that makes the weekly count distinct. Old weeks can be dropped, their counts stay."""

    __tablename__ = "stats_week_user"

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    user_hash: Mapped[str] = mapped_column(String(32), primary_key=True)


class WeekActiveCount(Base):
    """Distinct active users by week: moved only when a user enters the week's set."""

    __tablename__ = "stats_week_active"

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    stripe: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
