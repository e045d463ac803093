"""INS rules: NIR keys (INSEE), Corsica, and the agreement between the NIR and the traits."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendmp.identity.ins import (
    Gender,
    InsSystem,
    StrictTraits,
    check_traits_against_nir,
    nir_key,
    parse_ins,
    validate_nir,
)
from opendmp.kit.errors import InvalidInput

departments = st.one_of(
    st.integers(1, 95).map(lambda d: f"{d:02d}").filter(lambda d: d != "20"), st.sampled_from(["2A", "2B", "99"])
)
nir13s = st.builds(
    lambda sex, year, month, dep, commune, order: f"{sex}{year:02d}{month:02d}{dep}{commune:03d}{order:03d}",
    st.sampled_from([1, 2]),
    st.integers(0, 99),
    st.integers(1, 12),
    departments,
    st.integers(1, 999),
    st.integers(1, 999),
)


def with_key(nir13: str) -> str:
    return f"{nir13}{nir_key(nir13):02d}"


@given(nir13s)
def test_a_nir_with_its_computed_key_is_accepted(nir13: str) -> None:
    assert validate_nir(with_key(nir13)) == with_key(nir13)


@given(nir13s, st.data())
def test_every_single_digit_alteration_of_a_nir_is_refused(nir13: str, data: st.DataObject) -> None:
    nir = with_key(nir13)
    digits = [i for i, c in enumerate(nir) if c.isdigit()]
    position = data.draw(st.sampled_from(digits))
    replacement = data.draw(st.sampled_from([d for d in "0123456789" if d != nir[position]]))
    altered = nir[:position] + replacement + nir[position + 1 :]
    with pytest.raises(InvalidInput):
        validate_nir(altered)


def test_corsican_departments_count_as_19_and_18_in_the_key() -> None:
    assert nir_key("180052A004123") == 97 - int("1800519004123") % 97
    assert nir_key("180052B033123") == 97 - int("1800518033123") % 97


def test_spaces_and_dots_printed_on_the_card_are_ignored() -> None:
    nir = with_key("2800575056123")
    spaced = f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}"
    assert validate_nir(spaced) == nir


@pytest.mark.parametrize("bad", ["", "123", "2800575056123", "A80057505612345", "5800575056123" + "00"])
def test_malformed_nirs_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        validate_nir(bad)


def test_unknown_oids_are_refused_and_known_ones_map_to_their_system() -> None:
    nir = with_key("2800575056123")
    assert parse_ins("urn:oid:1.2.250.1.213.1.4.8", nir).system is InsSystem.NIR
    assert parse_ins("urn:oid:1.2.250.1.213.1.4.11", nir).system is InsSystem.DEMO_NIR
    with pytest.raises(InvalidInput):
        parse_ins("urn:oid:1.2.3.4", nir)


def traits(**kw: object) -> StrictTraits:
    base: dict[str, object] = {
        "birth_family": "MARTIN",
        "given_names": "CLAIRE",
        "birth_date": date(1980, 5, 17),
        "gender": Gender.FEMALE,
        "birthplace_code": "75056",
    }
    base.update(kw)
    return StrictTraits(**base)  # type: ignore[arg-type]


NIR = with_key("2800575056123")


def test_traits_that_agree_with_the_nir_are_accepted() -> None:
    check_traits_against_nir(NIR, traits())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"gender": Gender.MALE}, "gender"),
        ({"birth_date": date(1981, 5, 17)}, "birthDate"),
        ({"birth_date": date(1980, 6, 17)}, "birthDate"),
        ({"birthplace_code": "69123"}, "birthPlace"),
    ],
)
def test_traits_that_contradict_the_nir_are_refused_naming_the_trait(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_traits_against_nir(NIR, traits(**change))
    assert refused.value.field == field


def test_months_20_and_above_mean_an_unknown_birth_month() -> None:
    check_traits_against_nir(with_key("2803075056123"), traits(birth_date=date(1980, 11, 2)))


def test_people_born_abroad_have_99_and_the_country_code() -> None:
    check_traits_against_nir(with_key("2800599350123"), traits(birthplace_code="99350"))


def test_people_born_in_corsica_before_1976_keep_department_20() -> None:
    check_traits_against_nir(with_key("2700520004123"), traits(birth_date=date(1970, 5, 1), birthplace_code="2A004"))


def test_overseas_birthplaces_use_three_digit_departments() -> None:
    check_traits_against_nir(with_key("2800597411123"), traits(birthplace_code="97411"))
