"""The access rules that are data, not code: the habilitation matrix (which document classes each
profession may read) and the care-team rules (who may declare "patient informed, did not object",
how long a profession's access lasts by default, who may break the glass).

The matrix is versioned in the database (operators export and import it, `opendmp matrix …`);
version 1 is `opendmp/data/habilitation_matrix.csv`, derived from the 2023 rules (decision 0013).
The care-team rules ship as `opendmp/data/care_team_rules.csv`.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from opendmp.kit.errors import InvalidInput

SIGNATURE_CLASS = "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"
# The DMP class codes (JDV_J57 / TRE_A03) in the order of the matrix's columns.
CLASS_CODES = ("10", "11", "31", "42", "43", "44", "45", "52", "60", "90", "95", SIGNATURE_CLASS)


@dataclass(frozen=True, slots=True)
class HabilitationMatrix:
    version: int
    allowed: frozenset[tuple[str, str]]  # (profession, class code)
    # Each profession's classes, sorted, built once: lists ask for them on every request.
    _by_profession: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        by_profession: dict[str, list[str]] = {}
        for profession, class_code in self.allowed:
            by_profession.setdefault(profession, []).append(class_code)
        object.__setattr__(self, "_by_profession", {p: tuple(sorted(c)) for p, c in by_profession.items()})

    def allows(self, profession: str | None, class_code: str) -> bool:
        return profession is not None and (profession, class_code) in self.allowed

    def classes_for(self, profession: str | None) -> tuple[str, ...]:
        """The classes `profession` may read, sorted."""
        return self._by_profession.get(profession or "", ())

    @property
    def digest(self) -> str:
        text = "\n".join(f"{p},{c}" for p, c in sorted(self.allowed))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_csv(self) -> str:
        professions = sorted({p for p, _ in self.allowed} | set(_known_professions()))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["profession", *CLASS_CODES])
        for profession in professions:
            writer.writerow([profession, *("1" if (profession, c) in self.allowed else "0" for c in CLASS_CODES)])
        return out.getvalue()


def parse_matrix(text: str, version: int = 0) -> HabilitationMatrix:
    """Read the matrix's CSV (one row per profession, one 0/1 column per class code); any
    unknown profession, unknown class or value other than 0/1 is refused with its line."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or header[0] != "profession":
        raise InvalidInput("the matrix must start with a header: profession,<class codes…>", field="line 1")
    unknown = [c for c in header[1:] if c not in CLASS_CODES]
    if unknown:
        raise InvalidInput(f"unknown class code(s) in the header: {', '.join(unknown)}", field="line 1")
    professions = _known_professions()
    allowed: set[tuple[str, str]] = set()
    seen: set[str] = set()
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        profession = row[0].strip()
        if profession not in professions:
            raise InvalidInput(f"unknown profession code {profession!r}", field=f"line {line_no}")
        if profession in seen:
            raise InvalidInput(f"profession {profession} appears twice", field=f"line {line_no}")
        seen.add(profession)
        if len(row) != len(header):
            raise InvalidInput(f"expected {len(header)} columns, found {len(row)}", field=f"line {line_no}")
        for class_code, value in zip(header[1:], row[1:], strict=True):
            if value.strip() not in ("0", "1"):
                raise InvalidInput(f"values are 0 or 1, found {value!r}", field=f"line {line_no}")
            if value.strip() == "1":
                allowed.add((profession, class_code))
    return HabilitationMatrix(version, frozenset(allowed))


@cache
def default_matrix() -> HabilitationMatrix:
    return parse_matrix(_data("habilitation_matrix.csv"), version=1)


@dataclass(frozen=True, slots=True)
class CareTeamRule:
    declares_care_team: bool  # may declare "patient informed and did not object"
    default_window_days: int | None  # None: the holder's default applies
    emergency_access: bool  # may break the glass


@cache
def care_team_rules() -> dict[str, CareTeamRule]:
    rules = {}
    for row in csv.DictReader(io.StringIO(_data("care_team_rules.csv"))):
        window = row["default_window_days"].strip()
        rules[row["profession"]] = CareTeamRule(
            declares_care_team=row["declares_care_team"] == "yes",
            default_window_days=int(window) if window else None,
            emergency_access=row["emergency_access"] == "yes",
        )
    return rules


def care_team_rule(profession: str | None) -> CareTeamRule:
    return care_team_rules().get(profession or "", CareTeamRule(False, None, False))


@cache
def _known_professions() -> frozenset[str]:
    return frozenset(row["code"] for row in csv.DictReader(io.StringIO(_data("professions.csv"))))


def _data(name: str) -> str:
    return resources.files("opendmp.data").joinpath(name).read_text(encoding="utf-8")
