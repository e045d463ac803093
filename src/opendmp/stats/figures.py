"""The deployment's figures, read from the maintained counters (never by scanning records):
records opened by channel, region or week, documents added by source. Operators only."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import Action
from opendmp.identity import geography
from opendmp.identity.actor import Actor
from opendmp.stats.models import DocumentCount, OpeningCount


class Breakdown(StrEnum):
    CHANNEL = "channel"
    REGION = "region"
    WEEK = "week"


@dataclass(slots=True)
class Figures:
    since: date | None
    until: date | None
    by: Breakdown
    records_opened: int = 0
    opened_by_channel: dict[str, int] = field(default_factory=dict)
    # (key, label, count) in the order to show: by channel, region (code) or ISO week (its Monday).
    opened_by: list[tuple[str, str, int]] = field(default_factory=list)
    documents_added: int = 0
    documents_by_source: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "recordsOpened": self.records_opened,
            "openedByChannel": self.opened_by_channel,
            "by": self.by.value,
            "openedBy": [{"key": key, "label": label, "count": count} for key, label, count in self.opened_by],
            "documentsAdded": self.documents_added,
            "documentsBySource": self.documents_by_source,
        }


def _week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def deployment_figures(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    since: date | None = None,
    until: date | None = None,
    by: Breakdown = Breakdown.CHANNEL,
) -> Figures:
    """Openings and documents between `since` and `until` (both included)."""
    access.require(session, actor, Action.STATS_READ, None, now)
    figures = Figures(since, until, by)
    opened = select(OpeningCount.day, OpeningCount.channel, OpeningCount.region, func.sum(OpeningCount.count))
    added = select(DocumentCount.source, func.sum(DocumentCount.count))
    if since is not None:
        opened, added = opened.where(OpeningCount.day >= since), added.where(DocumentCount.day >= since)
    if until is not None:
        opened, added = opened.where(OpeningCount.day <= until), added.where(DocumentCount.day <= until)
    by_channel: Counter[str] = Counter()
    grouped: Counter[str] = Counter()
    for day, channel, region, count in session.execute(
        opened.group_by(OpeningCount.day, OpeningCount.channel, OpeningCount.region)
    ):
        by_channel[channel] += int(count)
        key = {Breakdown.CHANNEL: channel, Breakdown.REGION: region, Breakdown.WEEK: _week_of(day).isoformat()}[by]
        grouped[key] += int(count)
    figures.records_opened = sum(by_channel.values())
    figures.opened_by_channel = dict(by_channel.most_common())
    if by is Breakdown.WEEK:
        figures.opened_by = [(week, f"{date.fromisoformat(week):%G-W%V}", grouped[week]) for week in sorted(grouped)]
    elif by is Breakdown.REGION:
        figures.opened_by = [
            (region, geography.REGIONS.get(region, "inconnue / unknown"), count)
            for region, count in grouped.most_common()
        ]
    else:
        figures.opened_by = [(channel, channel, count) for channel, count in grouped.most_common()]
    sources: Counter[str] = Counter()
    for source, count in session.execute(added.group_by(DocumentCount.source)):
        sources[source] += int(count)
    figures.documents_added = sum(sources.values())
    figures.documents_by_source = dict(sources.most_common())
    return figures
