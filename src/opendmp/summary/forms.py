"""The VSM and DLU forms as typed inputs, their validation and their JSON shape.

Validation collects every problem at once, each naming its field as a path into the form
(`antecedents[1].date`), so a form (the portal's, or software's JSON) can show them all next to
their fields. Rules: mandatory fields, closed lists of codes, code formats (CIM-10, ATC,
CIP13/UCD13), no date in the future, bounded lengths."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar

from opendmp.kit.errors import InvalidInput

MAX_TEXT = 2000
MAX_LABEL = 200
MAX_ITEMS = 100


class AntecedentKind(StrEnum):
    MEDICAL = "medical"
    SURGICAL = "surgical"
    FAMILY = "family"


class Severity(StrEnum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


# Cardiovascular and general risk factors a GP records in the VSM (closed list: a code outside
# it is an error, free details go in `comments`).
RISK_FACTORS: Mapping[str, str] = {
    "tobacco": "Tabagisme",
    "alcohol": "Consommation d'alcool à risque",
    "hypertension": "Hypertension artérielle",
    "diabetes": "Diabète",
    "dyslipidaemia": "Dyslipidémie",
    "obesity": "Obésité",
    "sedentary": "Sédentarité",
    "family-cardiovascular": "Antécédents familiaux cardiovasculaires",
    "occupational-exposure": "Exposition professionnelle",
    "fall-risk": "Risque de chute",
}

CIM10 = re.compile(r"[A-Z][0-9]{2}(\.?[0-9A-Z]{1,4})?")  # CIM-10 (ICD-10 as used in France)
ATC = re.compile(r"[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?")  # an ATC class or substance
CIP_UCD = re.compile(r"[0-9]{13}")  # CIP13 (a pack) or UCD13 (a dispensing unit)
PHONE = re.compile(r"\+?[0-9][0-9 .\-]{7,18}[0-9]")


@dataclass(frozen=True, slots=True)
class Antecedent:
    kind: AntecedentKind
    label: str
    code: str | None = None  # CIM-10
    since: date | None = None


@dataclass(frozen=True, slots=True)
class Treatment:
    label: str  # the medicine, as prescribed
    dosage: str | None = None
    code: str | None = None  # ATC, CIP13 or UCD13
    since: date | None = None


@dataclass(frozen=True, slots=True)
class Allergy:
    substance: str
    reaction: str | None = None
    severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    phone: str | None = None
    relationship: str | None = None  # the trusted person's link to the resident


@dataclass(frozen=True, slots=True)
class RecentEvent:
    on: date
    description: str


@dataclass(frozen=True, slots=True)
class VsmIn:
    """The médecin traitant's summary: antecedents, usual treatment, allergies (or none known),
    risk factors, vaccination notes, care plan and comments."""

    antecedents: tuple[Antecedent, ...] = ()
    treatments: tuple[Treatment, ...] = ()
    allergies: tuple[Allergy, ...] = ()
    no_known_allergies: bool = False
    risk_factors: tuple[str, ...] = ()
    vaccination_notes: str | None = None
    care_plan: str | None = None
    comments: str | None = None


@dataclass(frozen=True, slots=True)
class DluIn:
    """The EHPAD's emergency liaison file: who to call, what the emergency team must know."""

    ehpad_phone: str
    antecedents: tuple[Antecedent, ...] = ()
    treatments: tuple[Treatment, ...] = ()
    allergies: tuple[Allergy, ...] = ()
    no_known_allergies: bool = False
    trusted_person: Contact | None = None
    family_contact: Contact | None = None
    medecin_traitant: Contact | None = None
    gir: int | None = None  # AGGIR dependency group, 1 (most dependent) to 6
    autonomy_notes: str | None = None
    advance_directives: bool = False  # the resident wrote advance directives
    advance_directives_location: str | None = None
    recent_events: tuple[RecentEvent, ...] = ()
    comments: str | None = None


@dataclass(slots=True)
class Issues:
    """The problems found, by field path."""

    found: list[tuple[str, str]] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.found.append((path, message))


class FormInvalid(InvalidInput):
    """A form with one or more problems; `issues` names each field."""

    def __init__(self, issues: list[tuple[str, str]]) -> None:
        first_field, first_message = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(f"{first_message}{more}", field=first_field)
        self.issues = issues


# ---------------------------------------------------------------- validation


