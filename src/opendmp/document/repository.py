"""All SQL of the document module."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from opendmp.document.models import Document, DocumentAuthor, DocumentLookup


def get(session: Session, document_id: uuid.UUID, *, for_update: bool = False) -> Document | None:
    stmt = select(Document).where(Document.id == document_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def by_unique_id(session: Session, unique_id: str) -> Document | None:
    found = session.get(DocumentLookup, unique_id)
    return get(session, found.document_id) if found else None


def by_set_id(session: Session, record_id: uuid.UUID, set_id: str) -> Document | None:
    """The current version of the document a CDA set id names, in this record."""
    return session.execute(
        select(Document)
        .where(Document.record_id == record_id, Document.set_id == set_id, Document.status == "current")
        .order_by(Document.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def authors_of(session: Session, document_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[DocumentAuthor]]:
    found: dict[uuid.UUID, list[DocumentAuthor]] = {d: [] for d in document_ids}
    if document_ids:
        for author in session.execute(
            select(DocumentAuthor).where(DocumentAuthor.document_id.in_(document_ids))
        ).scalars():
            found[author.document_id].append(author)
    return found


def search(
    session: Session,
    record_id: uuid.UUID,
    readable: ColumnElement[bool],
    filters: Sequence[ColumnElement[bool]],
    *,
    offset: int,
    limit: int,
    newest_first: bool = True,
) -> tuple[list[Document], int]:
    """A page of the record's readable documents and the exact total, both under the same rules."""
    where = [Document.record_id == record_id, readable, *filters]
    total = session.execute(select(func.count()).select_from(Document).where(*where)).scalar_one()
    order = (
        (Document.submitted_at.desc(), Document.id.desc())
        if newest_first
        else (Document.submitted_at.asc(), Document.id.asc())
    )
    rows = session.execute(select(Document).where(*where).order_by(*order).offset(offset).limit(limit)).scalars()
    return list(rows), total


def submitted_since(session: Session, record_id: uuid.UUID, type_code: str, since: datetime) -> list[Document]:
    return list(
        session.execute(
            select(Document).where(
                Document.record_id == record_id,
                Document.type_code == type_code,
                Document.submitted_at >= since,
                Document.status == "current",
            )
        ).scalars()
    )


def labels(
    session: Session, record_id: uuid.UUID, document_ids: Sequence[uuid.UUID], readable: ColumnElement[bool]
) -> list[tuple[uuid.UUID, str, str | None]]:
    """Id, type code and title of the given documents of one record that pass `readable`."""
    rows = session.execute(
        select(Document.id, Document.type_code, Document.title).where(
            Document.record_id == record_id, Document.id.in_(document_ids), readable
        )
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]
