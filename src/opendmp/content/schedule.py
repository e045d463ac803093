"""The French vaccination schedule (calendrier vaccinal) as data, and what it asks of one person
at a given date: pure functions of the birth date, the doses given and the day.

Lines come from src/opendmp/data/vaccination_schedule.csv (its header names the source and the
simplifications). Doses are matched to the lines of their antigen group in date order: each dose
counts for at most one line, the first line it is old enough for (`earliest_months`) and not too
late for (`until_months`). A recurring line (boosters every 10 years after 75, influenza each
year after 65) is satisfied by a dose given in its current period. A missed childhood line stops
being proposed at its `until_months`: the next booster of the schedule then takes it over.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache

from opendmp.content.codes import read_data

HORIZON_MONTHS = 12  # "upcoming": what falls due within the next year


class DueStatus(StrEnum):
    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"


@dataclass(frozen=True, slots=True)
class ScheduleLine:
    group: str
    dose: int
    age_months: int
    earliest_months: int
    overdue_months: int
    until_months: int | None
    every_months: int | None
    born_since: int | None
    label_fr: str
    label_en: str

    @property
    def key(self) -> str:
        return f"{self.group}-{self.dose}"


@dataclass(frozen=True, slots=True)
class GivenDose:
    groups: frozenset[str]
    on: date


@dataclass(frozen=True, slots=True)
class DueVaccination:
    line: ScheduleLine
    status: DueStatus
    due_on: date  # from when it is recommended
    overdue_on: date
    until: date | None  # after this it is no longer proposed (catch-up over)


@dataclass(frozen=True, slots=True)
class DoneVaccination:
    line: ScheduleLine
    on: date


@dataclass(frozen=True, slots=True)
class ScheduleReport:
    birth_date: date
    on: date
    age_months: int
    due: list[DueVaccination]  # overdue first, then due, then upcoming; by date within each
    done: list[DoneVaccination]


def _optional(text: str) -> int | None:
    return int(text) if text.strip() else None


@cache
def schedule_lines() -> tuple[ScheduleLine, ...]:
    return tuple(
        ScheduleLine(
            group=r["group"],
            dose=int(r["dose"]),
            age_months=int(r["age_months"]),
            earliest_months=int(r["earliest_months"]),
            overdue_months=int(r["overdue_months"]),
            until_months=_optional(r["until_months"]),
            every_months=_optional(r["every_months"]),
            born_since=_optional(r["born_since"]),
            label_fr=r["label_fr"],
            label_en=r["label_en"],
        )
        for r in read_data("vaccination_schedule.csv")
    )


def add_months(start: date, months: int) -> date:
    """The same day `months` later (the month's last day when it has no such day)."""
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def months_between(start: date, end: date) -> int:
    """Whole months from `start` to `end` (negative when `end` is earlier)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if months > 0 and add_months(start, months) > end:
        months -= 1
    elif months < 0 and add_months(start, months) < end:
        months += 1
    return months


_ORDER = {DueStatus.OVERDUE: 0, DueStatus.DUE: 1, DueStatus.UPCOMING: 2}


def vaccination_schedule(
    birth_date: date,
    on: date,
    given: Iterable[GivenDose],
    *,
    lines: Sequence[ScheduleLine] | None = None,
    horizon_months: int = HORIZON_MONTHS,
) -> ScheduleReport:
    """What the schedule asks of a person born on `birth_date`, on the day `on`, given these doses."""
    lines = schedule_lines() if lines is None else lines
    age = months_between(birth_date, on)
    doses = sorted((d for d in given if birth_date <= d.on <= on), key=lambda d: d.on)
    due: list[DueVaccination] = []
    done: list[DoneVaccination] = []
    used: set[tuple[str, int]] = set()
    for line in sorted(lines, key=lambda ln: (ln.group, ln.every_months is not None, ln.dose)):
        if line.born_since is not None and birth_date.year < line.born_since:
            continue
        of_group = [(i, d, months_between(birth_date, d.on)) for i, d in enumerate(doses) if line.group in d.groups]
        if line.every_months is None:
            match = next(
                (
                    (i, d)
                    for i, d, months in of_group
                    if (line.group, i) not in used
                    and months >= line.earliest_months
                    and (line.until_months is None or months < line.until_months)
                ),
                None,
            )
            if match is not None:
                used.add((line.group, match[0]))
                done.append(DoneVaccination(line, match[1].on))
                continue
            if line.until_months is not None and age >= line.until_months:
                continue  # the catch-up is over; a later line takes over
            found = _status(line, age, line.age_months, horizon_months)
            if found is not None:
                due.append(_due(line, birth_date, found, line.age_months))
            continue
        # A recurring line: one dose in the current period (a dose a little early counts, as for
        # the line's first period).
        if age < line.age_months:
            found = _status(line, age, line.age_months, horizon_months)
            if found is not None:
                due.append(_due(line, birth_date, found, line.age_months))
            continue
        period = line.age_months + (age - line.age_months) // line.every_months * line.every_months
        slack = line.age_months - line.earliest_months
        latest = next((d for _, d, months in reversed(of_group) if months >= period - slack), None)
        if latest is not None:
            done.append(DoneVaccination(line, latest.on))
            following = period + line.every_months
            if following - age <= horizon_months:
                due.append(_due(line, birth_date, DueStatus.UPCOMING, following))
            continue
        grace = line.overdue_months - line.age_months
        status = DueStatus.DUE if age < period + grace else DueStatus.OVERDUE
        due.append(_due(line, birth_date, status, period))
    due.sort(key=lambda d: (_ORDER[d.status], d.due_on, d.line.key))
    done.sort(key=lambda d: (d.on, d.line.key))
    return ScheduleReport(birth_date, on, age, due, done)


def _status(line: ScheduleLine, age: int, due_age: int, horizon: int) -> DueStatus | None:
    if age < due_age:
        return DueStatus.UPCOMING if due_age - age <= horizon else None
    overdue_age = due_age + line.overdue_months - line.age_months
    return DueStatus.DUE if age < overdue_age else DueStatus.OVERDUE


def _due(line: ScheduleLine, birth_date: date, status: DueStatus, due_age: int) -> DueVaccination:
    return DueVaccination(
        line=line,
        status=status,
        due_on=add_months(birth_date, due_age),
        overdue_on=add_months(birth_date, due_age + line.overdue_months - line.age_months),
        until=add_months(birth_date, line.until_months) if line.until_months is not None else None,
    )
