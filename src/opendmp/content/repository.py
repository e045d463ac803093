"""Queries of the patient's content (and the one question it asks of documents: the record's
current advance directives)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.access.policy import ADVANCE_DIRECTIVES_TYPE
from opendmp.content.models import ACTIVE, ContentRow
from opendmp.document.models import Document, DocumentStatus


def get(session: Session, item_id: uuid.UUID, *, for_update: bool = False) -> ContentRow | None:
    query = select(ContentRow).where(ContentRow.id == item_id)
    if for_update:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def active_of(session: Session, record_id: uuid.UUID, kinds: Iterable[str]) -> list[ContentRow]:
    query = (
        select(ContentRow)
        .where(ContentRow.record_id == record_id, ContentRow.kind.in_(list(kinds)), ContentRow.status == ACTIVE)
        .order_by(ContentRow.recorded_at, ContentRow.id)
    )
    return list(session.execute(query).scalars())


def current_directives(session: Session, record_id: uuid.UUID) -> Document | None:
    """The current version of the record's advance directives (uploaded or generated), if any."""
    query = (
        select(Document)
        .where(
            Document.record_id == record_id,
            Document.type_code == ADVANCE_DIRECTIVES_TYPE,
            Document.status == DocumentStatus.CURRENT.value,
        )
        .order_by(Document.submitted_at.desc(), Document.id)
        .limit(1)
    )
    return session.execute(query).scalar_one_or_none()
