"""The deployment dashboard's figures (docs/decisions/0028), read from the maintained aggregates
only: the weekly counters (a few thousand rows for a year, however many records), the last 30
days of the daily ones, the small sets of openers and feeders. Never a scan of records or
documents. Operators only (policy action stats:read)."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from opendmp.access import service as access
from opendmp.access.policy import Action
from opendmp.document.codes import document_types
from opendmp.identity import geography
from opendmp.identity.actor import Actor
from opendmp.stats.counters import SOURCES, week_of
from opendmp.stats.models import (
    ActivationCount,
    DocumentTypeCount,
    DocumentWeekCount,
    Feeder,
    FilledCount,
    Opener,
    OpeningRegionCount,
    OpeningWeekCount,
    WeekActiveCount,
)

EMPTY_AFTER = timedelta(days=30)
PACE_WEEKS = 4  # the projection's pace: the mean of the last complete weeks
UNIVERSITY_HOSPITAL = "university-hospital"  # organisation kind of a CHU
CHANNEL_LABELS = {
    "pharmacy": "Pharmacies",
    "patient-online": "Patients en ligne",
    "insurer-counter": "Accueils de l'Assurance Maladie",
    "health-professional": "Professionnels de santé",
    "establishment": "Établissements",
    "nurse": "Infirmiers",
    "automatic": "Ouverture automatique",
}
SOURCE_LABELS = {
    "establishment": "Établissements",
    "liberal": "Professionnels libéraux",
    "health-centre": "Centres de santé",
    "patient": "Patients",
    "insurer": "Assurance Maladie",
}


def format_fr(n: int) -> str:
    """240090 → '240 090' (French grouping with a narrow no-break space)."""
    return f"{n:,}".replace(",", "\u202f")


def millions_fr(n: int) -> str:
    """3000000 → '3 millions', 3240000 → '3,2 millions', below a million the number itself."""
    if n < 1_000_000:
        return format_fr(n)
    value = round(n / 1_000_000, 1)
    text = f"{value:.1f}".removesuffix(".0").replace(".", ",")
    return f"{text} million" + ("s" if value >= 2 else "")


def headline_fr(total: int, this_week: int) -> str:
    """The press-release figure: « 3 millions de DMP ouverts, 240 090 cette semaine »."""
    of = " de" if total >= 1_000_000 else ""  # « 3 millions de DMP », « 240 090 DMP »
    return f"{millions_fr(total)}{of} DMP ouverts, {format_fr(this_week)} cette semaine"


@cache
def _type_labels() -> dict[str, str]:
    return {t.code: t.display_fr for t in document_types().values()}


@dataclass(frozen=True, slots=True)
class Projection:
    pace_per_week: float
    reached_on: date | None  # None: no pace to project from

    def as_json(self) -> dict[str, Any]:
        return {
            "pacePerWeek": round(self.pace_per_week, 1),
            "reachedOn": self.reached_on.isoformat() if self.reached_on else None,
        }


def project(total: int, target: int, weekly: dict[date, int], today: date) -> Projection:
    """When the target is reached at the current pace: the mean of the last PACE_WEEKS complete
    weeks (weeks without an opening count as zero), from today."""
    current = week_of(today)
    weeks = [current - timedelta(weeks=n) for n in range(1, PACE_WEEKS + 1)]
    pace = sum(weekly.get(w, 0) for w in weeks) / PACE_WEEKS
    if total >= target:
        return Projection(pace, today)
    if pace <= 0:
        return Projection(pace, None)
    days = (target - total) / (pace / 7)
    if days > 365 * 200:  # beyond any date worth printing
        return Projection(pace, None)
    return Projection(pace, today + timedelta(days=int(days + 0.999)))


def _sum(session: Session, column: Any, *where: Any) -> int:
    return int(session.execute(select(func.coalesce(func.sum(column), 0)).where(*where)).scalar_one())


def dashboard_figures(session: Session, actor: Actor, now: datetime, *, target: int) -> dict[str, Any]:
    """Everything the dashboard shows, as JSON-ready data (the `/donnees.json` endpoint and
    `opendmp stats --json` share it)."""
    access.require(session, actor, Action.STATS_READ, None, now)
    return _compute(session, now, target)


class FiguresCache:
    """The figures of the last `ttl` seconds, shared by the operators' requests of one process:
    the aggregates move by the minute, and many operators (or a wall screen refreshing) should
    not each recompute them. The policy still answers every request (`cached_figures`)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._value: tuple[float, int, dict[str, Any]] | None = None

    def get(self, session: Session, now: datetime, target: int) -> dict[str, Any]:
        with self._lock:  # one recomputation at a time; the others wait for it, then share it
            clock = time.monotonic()
            if self._value is not None and clock - self._value[0] < self.ttl and self._value[1] == target:
                return self._value[2]
            figures = _compute(session, now, target)
            self._value = (clock, target, figures)
            return figures