def _text(issues: Issues, path: str, value: str | None, *, required: bool = False, limit: int = MAX_TEXT) -> None:
    if value is None or not value.strip():
        if required:
            issues.add(path, "this field is required")
        return
    if len(value) > limit:
        issues.add(path, f"at most {limit} characters")


def _past(issues: Issues, path: str, value: date | None, today: date) -> None:
    if value is not None and value > today:
        issues.add(path, f"{value.isoformat()} is in the future")


def _many(issues: Issues, path: str, items: tuple[Any, ...]) -> None:
    if len(items) > MAX_ITEMS:
        issues.add(path, f"at most {MAX_ITEMS} entries")


def _medical(issues: Issues, form: VsmIn | DluIn, today: date) -> None:
    _many(issues, "antecedents", form.antecedents)
    for n, antecedent in enumerate(form.antecedents):
        path = f"antecedents[{n}]"
        _text(issues, f"{path}.label", antecedent.label, required=True, limit=MAX_LABEL)
        if antecedent.code is not None and not CIM10.fullmatch(antecedent.code):
            issues.add(f"{path}.code", f"{antecedent.code!r} is not a CIM-10 code")
        _past(issues, f"{path}.since", antecedent.since, today)
    _many(issues, "treatments", form.treatments)
    for n, treatment in enumerate(form.treatments):
        path = f"treatments[{n}]"
        _text(issues, f"{path}.label", treatment.label, required=True, limit=MAX_LABEL)
        _text(issues, f"{path}.dosage", treatment.dosage, limit=MAX_LABEL)
        if treatment.code is not None and not (ATC.fullmatch(treatment.code) or CIP_UCD.fullmatch(treatment.code)):
            issues.add(f"{path}.code", f"{treatment.code!r} is neither an ATC code nor a CIP13/UCD13 code")
        _past(issues, f"{path}.since", treatment.since, today)
    _many(issues, "allergies", form.allergies)
    for n, allergy in enumerate(form.allergies):
        _text(issues, f"allergies[{n}].substance", allergy.substance, required=True, limit=MAX_LABEL)
        _text(issues, f"allergies[{n}].reaction", allergy.reaction, limit=MAX_LABEL)
    # Saying nothing about allergies is not saying there are none: one of the two is required.
    if form.allergies and form.no_known_allergies:
        issues.add("no_known_allergies", "allergies are listed: 'no known allergies' cannot be ticked")
    if not form.allergies and not form.no_known_allergies:
        issues.add("allergies", "list the allergies, or tick 'no known allergies'")
    _text(issues, "comments", form.comments)


def validate_vsm(form: VsmIn, today: date) -> None:
    issues = Issues()
    _medical(issues, form, today)
    if not form.antecedents and not form.treatments:
        issues.add("antecedents", "a VSM lists at least one antecedent or one usual treatment")
    for n, code in enumerate(form.risk_factors):
        if code not in RISK_FACTORS:
            issues.add(f"risk_factors[{n}]", f"unknown risk factor {code!r} (known: {', '.join(RISK_FACTORS)})")
    if len(set(form.risk_factors)) != len(form.risk_factors):
        issues.add("risk_factors", "a risk factor is listed twice")
    _text(issues, "vaccination_notes", form.vaccination_notes)
    _text(issues, "care_plan", form.care_plan)
    if issues.found:
        raise FormInvalid(issues.found)


def _contact(issues: Issues, path: str, contact: Contact | None, *, phone_required: bool) -> None:
    if contact is None:
        return
    _text(issues, f"{path}.name", contact.name, required=True, limit=MAX_LABEL)
    _text(issues, f"{path}.relationship", contact.relationship, limit=MAX_LABEL)
    if contact.phone is None and phone_required:
        issues.add(f"{path}.phone", "this field is required")
    elif contact.phone is not None and not PHONE.fullmatch(contact.phone.strip()):
        issues.add(f"{path}.phone", f"{contact.phone!r} is not a phone number")


