"""The structured copy of each VSM and DLU document, sealed under the record's data key."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base
from opendmp.kit.ids import new_id


class ClinicalSummary(Base):
    """One version of a VSM or DLU: the document it was filed as, and its form's answers as JSON,
    encrypted (AES-256-GCM, the record's data key, bound to this row's id and the record)."""

    __tablename__ = "clinical_summary"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"))
    kind: Mapped[str] = mapped_column(String(3))  # "vsm" or "dlu"
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("document.id"), unique=True)
    author_rpps: Mapped[str] = mapped_column(String(11))
    written_at: Mapped[datetime]
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # The médecin traitant was told this VSM is over a year old (once per version).
    reminded_at: Mapped[datetime | None]


Index("ix_clinical_summary_record", ClinicalSummary.record_id, ClinicalSummary.kind, ClinicalSummary.written_at)
Index("ix_clinical_summary_due", ClinicalSummary.kind, ClinicalSummary.reminded_at, ClinicalSummary.written_at)