def cached_figures(
    session: Session, actor: Actor, now: datetime, *, target: int, cache: FiguresCache
) -> dict[str, Any]:
    access.require(session, actor, Action.STATS_READ, None, now)
    return cache.get(session, now, target)


def _compute(session: Session, now: datetime, target: int) -> dict[str, Any]:
    today = now.date()
    current = week_of(today)

    # Openings by week and channel, and by region (Core: the ORM's row handling would cost more).
    db = session.connection()
    by_week: dict[date, Counter[str]] = defaultdict(Counter)
    for week, channel, count in db.execute(
        select(OpeningWeekCount.week, OpeningWeekCount.channel, func.sum(OpeningWeekCount.count)).group_by(
            OpeningWeekCount.week, OpeningWeekCount.channel
        )
    ):
        by_week[week][channel] += count
    regions: Counter[str] = Counter()
    for region, count in db.execute(
        select(OpeningRegionCount.region, func.sum(OpeningRegionCount.count)).group_by(OpeningRegionCount.region)
    ):
        regions[region] += count
    totals = {week: sum(channels.values()) for week, channels in by_week.items()}
    total = sum(totals.values())
    channels: Counter[str] = Counter()
    for counts in by_week.values():
        channels.update(counts)
    channel_order = [c for c, _ in channels.most_common()]
    weekly: list[dict[str, Any]] = []
    cumulative = 0
    for week in _weeks(min(by_week, default=current), max(max(by_week, default=current), current)):
        cumulative += totals.get(week, 0)
        weekly.append(
            {
                "week": week.isoformat(),
                "label": f"{week:%G-S%V}",
                "opened": totals.get(week, 0),
                "byChannel": {c: by_week[week][c] for c in channel_order if by_week[week][c]}
                if week in by_week
                else {},
                "cumulative": cumulative,
            }
        )
    this_week = totals.get(current, 0)

    # Activation, and records still empty: those opened in the weeks that ended at least 30 days
    # ago (whole weeks: the weekly counters, not thousands of daily rows) minus those of them that
    # have received a document since.
    activated = _sum(session, ActivationCount.count)
    cutoff = week_of(today - EMPTY_AFTER)
    old_enough = sum(n for week, n in totals.items() if week < cutoff)
    filled = _sum(session, FilledCount.count, FilledCount.opened_day < cutoff)
    empty = max(0, old_enough - filled)

    # Documents by week and source, and by type.
    doc_weeks: dict[date, Counter[str]] = defaultdict(Counter)
    for week, source, count in db.execute(
        select(DocumentWeekCount.week, DocumentWeekCount.source, func.sum(DocumentWeekCount.count)).group_by(
            DocumentWeekCount.week, DocumentWeekCount.source
        )
    ):
        doc_weeks[week][source] += int(count)
    sources: Counter[str] = Counter()
    for counts in doc_weeks.values():
        sources.update(counts)
    by_type: Counter[tuple[str, str]] = Counter()
    for class_code, type_code, count in db.execute(
        select(DocumentTypeCount.class_code, DocumentTypeCount.type_code, func.sum(DocumentTypeCount.count)).group_by(
            DocumentTypeCount.class_code, DocumentTypeCount.type_code
        )
    ):
        by_type[(class_code, type_code)] += int(count)
    documents = sum(sources.values())
    labels = _type_labels()

    feeders, chu = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((Feeder.organisation_kind == UNIVERSITY_HOSPITAL, 1), else_=0)), 0),
        )
    ).one()
    openers: dict[str, int] = {
        kind: int(n) for kind, n in session.execute(select(Opener.kind, func.count()).group_by(Opener.kind))
    }
    active: dict[date, int] = {
        week: int(n)
        for week, n in session.execute(
            select(WeekActiveCount.week, func.sum(WeekActiveCount.count))
            .where(WeekActiveCount.week >= current - timedelta(weeks=52))
            .group_by(WeekActiveCount.week)
        )
    }
    projection = project(total, target, totals, today)
    return {
        "asOf": today.isoformat(),
        "headline": headline_fr(total, this_week),
        "recordsOpened": total,
        "thisWeek": {"week": current.isoformat(), "opened": this_week},
        "openedByChannel": {c: channels[c] for c in channel_order},
        "channelLabels": {c: CHANNEL_LABELS.get(c, c) for c in channel_order},
        "target": target,
        "targetShare": round(total / target, 6),
        "projection": projection.as_json(),
        "activation": {"activated": activated, "rate": round(activated / total, 4) if total else None},
        "emptyAfter30Days": {
            "openedBefore": cutoff.isoformat(),  # opened before this Monday: at least 30 days ago
            "opened": old_enough,
            "empty": empty,
            "share": round(empty / old_enough, 4) if old_enough else None,
        },
        "weekly": weekly,
        "regions": [
            {
                "code": code,
                "label": geography.REGIONS.get(code, "inconnue"),
                "opened": count,
                "share": round(count / total, 4) if total else 0,
            }
            for code, count in regions.most_common()
        ],
        "documents": {
            "added": documents,
            "bySource": {s: sources.get(s, 0) for s in (*SOURCES, *sorted(set(sources) - set(SOURCES)))},
            "sourceLabels": {s: SOURCE_LABELS.get(s, s) for s in (*SOURCES, *sorted(set(sources) - set(SOURCES)))},
            "weekly": [
                {"week": w.isoformat(), "label": f"{w:%G-S%V}", "bySource": dict(doc_weeks[w])}
                for w in sorted(doc_weeks)
            ],
            "byType": [
                {"typeCode": t, "classCode": c, "label": labels.get(t, t), "added": n}
                for (c, t), n in by_type.most_common()
            ],
        },
        "feedingEstablishments": {"establishments": int(feeders), "universityHospitals": int(chu)},
        "openers": {"pharmacies": int(openers.get("pharmacy", 0)), "nurses": int(openers.get("nurse", 0))},
        "weeklyActiveUsers": [{"week": w.isoformat(), "users": int(n)} for w, n in sorted(active.items())],
    }