def validate_dlu(form: DluIn, today: date) -> None:
    issues = Issues()
    _medical(issues, form, today)
    if not PHONE.fullmatch(form.ehpad_phone.strip()):
        issues.add("ehpad_phone", "the EHPAD's phone number is required (the emergency team calls it)")
    _contact(issues, "trusted_person", form.trusted_person, phone_required=True)
    _contact(issues, "family_contact", form.family_contact, phone_required=True)
    _contact(issues, "medecin_traitant", form.medecin_traitant, phone_required=False)
    if form.gir is not None and not 1 <= form.gir <= 6:
        issues.add("gir", "the AGGIR group is between 1 and 6")
    _text(issues, "autonomy_notes", form.autonomy_notes)
    if form.advance_directives_location and not form.advance_directives:
        issues.add("advance_directives_location", "a location is given but no advance directives are declared")
    _text(issues, "advance_directives_location", form.advance_directives_location, limit=MAX_LABEL)
    _many(issues, "recent_events", form.recent_events)
    for n, event in enumerate(form.recent_events):
        _text(issues, f"recent_events[{n}].description", event.description, required=True, limit=MAX_LABEL)
        _past(issues, f"recent_events[{n}].on", event.on, today)
    if issues.found:
        raise FormInvalid(issues.found)


# ---------------------------------------------------------------- JSON in and out


