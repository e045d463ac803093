"""The patient's content: one row per item (blood group, allergy, person to notify, treatment,
note, vaccination, advance directives' answers). Everything said about the patient is in `sealed`,
AES-256-GCM under the record's data key (docs/decisions/0022): only the kind, the status and who
recorded it stay in clear, for the policy and the journal."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base
from opendmp.kit.ids import new_id

ACTIVE = "active"
ENTERED_IN_ERROR = "entered-in-error"  # deleted: kept (sealed) for the record's retention
SUPERSEDED = "superseded"  # the answers behind an older version of the advance directives


class ContentRow(Base):
    __tablename__ = "patient_content"
    __table_args__ = (Index("ix_patient_content_record_kind", "record_id", "kind", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"))
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)  # the ETag; bumped at each change
    recorded_at: Mapped[datetime]
    recorded_by_kind: Mapped[str] = mapped_column(String(20))
    recorded_by: Mapped[str] = mapped_column(String(64))  # RPPS, INS value, client id
    updated_at: Mapped[datetime]
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
