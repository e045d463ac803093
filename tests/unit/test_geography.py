"""Reference geography: regions, departments and birthplaces."""

from __future__ import annotations

from opendmp.identity.geography import (
    DEPARTMENTS,
    FOREIGN_COUNTRIES,
    REGIONS,
    department_of_birthplace,
    is_department,
    region_of,
)


def test_there_are_18_regions() -> None:
    assert len(REGIONS) == 18


def test_there_are_101_departments() -> None:
    expected = {f"{n:02d}" for n in range(1, 96) if n != 20} | {"2A", "2B", "971", "972", "973", "974", "976"}
    assert set(DEPARTMENTS) == expected
    assert len(DEPARTMENTS) == 101


def test_departments_are_keyed_by_their_own_code() -> None:
    assert all(code == department.code for code, department in DEPARTMENTS.items())


def test_every_department_belongs_to_a_known_region() -> None:
    assert all(department.region in REGIONS for department in DEPARTMENTS.values())


def test_every_region_has_at_least_one_department() -> None:
    assert {department.region for department in DEPARTMENTS.values()} == set(REGIONS)


def test_chef_lieu_codes_start_with_their_department() -> None:
    for department in DEPARTMENTS.values():
        assert len(department.chef_lieu) == 5
        assert department.chef_lieu.startswith(department.code)


def test_chef_lieu_maps_back_to_its_department() -> None:
    for department in DEPARTMENTS.values():
        assert department_of_birthplace(department.chef_lieu) == department.code


def test_populations_are_positive_and_total_is_about_68_million() -> None:
    assert all(department.population > 0 for department in DEPARTMENTS.values())
    total = sum(department.population for department in DEPARTMENTS.values())
    assert 66_000_000 < total < 70_000_000


def test_known_prefectures() -> None:
    assert DEPARTMENTS["75"].chef_lieu == "75056"
    assert DEPARTMENTS["01"].chef_lieu == "01053"
    assert DEPARTMENTS["2A"].chef_lieu == "2A004"
    assert DEPARTMENTS["974"].chef_lieu == "97411"


def test_foreign_country_codes_are_99_plus_three_digits() -> None:
    assert len(FOREIGN_COUNTRIES) >= 20
    for code in FOREIGN_COUNTRIES:
        assert len(code) == 5
        assert code.startswith("99")
        assert code[2:].isdigit()
    assert FOREIGN_COUNTRIES["99350"] == "Maroc"


def test_region_of_known_and_unknown_departments() -> None:
    assert region_of("75") == "11"
    assert region_of("2B") == "94"
    assert region_of("976") == "06"
    assert region_of("20") is None
    assert region_of("99") is None


def test_overseas_birthplaces_map_to_three_character_departments() -> None:
    assert department_of_birthplace("97411") == "974"
    assert department_of_birthplace("97105") == "971"


def test_metropolitan_birthplaces_map_to_two_character_departments() -> None:
    assert department_of_birthplace("75056") == "75"
    assert department_of_birthplace("2A004") == "2A"


def test_births_abroad_have_no_department() -> None:
    assert department_of_birthplace("99350") is None


def test_is_department() -> None:
    assert is_department("2A")
    assert is_department("971")
    assert not is_department("20")
    assert not is_department("975")
