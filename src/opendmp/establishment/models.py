"""Tables of establishment feeds: the submissions already answered (safe retries) and the
organisations that feed records automatically (statistics)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base


class FeedSubmission(Base):
    """One ITI-65 bundle filed through a batch, keyed by its SubmissionSet unique id (an OID the
    producer makes globally unique): a retry of the same bundle gets this answer back."""

    __tablename__ = "feed_submission"

    unique_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))  # the submitting actor's id
    organisation: Mapped[str | None] = mapped_column(String(9))  # its FINESS
    bundle_sha256: Mapped[str] = mapped_column(String(64))  # of the bundle's canonical JSON
    response: Mapped[str] = mapped_column(Text)  # the transaction-response, as first answered
    submitted_at: Mapped[datetime]


class FeedingEstablishment(Base):
    """An organisation whose software filed documents (any path: batch, ITI-65, simple publish).
    A handful of rows, written once a day per organisation at most."""

    __tablename__ = "feeding_establishment"

    finess: Mapped[str] = mapped_column(String(9), primary_key=True)
    organisation_kind: Mapped[str | None] = mapped_column(String(30))
    first_fed_at: Mapped[datetime]
    last_fed_at: Mapped[datetime]
