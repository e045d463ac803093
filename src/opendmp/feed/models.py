"""Reimbursement history tables (migration 0013, decision 0020).

- `reimbursement_batch`: the claim lines one ingest chunk brought to one record, as ONE blob
  sealed with the record's data key (msgpack of the lines, AES-256-GCM, the document blob
  format of document/crypto.py). One row, one encryption, per record per chunk: ingest cost
  grows with the records touched, not with each line's own row.
- `reimbursement_claim`: the claim-id index (global uniqueness, idempotence): which run first
  brought the line, and where it lives (a record, or a parked row until the record opens).
- `reimbursement_parked`: lines for a NIR that has no record yet, sealed with the parking key,
  found by a keyed digest of the NIR (no NIR in plain text), kept at most 90 days.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base
from opendmp.kit.ids import new_id


class ReimbursementBatch(Base):
    __tablename__ = "reimbursement_batch"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"))
    run_id: Mapped[uuid.UUID] = mapped_column()  # the ingest run (one `feed reimbursements` call)
    received_at: Mapped[datetime]
    lines: Mapped[int] = mapped_column(Integer)
    first_care: Mapped[date] = mapped_column(Date)
    last_care: Mapped[date] = mapped_column(Date)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


Index("ix_reimbursement_batch_record", ReimbursementBatch.record_id, ReimbursementBatch.last_care)


class ReimbursementClaim(Base):
    __tablename__ = "reimbursement_claim"

    claim_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column()
    record_id: Mapped[uuid.UUID | None] = mapped_column()  # None while parked
    parked_id: Mapped[uuid.UUID | None] = mapped_column(index=True)


class ReimbursementParked(Base):
    __tablename__ = "reimbursement_parked"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    nir_digest: Mapped[str] = mapped_column(String(64), index=True)
    received_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    lines: Mapped[int] = mapped_column(Integer)
    first_care: Mapped[date] = mapped_column(Date)
    last_care: Mapped[date] = mapped_column(Date)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
