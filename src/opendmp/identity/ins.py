"""INS: the national health identifier, NIR or NIA + OID + the five strict traits.

NIR layout (13 characters + 2-digit key): sex (1), birth year (2), birth month (2),
birth department (2; `2A`/`2B` for Corsica), commune (3), order number (3). The key is
97 − (NIR mod 97), with `2A` read as 19 and `2B` as 18 (INSEE rules). Characters 6 to 10
of the NIR are the INSEE code of the birthplace (department + commune, or 99 + country code
for people born abroad; the overseas departments use three digits + two).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from opendmp.kit.errors import InvalidInput


class InsSystem(StrEnum):
    """OIDs of the INS identifier systems (ANS, référentiel INS)."""

    NIR = "1.2.250.1.213.1.4.8"
    NIA = "1.2.250.1.213.1.4.9"
    TEST_NIR = "1.2.250.1.213.1.4.10"
    DEMO_NIR = "1.2.250.1.213.1.4.11"

    @property
    def uri(self) -> str:
        return f"urn:oid:{self.value}"

    @classmethod
    def from_uri(cls, uri: str) -> InsSystem:
        oid = uri.removeprefix("urn:oid:")
        for system in cls:
            if system.value == oid:
                return system
        raise InvalidInput(f"unknown INS identifier system {uri!r}", field="identifier.system")


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"


_NIR_RE = re.compile(r"^[1-478][0-9]{2}[0-9]{2}(?:[0-9]{2}|2A|2B)[0-9]{6}[0-9]{2}$")
_BIRTHPLACE_RE = re.compile(r"^(?:[0-9]{2}|2A|2B)[0-9]{3}$")


def _numeric(nir13: str) -> int:
    return int(nir13.replace("2A", "19").replace("2B", "18"))


def nir_key(nir13: str) -> int:
    """The control key of a 13-character NIR: 97 − (NIR mod 97)."""
    if len(nir13) != 13:
        raise ValueError("a NIR without its key has 13 characters")
    return 97 - _numeric(nir13) % 97


def normalise_nir(text: str) -> str:
    """Spaces and dots as printed on the carte Vitale are allowed; letters are upper-cased."""
    return re.sub(r"[\s.]", "", text).upper()


def validate_nir(text: str, *, field: str = "identifier.value") -> str:
    """Return the normalised 15-character NIR or NIA, or raise InvalidInput naming what is wrong."""
    nir = normalise_nir(text)
    if len(nir) != 15:
        raise InvalidInput(f"a NIR has 15 characters (13 + a 2-digit key), got {len(nir)}", field=field)
    if not _NIR_RE.match(nir):
        raise InvalidInput(
            "a NIR is made of digits (2A or 2B for Corsica) starting with 1, 2, 3, 4, 7 or 8", field=field
        )
    if int(nir[13:]) != nir_key(nir[:13]):
        raise InvalidInput("the NIR key does not match (97 − NIR mod 97)", field=field)
    return nir


@dataclass(frozen=True, slots=True)
class StrictTraits:
    """The five strict INS traits (référentiel INS): birth name, birth given names, birth date,
    sex, INSEE birthplace code."""

    birth_family: str
    given_names: str
    birth_date: date
    gender: Gender
    birthplace_code: str

    def normalised(self) -> StrictTraits:
        return StrictTraits(
            birth_family=normalise_name(self.birth_family),
            given_names=normalise_name(self.given_names),
            birth_date=self.birth_date,
            gender=self.gender,
            birthplace_code=self.birthplace_code.upper(),
        )


def normalise_name(name: str) -> str:
    """INS names are upper-case, single spaces (the trait comparison is exact on this form)."""
    return " ".join(name.upper().split())


def validate_birthplace(code: str, *, field: str = "birthPlace") -> str:
    code = code.strip().upper()
    if not _BIRTHPLACE_RE.match(code):
        raise InvalidInput(
            "the INSEE birthplace code has 5 characters (department + commune, or 99 + country code)", field=field
        )
    return code


def check_traits_against_nir(nir: str, traits: StrictTraits) -> None:
    """The NIR encodes sex, birth year and month and birthplace: they must agree with the traits."""
    sex_digit = nir[0]
    expected = Gender.MALE if sex_digit in "137" else Gender.FEMALE
    if traits.gender is not expected:
        raise InvalidInput(
            f"gender {traits.gender.value} does not match the NIR's sex digit {sex_digit}", field="gender"
        )
    if int(nir[1:3]) != traits.birth_date.year % 100:
        raise InvalidInput("the birth year does not match the NIR", field="birthDate")
    month = int(nir[3:5])
    # Months 20 and above are used when the birth month is unknown (INSEE): nothing to compare.
    if month < 20 and month != traits.birth_date.month:
        raise InvalidInput("the birth month does not match the NIR", field="birthDate")
    nir_place = nir[5:10]
    place = traits.birthplace_code
    if nir_place == place:
        return
    # People born in Corsica before 1976 keep department 20 in their NIR.
    if nir_place[:2] == "20" and place[:2] in ("2A", "2B") and nir_place[2:] == place[2:]:
        return
    raise InvalidInput("the birthplace code does not match the NIR's department and commune", field="birthPlace")


@dataclass(frozen=True, slots=True)
class Ins:
    system: InsSystem
    value: str

    @property
    def token(self) -> str:
        return f"{self.system.uri}|{self.value}"


def parse_ins(system_uri: str, value: str) -> Ins:
    system = InsSystem.from_uri(system_uri)
    return Ins(system, validate_nir(value))