def to_json(form: VsmIn | DluIn) -> dict[str, Any]:
    """The form as JSON (dates ISO 8601, absent values left out): the structured copy's shape,
    and the shape the FHIR operations take."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None and v != [] and v != ()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        if isinstance(value, date):
            return value.isoformat()
        return value

    result: dict[str, Any] = clean(asdict(form))
    return result


T = TypeVar("T")


class _Reader:
    """Reads a JSON object into the form's dataclasses, noting every problem by path."""

    def __init__(self, issues: Issues) -> None:
        self.issues = issues

    def obj(self, data: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(data, dict):
            self.issues.add(path or "body", "expected a JSON object")
            return {}
        return data

    def text(self, data: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                self.issues.add(f"{path}{key}", "this field is required")
            return None
        if not isinstance(value, str):
            self.issues.add(f"{path}{key}", "expected text")
            return None
        return value.strip() or None

    def flag(self, data: Mapping[str, Any], key: str, path: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            self.issues.add(f"{path}{key}", "expected true or false")
            return False
        return value

    def day(self, data: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> date | None:
        value = self.text(data, key, path, required=required)
        if value is None:
            return None
        try:
            return date.fromisoformat(value) if len(value) == 10 else _bad_date()
        except ValueError:
            self.issues.add(f"{path}{key}", f"{value!r} is not a date (YYYY-MM-DD)")
            return None

    def choice(self, data: Mapping[str, Any], key: str, path: str, kind: type[StrEnum], *, required: bool) -> Any:
        value = self.text(data, key, path, required=required)
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            known = ", ".join(k.value for k in kind)
            self.issues.add(f"{path}{key}", f"unknown value {value!r} (known: {known})")
            return None

    def items(
        self, data: Mapping[str, Any], key: str, read: Callable[[Mapping[str, Any], str], T | None]
    ) -> tuple[T, ...]:
        values = data.get(key) or []
        if not isinstance(values, list):
            self.issues.add(key, "expected a list")
            return ()
        found = []
        for n, value in enumerate(values):
            item = read(self.obj(value, f"{key}[{n}]"), f"{key}[{n}].")
            if item is not None:
                found.append(item)
        return tuple(found)

    def unknown(self, data: Mapping[str, Any], known: set[str], path: str = "") -> None:
        for key in sorted(set(data) - known):
            self.issues.add(f"{path}{key}", "unknown field")


def _bad_date() -> date:
    raise ValueError


def _antecedent(r: _Reader) -> Callable[[Mapping[str, Any], str], Antecedent | None]:
    def read(data: Mapping[str, Any], path: str) -> Antecedent | None:
        r.unknown(data, {"kind", "label", "code", "since"}, path)
        kind = r.choice(data, "kind", path, AntecedentKind, required=True)
        code = r.text(data, "code", path)
        return (
            Antecedent(
                kind, r.text(data, "label", path) or "", code.upper() if code else None, r.day(data, "since", path)
            )
            if kind
            else None
        )

    return read


def _treatment(r: _Reader) -> Callable[[Mapping[str, Any], str], Treatment | None]:
    def read(data: Mapping[str, Any], path: str) -> Treatment | None:
        r.unknown(data, {"label", "dosage", "code", "since"}, path)
        return Treatment(
            r.text(data, "label", path) or "",
            r.text(data, "dosage", path),
            r.text(data, "code", path),
            r.day(data, "since", path),
        )

    return read


def _allergy(r: _Reader) -> Callable[[Mapping[str, Any], str], Allergy | None]:
    def read(data: Mapping[str, Any], path: str) -> Allergy | None:
        r.unknown(data, {"substance", "reaction", "severity"}, path)
        return Allergy(
            r.text(data, "substance", path) or "",
            r.text(data, "reaction", path),
            r.choice(data, "severity", path, Severity, required=False),
        )

    return read


def _contact_of(r: _Reader, data: Mapping[str, Any], key: str) -> Contact | None:
    value = data.get(key)
    if value is None:
        return None
    contact = r.obj(value, key)
    path = f"{key}."
    r.unknown(contact, {"name", "phone", "relationship"}, path)
    return Contact(
        r.text(contact, "name", path) or "", r.text(contact, "phone", path), r.text(contact, "relationship", path)
    )


def _merged(issues: Issues, validate: Callable[[], None]) -> None:
    """Every problem at once: the form's rules run on what could be read, and their findings
    join the reading's (one issue per field)."""
    try:
        validate()
    except FormInvalid as invalid:
        seen = {path for path, _ in issues.found}
        issues.found += [(path, message) for path, message in invalid.issues if path not in seen]
    if issues.found:
        raise FormInvalid(issues.found)


def vsm_from_json(data: Any, today: date) -> VsmIn:
    """A VSM form from JSON, checked, or FormInvalid naming every field at fault."""
    issues = Issues()
    r = _Reader(issues)
    body = r.obj(data, "")
    r.unknown(
        body,
        {
            "antecedents",
            "treatments",
            "allergies",
            "no_known_allergies",
            "risk_factors",
            "vaccination_notes",
            "care_plan",
            "comments",
        },
    )
    risks = body.get("risk_factors") or []
    if not isinstance(risks, list) or not all(isinstance(x, str) for x in risks):
        issues.add("risk_factors", "expected a list of codes")
        risks = []
    form = VsmIn(
        antecedents=r.items(body, "antecedents", _antecedent(r)),
        treatments=r.items(body, "treatments", _treatment(r)),
        allergies=r.items(body, "allergies", _allergy(r)),
        no_known_allergies=r.flag(body, "no_known_allergies", ""),
        risk_factors=tuple(risks),
        vaccination_notes=r.text(body, "vaccination_notes", ""),
        care_plan=r.text(body, "care_plan", ""),
        comments=r.text(body, "comments", ""),
    )
    _merged(issues, lambda: validate_vsm(form, today))
    return form


def dlu_from_json(data: Any, today: date) -> DluIn:
    """A DLU form from JSON, checked, or FormInvalid naming every field at fault."""
    issues = Issues()
    r = _Reader(issues)
    body = r.obj(data, "")
    r.unknown(
        body,
        {
            "ehpad_phone", "antecedents", "treatments", "allergies", "no_known_allergies", "trusted_person",
            "family_contact", "medecin_traitant", "gir", "autonomy_notes", "advance_directives",
            "advance_directives_location", "recent_events", "comments",
        },
    )  # fmt: skip
    gir = body.get("gir")
    if gir is not None and (isinstance(gir, bool) or not isinstance(gir, int)):
        issues.add("gir", "expected a number from 1 to 6")
        gir = None

    def event(data: Mapping[str, Any], path: str) -> RecentEvent | None:
        r.unknown(data, {"on", "description"}, path)
        on = r.day(data, "on", path, required=True)
        return RecentEvent(on, r.text(data, "description", path) or "") if on else None

    form = DluIn(
        ehpad_phone=r.text(body, "ehpad_phone", "", required=True) or "",
        antecedents=r.items(body, "antecedents", _antecedent(r)),
        treatments=r.items(body, "treatments", _treatment(r)),
        allergies=r.items(body, "allergies", _allergy(r)),
        no_known_allergies=r.flag(body, "no_known_allergies", ""),
        trusted_person=_contact_of(r, body, "trusted_person"),
        family_contact=_contact_of(r, body, "family_contact"),
        medecin_traitant=_contact_of(r, body, "medecin_traitant"),
        gir=gir,
        autonomy_notes=r.text(body, "autonomy_notes", ""),
        advance_directives=r.flag(body, "advance_directives", ""),
        advance_directives_location=r.text(body, "advance_directives_location", ""),
        recent_events=r.items(body, "recent_events", event),
        comments=r.text(body, "comments", ""),
    )
    _merged(issues, lambda: validate_dlu(form, today))
    return form