def _weeks(first: date, last: date) -> list[date]:
    weeks, week = [], first
    while week <= last:
        weeks.append(week)
        week += timedelta(weeks=1)
    return weeks


# The tables the dashboard exports as CSV: name → (header, rows from the figures).
def csv_tables(figures: dict[str, Any]) -> dict[str, tuple[list[str], list[list[Any]]]]:
    channels = list(figures["openedByChannel"])
    sources = list(figures["documents"]["bySource"])
    return {
        "semaines": (
            ["semaine", "debut", "ouverts", *channels, "cumul"],
            [
                [w["label"], w["week"], w["opened"], *(w["byChannel"].get(c, 0) for c in channels), w["cumulative"]]
                for w in figures["weekly"]
            ],
        ),
        "regions": (
            ["rang", "code", "region", "ouverts", "part"],
            [[n, r["code"], r["label"], r["opened"], r["share"]] for n, r in enumerate(figures["regions"], 1)],
        ),
        "cumul": (
            ["semaine", "debut", "cumul", "cible"],
            [[w["label"], w["week"], w["cumulative"], figures["target"]] for w in figures["weekly"]],
        ),
        "documents-sources": (
            ["semaine", "debut", *sources],
            [
                [w["label"], w["week"], *(w["bySource"].get(s, 0) for s in sources)]
                for w in figures["documents"]["weekly"]
            ],
        ),
        "documents-types": (
            ["code_type", "code_classe", "libelle", "ajoutes"],
            [[t["typeCode"], t["classCode"], t["label"], t["added"]] for t in figures["documents"]["byType"]],
        ),
        "utilisateurs-hebdomadaires": (
            ["debut_semaine", "utilisateurs"],
            [[w["week"], w["users"]] for w in figures["weeklyActiveUsers"]],
        ),
    }
