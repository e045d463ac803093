"""Redundant exams: each exam a document reports (LOINC/NABM codes of structured CDA entries,
CCAM codes for imaging) is remembered with its date, so that a new one within the exam's window
(kept as data: HbA1c 90 days, lipid panel 1 year, …) is pointed out, and a professional can ask
whether an exam was done recently. The windows are `opendmp/data/exam_windows.csv`."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from opendmp.document.models import Document, DocumentExam

LOINC = "2.16.840.1.113883.6.1"
CCAM = "1.2.250.1.213.2.5"
SYSTEM_ALIASES = {
    "http://loinc.org": LOINC,
    "urn:oid:" + LOINC: LOINC,
    "https://mos.esante.gouv.fr/NOS/CCAM/FHIR/CCAM": CCAM,
    "urn:oid:" + CCAM: CCAM,
}


@dataclass(frozen=True, slots=True)
class ExamWindow:
    code_system: str
    code: str
    label_fr: str
    days: int


@cache
def exam_windows() -> dict[tuple[str, str], ExamWindow]:
    text = resources.files("opendmp.data").joinpath("exam_windows.csv").read_text(encoding="utf-8")
    return {
        (row["code_system"], row["code"]): ExamWindow(
            row["code_system"], row["code"], row["label_fr"], int(row["window_days"])
        )
        for row in csv.DictReader(io.StringIO(text))
    }


def normalise_system(system: str) -> str:
    return SYSTEM_ALIASES.get(system, system.removeprefix("urn:oid:"))


@dataclass(frozen=True, slots=True)
class EarlierExam:
    window: ExamWindow
    document_id: uuid.UUID
    performed_at: datetime


def record_exams(
    session: Session,
    record_id: uuid.UUID,
    document_id: uuid.UUID,
    codes: tuple[tuple[str, str], ...],
    performed_at: datetime,
) -> list[EarlierExam]:
    """Remember the windowed exams of a new document; return the same exams done within their
    window before (each once, the latest)."""
    earlier: list[EarlierExam] = []
    for system, code in dict.fromkeys((normalise_system(s), c) for s, c in codes):
        window = exam_windows().get((system, code))
        if window is None:
            continue
        previous = latest_exam(
            session, record_id, system, code, performed_at - timedelta(days=window.days), exclude=document_id
        )
        if previous is not None:
            earlier.append(EarlierExam(window, previous.document_id, previous.performed_at))
        session.add(
            DocumentExam(
                record_id=record_id, document_id=document_id, code_system=system, code=code, performed_at=performed_at
            )
        )
    return earlier


def latest_exam(
    session: Session,
    record_id: uuid.UUID,
    system: str,
    code: str,
    since: datetime,
    *,
    exclude: uuid.UUID | None = None,
    readable: ColumnElement[bool] | None = None,
    until: datetime | None = None,
) -> DocumentExam | None:
    stmt = (
        select(DocumentExam)
        .join(Document, Document.id == DocumentExam.document_id)
        .where(
            DocumentExam.record_id == record_id,
            DocumentExam.code_system == system,
            DocumentExam.code == code,
            DocumentExam.performed_at >= since,
            Document.status == "current",
        )
        .order_by(DocumentExam.performed_at.desc())
        .limit(1)
    )
    if exclude is not None:
        stmt = stmt.where(DocumentExam.document_id != exclude)
    if readable is not None:
        stmt = stmt.where(readable)
    if until is not None:
        stmt = stmt.where(DocumentExam.performed_at <= until)
    return session.execute(stmt).scalar_one_or_none()


def recent_within_windows(
    session: Session, record_id: uuid.UUID, now: datetime, *, readable: ColumnElement[bool] | None = None
) -> list[EarlierExam]:
    """Every windowed exam of the record done within its own window before `now`, the latest per
    exam, newest first: what a professional should know before prescribing one again. One query
    over the longest window; each exam's own window is applied here."""
    windows = exam_windows()
    if not windows:
        return []
    longest = max(w.days for w in windows.values())
    stmt = (
        select(DocumentExam)
        .join(Document, Document.id == DocumentExam.document_id)
        .where(
            DocumentExam.record_id == record_id,
            DocumentExam.performed_at >= now - timedelta(days=longest),
            DocumentExam.performed_at <= now,
            Document.status == "current",
        )
        .order_by(DocumentExam.performed_at.desc())
        .limit(500)
    )
    if readable is not None:
        stmt = stmt.where(readable)
    latest: dict[tuple[str, str], EarlierExam] = {}
    for row in session.execute(stmt).scalars():
        window = windows.get((row.code_system, row.code))
        key = (row.code_system, row.code)
        if window is None or key in latest or row.performed_at < now - timedelta(days=window.days):
            continue
        latest[key] = EarlierExam(window, row.document_id, row.performed_at)
    return sorted(latest.values(), key=lambda e: e.performed_at, reverse=True)


def exams_of(session: Session, document_id: uuid.UUID) -> list[DocumentExam]:
    return list(session.execute(select(DocumentExam).where(DocumentExam.document_id == document_id)).scalars())
