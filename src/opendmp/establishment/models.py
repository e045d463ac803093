"""Tables of establishment feeds: the submissions already answered (safe retries). The
organisations feeding automatically are counted by the statistics (stats_feeder)."""

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
