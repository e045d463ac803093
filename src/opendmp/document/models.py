"""Document tables. One `document` row per version (an XDS DocumentEntry, a FHIR
DocumentReference); versions of one document share `logical_id`. Every table carries the
record id (the distribution column); `document_lookup` keeps the producer's unique id globally
unique across shards."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base
from opendmp.kit.ids import new_id


class DocumentStatus(StrEnum):
    """FHIR DocumentReference.status."""

    CURRENT = "current"
    SUPERSEDED = "superseded"  # replaced by a newer version (XDS RPLC); stays readable in history
    ENTERED_IN_ERROR = "entered-in-error"  # logically deleted by its author


class AuthorKind(StrEnum):
    PROFESSIONAL = "professional"
    ORGANISATION = "organisation"
    PATIENT = "patient"
    DEVICE = "device"


class Document(Base):
    __tablename__ = "document"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"))
    logical_id: Mapped[uuid.UUID] = mapped_column()
    version: Mapped[int] = mapped_column(Integer)
    # Bumped at each metadata change (masking, archiving): the ETag of the resource.
    meta_version: Mapped[int] = mapped_column(Integer, default=1)
    unique_id: Mapped[str] = mapped_column(String(128))
    set_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str | None] = mapped_column(String(500))
    type_code: Mapped[str] = mapped_column(String(20))
    type_system: Mapped[str] = mapped_column(String(40))
    class_code: Mapped[str] = mapped_column(String(60))
    format_code: Mapped[str | None] = mapped_column(String(200))
    mime_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    sha1: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime | None]  # the document's own creation time
    service_start: Mapped[datetime | None]
    service_stop: Mapped[datetime | None]
    confidentiality: Mapped[str] = mapped_column(String(10), default="N")
    language: Mapped[str | None] = mapped_column(String(10))
    masked_from_professionals: Mapped[bool] = mapped_column(Boolean, default=False)  # MASQUE_PS
    invisible_to_patient: Mapped[bool] = mapped_column(Boolean, default=False)  # INVISIBLE_PATIENT
    invisible_to_representatives: Mapped[bool] = mapped_column(Boolean, default=False)
    legal_authenticator: Mapped[str | None] = mapped_column(String(20))
    submitted_at: Mapped[datetime]
    submitted_by_kind: Mapped[str] = mapped_column(String(20))
    submitted_by: Mapped[str] = mapped_column(String(64))
    submitted_by_organisation: Mapped[str | None] = mapped_column(String(9))
    submission_set_id: Mapped[uuid.UUID | None] = mapped_column()
    replaces_id: Mapped[uuid.UUID | None] = mapped_column()
    blob_key: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[str | None] = mapped_column(String(64))


class DocumentAuthor(Base):
    __tablename__ = "document_author"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"))
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("document.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    rpps: Mapped[str | None] = mapped_column(String(11))
    finess: Mapped[str | None] = mapped_column(String(9))
    display: Mapped[str | None] = mapped_column(String(200))


class DocumentLookup(Base):
    """One document per producer unique id, across every shard."""

    __tablename__ = "document_lookup"

    unique_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"))
    document_id: Mapped[uuid.UUID] = mapped_column()


class SubmissionSet(Base):
    """The SubmissionSet of an ITI-65 provide bundle (an XDS submission set)."""

    __tablename__ = "submission_set"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"), index=True)
    unique_id: Mapped[str] = mapped_column(String(128))
    source_id: Mapped[str | None] = mapped_column(String(128))
    submitted_at: Mapped[datetime]
    submitted_by: Mapped[str] = mapped_column(String(64))


# The record's list, newest first: the hot query of the platform.
Index("ix_document_record_date", Document.record_id, Document.submitted_at)
Index("ix_document_record_logical", Document.record_id, Document.logical_id)
Index("ix_document_author_rpps", DocumentAuthor.record_id, DocumentAuthor.rpps)


class DocumentExam(Base):
    """An exam a document reports (a coded observation or act), for redundant-exam warnings."""

    __tablename__ = "document_exam"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("record.id"))
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("document.id"), index=True)
    code_system: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(20))
    performed_at: Mapped[datetime]


Index(
    "ix_document_exam_lookup",
    DocumentExam.record_id,
    DocumentExam.code_system,
    DocumentExam.code,
    DocumentExam.performed_at,
)
