"""The shipped code lists of patient content (src/opendmp/data/content_codes.csv, vaccines.csv):
a coding outside them is refused with the field named, text alone stays allowed."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from opendmp.kit.errors import InvalidInput

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ATC = "http://www.whocc.no/atc"
BLOOD_GROUP_LOINC = "882-1"  # ABO and Rh group [Type] in Blood


@dataclass(frozen=True, slots=True)
class Code:
    use: str
    system: str
    code: str
    display_fr: str
    display_en: str


@dataclass(frozen=True, slots=True)
class Vaccine:
    code: str
    display_fr: str
    display_en: str
    groups: frozenset[str]

    @property
    def system(self) -> str:
        return ATC


def read_data(name: str) -> list[dict[str, str]]:
    """A shipped CSV, its leading `#` lines (the source note) skipped."""
    text = resources.files("opendmp.data").joinpath(name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


@cache
def _codes() -> dict[tuple[str, str, str], Code]:
    return {(r["use"], r["system"], r["code"]): Code(**r) for r in read_data("content_codes.csv")}


@cache
def vaccines() -> dict[str, Vaccine]:
    return {
        r["code"]: Vaccine(r["code"], r["display_fr"], r["display_en"], frozenset(r["groups"].split()))
        for r in read_data("vaccines.csv")
    }


def codes_for(use: str) -> list[Code]:
    return [c for (u, _, _), c in _codes().items() if u == use]


def known(use: str, system: str, code: str, *, field: str) -> Code:
    """The shipped code, or a refusal naming the field and what is accepted."""
    found = _codes().get((use, system, code))
    if found is None:
        systems = sorted({c.system for c in codes_for(use)})
        raise InvalidInput(
            f"unknown code {system}|{code} (accepted: the {use} codes of {', '.join(systems)})", field=field
        )
    return found


def vaccine(code: str, system: str = ATC, *, field: str = "Immunization.vaccineCode") -> Vaccine:
    found = vaccines().get(code) if system == ATC else None
    if found is None:
        raise InvalidInput(
            f"unknown vaccine code {system}|{code} (accepted: ATC J07 codes of the shipped list)", field=field
        )
    return found
