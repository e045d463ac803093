"""Which organisations feed records through their software: one row per organisation, kept in
the filing's transaction (the statistics' "establishments feeding automatically")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opendmp.establishment.models import FeedingEstablishment
from opendmp.identity.actor import Actor
from opendmp.stats import counters

UNIVERSITY_HOSPITAL = "university-hospital"


def note_feeding(session: Session, actor: Actor, now: datetime) -> None:
    """Software filed a document for its organisation: insert the organisation once, then move
    `last_fed_at` at most once a day (so concurrent filings rarely touch the row)."""
    finess = actor.organisation
    if finess is None:
        return
    row = session.get(FeedingEstablishment, finess)
    if row is None:
        kind = counters.organisation_kind(session, finess)
        try:
            with session.begin_nested():  # another transaction may insert it at the same moment
                session.add(
                    FeedingEstablishment(finess=finess, organisation_kind=kind, first_fed_at=now, last_fed_at=now)
                )
        except IntegrityError:
            pass
        return
    if row.last_fed_at.date() < now.date():
        row.last_fed_at = now


@dataclass(frozen=True, slots=True)
class FeedingCount:
    establishments: int
    university_hospitals: int


def feeding_establishments(session: Session, since: datetime | None = None) -> FeedingCount:
    """How many organisations fed records through software (since a moment: those whose last
    filing came after it), and how many of them are university hospitals (CHU)."""
    query = select(FeedingEstablishment.organisation_kind, func.count()).group_by(
        FeedingEstablishment.organisation_kind
    )
    if since is not None:
        query = query.where(FeedingEstablishment.last_fed_at >= since)
    by_kind = {kind: count for kind, count in session.execute(query)}
    return FeedingCount(sum(by_kind.values()), by_kind.get(UNIVERSITY_HOSPITAL, 0))
