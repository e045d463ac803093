"""The French vaccination schedule as data and what it asks of one person (pure functions)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from opendmp.content import codes
from opendmp.content.schedule import (
    DueStatus,
    GivenDose,
    ScheduleLine,
    add_months,
    months_between,
    schedule_lines,
    vaccination_schedule,
)

TODAY = date(2026, 6, 1)
births = st.dates(min_value=date(1920, 1, 1), max_value=TODAY)


def keys(report_due: list, status: DueStatus | None = None) -> set[str]:  # type: ignore[type-arg]
    return {d.line.key for d in report_due if status is None or d.status is status}


def doses_on_time(birth: date, on: date) -> list[GivenDose]:
    """Every line's dose on its day, recurring lines at each period, up to `on`."""
    doses = []
    for line in schedule_lines():
        ages = [line.age_months]
        if line.every_months:
            ages = list(range(line.age_months, months_between(birth, on) + 1, line.every_months))
        doses += [GivenDose(frozenset({line.group}), add_months(birth, age)) for age in ages]
    return [d for d in doses if d.on <= on]


def test_every_schedule_line_is_well_formed_and_its_group_has_a_vaccine() -> None:
    groups = {g for v in codes.vaccines().values() for g in v.groups}
    for line in schedule_lines():
        assert line.group in groups, line.key
        assert line.earliest_months <= line.age_months < line.overdue_months, line.key
        assert line.until_months is None or line.until_months > line.age_months, line.key
        assert line.label_fr and line.label_en


def test_a_newborn_has_the_two_month_vaccines_upcoming_and_nothing_overdue() -> None:
    report = vaccination_schedule(TODAY, TODAY, [])
    assert not keys(report.due, DueStatus.OVERDUE)
    assert {"dtp-1", "hib-1", "hepb-1", "pneumo-1", "rota-1"} <= keys(report.due, DueStatus.UPCOMING)


def test_an_unvaccinated_infant_of_five_months_is_overdue_for_the_two_month_doses() -> None:
    report = vaccination_schedule(date(2026, 1, 1), TODAY, [])
    assert {"dtp-1", "pneumo-1", "hepb-1"} <= keys(report.due, DueStatus.OVERDUE)
    assert "dtp-3" in keys(report.due, DueStatus.UPCOMING)


def test_a_hexavalent_dose_counts_for_each_of_its_antigens() -> None:
    birth = date(2026, 1, 1)
    hexa = codes.vaccine("J07CA09").groups
    report = vaccination_schedule(birth, TODAY, [GivenDose(hexa, date(2026, 3, 1))])
    assert {"dtp-1", "hib-1", "hepb-1"} <= {d.line.key for d in report.done}


def test_the_adult_tetanus_booster_is_due_at_45_and_overdue_after_48() -> None:
    at_45 = vaccination_schedule(date(1981, 5, 1), TODAY, [])
    assert "dtp-7" in keys(at_45.due, DueStatus.DUE)
    at_49 = vaccination_schedule(date(1977, 5, 1), TODAY, [])
    assert "dtp-7" in keys(at_49.due, DueStatus.OVERDUE)


def test_from_75_the_booster_comes_back_every_ten_years() -> None:
    birth = date(1940, 1, 1)  # 86
    given_at_85 = [GivenDose(frozenset({"dtp"}), date(2025, 2, 1))]
    assert "dtp-9" not in keys(vaccination_schedule(birth, TODAY, given_at_85).due)
    given_at_76 = [GivenDose(frozenset({"dtp"}), date(2016, 2, 1))]
    assert "dtp-9" in keys(vaccination_schedule(birth, TODAY, given_at_76).due, DueStatus.DUE)


def test_influenza_is_due_each_year_from_65() -> None:
    birth = date(1950, 3, 1)
    assert "flu-1" in keys(vaccination_schedule(birth, TODAY, []).due, DueStatus.DUE)
    last_autumn = [GivenDose(frozenset({"flu"}), date(2026, 3, 15))]
    report = vaccination_schedule(birth, TODAY, last_autumn)
    assert "flu-1" in keys(report.due, DueStatus.UPCOMING)
    assert "flu-1" not in keys(report.due, DueStatus.DUE)


def test_hpv_catch_up_ends_at_twenty() -> None:
    assert "hpv-1" in keys(vaccination_schedule(date(2008, 1, 1), TODAY, []).due, DueStatus.OVERDUE)
    assert "hpv-1" not in keys(vaccination_schedule(date(2005, 1, 1), TODAY, []).due)


def test_mmr_catch_up_concerns_people_born_since_1980() -> None:
    assert "ror-1" in keys(vaccination_schedule(date(1985, 1, 1), TODAY, []).due)
    assert "ror-1" not in keys(vaccination_schedule(date(1975, 1, 1), TODAY, []).due)


@given(birth=births)
@settings(max_examples=200, deadline=None)
def test_someone_vaccinated_on_time_has_nothing_due_or_overdue(birth: date) -> None:
    report = vaccination_schedule(birth, TODAY, doses_on_time(birth, TODAY))
    assert not keys(report.due, DueStatus.DUE) and not keys(report.due, DueStatus.OVERDUE)


@given(birth=births, days=st.integers(min_value=0, max_value=40_000))
@settings(max_examples=300, deadline=None)
def test_nothing_is_asked_before_its_age_nor_after_its_catch_up(birth: date, days: int) -> None:
    on = min(TODAY, birth + timedelta(days=days))
    report = vaccination_schedule(birth, on, [])
    age = months_between(birth, on)
    for due in report.due:
        line: ScheduleLine = due.line
        if due.status is DueStatus.UPCOMING:
            assert due.due_on > on
        else:
            assert due.due_on <= on and age >= line.age_months
            assert line.until_months is None or age < line.until_months
        if due.status is DueStatus.OVERDUE:
            assert due.overdue_on <= on


@given(birth=births, days=st.integers(min_value=0, max_value=40_000))
@settings(max_examples=200, deadline=None)
def test_a_dose_given_today_never_leaves_its_line_due(birth: date, days: int) -> None:
    on = min(TODAY, birth + timedelta(days=days))
    before = vaccination_schedule(birth, on, [])
    for due in before.due:
        if due.status is DueStatus.UPCOMING:
            continue
        after = vaccination_schedule(birth, on, [GivenDose(frozenset({due.line.group}), on)])
        still = {d.line.key for d in after.due if d.status is not DueStatus.UPCOMING}
        # One dose counts for one line: the first line of its group it fits.
        first = min(
            (d.line for d in before.due if d.line.group == due.line.group and d.status is not DueStatus.UPCOMING),
            key=lambda ln: ln.dose,
        )
        if due.line == first:
            assert due.line.key not in still


@given(start=births, months=st.integers(min_value=0, max_value=1500))
def test_months_between_inverts_add_months(start: date, months: int) -> None:
    assert months_between(start, add_months(start, months)) == months
