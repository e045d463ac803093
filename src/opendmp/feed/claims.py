"""Claim lines as the insurer sends them, read as a stream (NDJSON or CSV) and checked line by line.

One line is one reimbursed act or product. Fields (NDJSON keys, CSV header names):

    claim_id          the insurer's id of the line (unique: re-feeding it adds nothing)
    nir               the patient's NIR, 15 characters with its key
    care_date         YYYY-MM-DD, the date of care or dispensing (never in the future)
    system            CCAM | NGAP | NABM | CIP | UCD | LPP | GHS
    code              the act or product code, in that system's shape
    label             what it is, as the insurer names it
    quantity          units (boxes, acts), 1 when absent
    prescriber_rpps   the prescriber's RPPS (11 digits), if any
    executant_rpps    the professional who did it (11 digits) …
    executant_finess  … or the establishment (9 characters): at least one of the two
    executant_name    how to show the executant
    paid              amount paid, euros with at most 2 decimals
    reimbursed        amount reimbursed by the insurer, at most `paid`

A line that fails is returned as a `Rejected` (line number, reason) and the stream goes on: a bad
line never stops a file nor loses the good lines around it. Memory stays constant: one line at a
time is decoded, whatever the file's size.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

import msgspec

from opendmp.identity.ins import nir_key

# The coding systems a claim line may use, with the shape of their codes. Sources: CCAM (ATIH,
# 4 letters + 3 digits), NGAP letter keys (G, C, CS, V, AMI, TC, …), NABM (4-digit codes), CIP13
# and UCD13 (EAN-13 with its check digit, 34009 / 34008 prefixes), LPP (7 digits), GHS (hospital
# stays, 4 digits; a stay is billed as a GHS by the establishment).
CODE_SHAPES: dict[str, re.Pattern[str]] = {
    "CCAM": re.compile(r"[A-Z]{4}[0-9]{3}"),
    "NGAP": re.compile(r"[A-Z]{1,4}"),
    "NABM": re.compile(r"[0-9]{4}"),
    "CIP": re.compile(r"34009[0-9]{8}"),
    "UCD": re.compile(r"34008[0-9]{8}"),
    "LPP": re.compile(r"[0-9]{7}"),
    "GHS": re.compile(r"[0-9]{4}"),
}
SYSTEMS = frozenset(CODE_SHAPES)
MEDICINE_SYSTEMS = frozenset({"CIP", "UCD", "LPP"})  # grouped by product in the history
FIELDS = (
    "claim_id",
    "nir",
    "care_date",
    "system",
    "code",
    "label",
    "quantity",
    "prescriber_rpps",
    "executant_rpps",
    "executant_finess",
    "executant_name",
    "paid",
    "reimbursed",
)
_CLAIM_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_NIR = re.compile(r"[1-478][0-9]{4}(?:[0-9]{2}|2A|2B)[0-9]{8}")
_RPPS = re.compile(r"[0-9]{11}")
_FINESS = re.compile(r"(?:[0-9]{2}|2A|2B)[0-9]{7}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_AMOUNT = re.compile(r"([0-9]{1,7})(?:\.([0-9]{1,2}))?")
MAX_LABEL = 200
MAX_LINE_BYTES = 4096  # a claim line is a few hundred bytes: longer is not a claim line
EARLIEST_CARE = date(2000, 1, 1)


class Claim(msgspec.Struct, array_like=True, frozen=True):
    """A checked claim line. Array-like: this is also its stored form (msgpack inside the
    record's encrypted blob), compact and decoded at C speed. The NIR is not kept: the record
    (or the parked row's digest) says whose it is."""

    claim_id: str
    care_date: str  # ISO date, checked
    system: str
    code: str
    label: str
    quantity: int
    prescriber_rpps: str | None
    executant_rpps: str | None
    executant_finess: str | None
    executant_name: str | None
    paid_cents: int
    reimbursed_cents: int


@dataclass(frozen=True, slots=True)
class Line:
    """A good line: where it was, whose it is, what it says."""

    number: int
    nir: str
    claim: Claim


@dataclass(frozen=True, slots=True)
class Rejected:
    number: int
    reason: str
    claim_id: str | None = None


class BadLine(ValueError):
    pass


@functools.lru_cache(maxsize=65_536)  # a file names a few thousand products, again and again
def ean13_ok(code: str) -> bool:
    """The EAN-13 check digit (CIP13 and UCD13 are EAN-13 codes)."""
    total = sum(map(int, code[0:12:2])) + 3 * sum(map(int, code[1:12:2]))
    return (10 - total % 10) % 10 == int(code[12])


def nir_ok(nir: str) -> bool:
    return bool(_NIR.fullmatch(nir)) and int(nir[13:]) == nir_key(nir[:13])


def _text(value: Any, name: str, *, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            raise BadLine(f"{name} is missing")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise BadLine(f"{name} is not text")
    return value.strip() or None if not required else value.strip()


@functools.lru_cache(maxsize=65_536)  # tariffs repeat: most amounts are seen many times
def _cents_of_text(value: str, name: str) -> int:
    return _cents(value, name)


def _cents(value: Any, name: str) -> int:
    if isinstance(value, str):
        text = value.strip().replace(",", ".")
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, float):
        text = f"{value:.2f}" if round(value, 2) == value else repr(value)
    else:
        raise BadLine(f"{name} is missing" if value is None else f"{name} is not an amount")
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise BadLine(f"{name} is not an amount in euros with at most 2 decimals: {text[:20]!r}")
    cents = match[2]
    return int(match[1]) * 100 + (int(cents) * (10 if len(cents) == 1 else 1) if cents else 0)


@functools.lru_cache(maxsize=65_536)  # a file names a few thousand professionals and places
def _shaped(value: str, pattern: re.Pattern[str]) -> bool:
    return pattern.fullmatch(value) is not None


def _optional(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if type(value) is str:
        return value.strip() or None
    return _text(value, name, required=False)


@functools.lru_cache(maxsize=131_072)  # people have many lines: their NIR is checked once
def _checked_nir(nir: str) -> str:
    nir = nir.replace(" ", "").upper()
    if not _NIR.fullmatch(nir):
        raise BadLine("nir: 15 characters (13 + a 2-digit key), digits or 2A/2B")
    if int(nir[13:]) != nir_key(nir[:13]):
        raise BadLine("nir: the key does not match (97 − NIR mod 97)")
    return nir


@functools.lru_cache(maxsize=4096)
def _checked_day(care_text: str, today: date) -> str:
    """The ISO day of a care date, or BadLine (not a day, in the future, before 2000)."""
    if not _DATE.fullmatch(care_text):
        raise BadLine("care_date: YYYY-MM-DD")
    try:
        care = date.fromisoformat(care_text)
    except ValueError:
        raise BadLine(f"care_date: no such day {care_text}") from None
    if care > today:
        raise BadLine(f"care_date: {care_text} is in the future")
    if care < EARLIEST_CARE:
        raise BadLine(f"care_date: {care_text} is before {EARLIEST_CARE.isoformat()}")
    return care.isoformat()


@functools.lru_cache(maxsize=65_536)
def _checked_code(system: str, code: str) -> tuple[str, str]:
    system = system.strip().upper()
    shape = CODE_SHAPES.get(system)
    if shape is None:
        raise BadLine(f"system: unknown code system {system[:20]!r} (one of {', '.join(sorted(SYSTEMS))})")
    code = code.strip().upper()
    if not shape.fullmatch(code):
        raise BadLine(f"code: {code[:20]!r} is not a {system} code")
    if system in ("CIP", "UCD") and not ean13_ok(code):
        raise BadLine(f"code: {code} fails the {system}13 check digit")
    return system, code


_Act = tuple[str, str, str, int, str | None, str | None, str | None, str | None, int, int]


def _check_act(
    system: Any,
    code: Any,
    label: Any,
    quantity: Any,
    prescriber_rpps: Any,
    executant_rpps: Any,
    executant_finess: Any,
    executant_name: Any,
    paid: Any,
    reimbursed: Any,
) -> _Act:
    """What was done, by whom, for how much: every field of a line but its claim id, NIR and day.
    It depends on these values only, so identical acts are checked once (`_checked_act`)."""
    system, code = _checked_code(
        system if type(system) is str and system else _text(system, "system"),
        code if type(code) is str and code else _text(code, "code"),
    )
    label = label.strip() if type(label) is str else _text(label, "label", required=False) or ""
    if len(label) > MAX_LABEL:
        raise BadLine(f"label: at most {MAX_LABEL} characters")
    if quantity is None or quantity == "":
        quantity = 1
    elif isinstance(quantity, str) and quantity.strip().isdigit():
        quantity = int(quantity)
    elif not isinstance(quantity, int) or isinstance(quantity, bool):
        raise BadLine("quantity: a whole number")
    if not 1 <= quantity <= 999:
        raise BadLine("quantity: between 1 and 999")
    prescriber = _optional(prescriber_rpps, "prescriber_rpps")
    if prescriber is not None and not _shaped(prescriber, _RPPS):
        raise BadLine("prescriber_rpps: 11 digits")
    executant = _optional(executant_rpps, "executant_rpps")
    if executant is not None and not _shaped(executant, _RPPS):
        raise BadLine("executant_rpps: 11 digits")
    finess = _optional(executant_finess, "executant_finess")
    if finess is not None:
        finess = finess.upper()
        if not _shaped(finess, _FINESS):
            raise BadLine("executant_finess: 9 characters (department + 7 digits)")
    if executant is None and finess is None:
        raise BadLine("executant_rpps or executant_finess: who did it is missing")
    name = _optional(executant_name, "executant_name")
    if name is not None and len(name) > MAX_LABEL:
        raise BadLine(f"executant_name: at most {MAX_LABEL} characters")
    paid_cents = _cents_of_text(paid, "paid") if type(paid) is str else _cents(paid, "paid")
    reimbursed_cents = (
        _cents_of_text(reimbursed, "reimbursed") if type(reimbursed) is str else _cents(reimbursed, "reimbursed")
    )
    if reimbursed_cents > paid_cents:
        raise BadLine("reimbursed: more than paid")
    return system, code, label, quantity, prescriber, executant, finess, name, paid_cents, reimbursed_cents


# Files repeat acts (the same GP consultation at the same tariff, the same box at the same pharmacy):
# one bounded cache over the whole act. typed=True: 1, 1.0 and True are different inputs here
# (True is not a quantity), and a failed check is never cached (BadLine is raised each time).
_checked_act = functools.lru_cache(maxsize=131_072, typed=True)(_check_act)


def check_values(
    claim_id: Any,
    nir: Any,
    care_date: Any,
    system: Any,
    code: Any,
    label: Any,
    quantity: Any,
    prescriber_rpps: Any,
    executant_rpps: Any,
    executant_finess: Any,
    executant_name: Any,
    paid: Any,
    reimbursed: Any,
    today: date,
) -> tuple[str, Claim]:
    """The NIR and the checked claim of one decoded line, or BadLine naming the field. Only the
    claim id is checked per line; the NIR, the day and the act are checked once per distinct
    value (bounded caches): files repeat them."""
    # Values decoded from JSON or CSV are mostly text: that case is inlined (1 call less per field).
    claim_id = claim_id.strip() if type(claim_id) is str and claim_id else _text(claim_id, "claim_id")
    if not _CLAIM_ID.fullmatch(claim_id):
        raise BadLine("claim_id: 1 to 64 letters, digits or . _ : -")
    checked_nir = _checked_nir(nir if type(nir) is str and nir else _text(nir, "nir"))
    care = _checked_day(care_date if type(care_date) is str and care_date else _text(care_date, "care_date"), today)
    try:
        act = _checked_act(
            system,
            code,
            label,
            quantity,
            prescriber_rpps,
            executant_rpps,
            executant_finess,
            executant_name,
            paid,
            reimbursed,
        )
    except TypeError:  # a JSON list or object among the values: not hashable, checked uncached
        act = _check_act(
            system,
            code,
            label,
            quantity,
            prescriber_rpps,
            executant_rpps,
            executant_finess,
            executant_name,
            paid,
            reimbursed,
        )
    return checked_nir, Claim(claim_id, care, *act)


def check(fields: dict[str, Any], today: date) -> tuple[str, Claim]:
    g = fields.get
    return check_values(
        g("claim_id"),
        g("nir"),
        g("care_date"),
        g("system"),
        g("code"),
        g("label"),
        g("quantity"),
        g("prescriber_rpps"),
        g("executant_rpps"),
        g("executant_finess"),
        g("executant_name"),
        g("paid"),
        g("reimbursed"),
        today,
    )


class _Wire(msgspec.Struct):
    """An NDJSON line as decoded in C: unknown keys ignored, each value typed loosely (the
    checks above say what is wrong in words)."""

    claim_id: Any = None
    nir: Any = None
    care_date: Any = None
    system: Any = None
    code: Any = None
    label: Any = None
    quantity: Any = None
    prescriber_rpps: Any = None
    executant_rpps: Any = None
    executant_finess: Any = None
    executant_name: Any = None
    paid: Any = None
    reimbursed: Any = None


_decode_line = msgspec.json.Decoder(_Wire)


def read_ndjson(stream: IO[bytes], today: date) -> Iterator[Line | Rejected]:
    """One JSON object per line; blank lines are skipped (they still count in line numbers)."""
    decode = _decode_line.decode
    for number, raw in enumerate(stream, start=1):
        if len(raw) > MAX_LINE_BYTES:
            yield Rejected(number, f"the line is longer than {MAX_LINE_BYTES} bytes")
            continue
        try:
            w = decode(raw)
        except msgspec.DecodeError as error:
            if not raw.strip():
                continue
            yield Rejected(number, f"not a JSON object: {error}")
            continue
        try:
            nir, claim = check_values(
                w.claim_id,
                w.nir,
                w.care_date,
                w.system,
                w.code,
                w.label,
                w.quantity,
                w.prescriber_rpps,
                w.executant_rpps,
                w.executant_finess,
                w.executant_name,
                w.paid,
                w.reimbursed,
                today,
            )
        except BadLine as error:
            yield Rejected(number, str(error), w.claim_id if isinstance(w.claim_id, str) else None)
            continue
        yield Line(number, nir, claim)


def _checked(number: int, fields: dict[str, Any], today: date) -> Line | Rejected:
    try:
        nir, claim = check(fields, today)
    except BadLine as error:
        claim_id = fields.get("claim_id")
        return Rejected(number, str(error), claim_id if isinstance(claim_id, str) else None)
    return Line(number, nir, claim)


def read_csv(stream: IO[bytes], today: date) -> Iterator[Line | Rejected]:
    """A header line naming the fields (comma or semicolon separated, UTF-8), then one claim a
    line. Line numbers are the file's (the header is line 1)."""
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="strict", newline="")
    try:
        yield from _csv_lines(text, today)
    finally:
        text.detach()  # the caller's stream stays open (a dropped wrapper would close it)


def _csv_lines(text: io.TextIOWrapper, today: date) -> Iterator[Line | Rejected]:
    try:
        first = text.readline()
    except UnicodeDecodeError:
        yield Rejected(1, "the header is not UTF-8")
        return
    delimiter = ";" if first.count(";") > first.count(",") else ","
    header = [h.strip().lower() for h in next(csv.reader([first], delimiter=delimiter), [])]
    missing = [f for f in ("claim_id", "nir", "care_date", "system", "code", "paid", "reimbursed") if f not in header]
    if missing:
        yield Rejected(1, f"the CSV header lacks {', '.join(missing)}")
        return
    number = 1
    while True:
        try:
            raw = text.readline()
        except UnicodeDecodeError:
            # The rest of the file cannot be split into lines reliably: one reject says so.
            yield Rejected(number + 1, "the file is not UTF-8 from here on")
            return
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            yield Rejected(number, f"the line is longer than {MAX_LINE_BYTES} bytes")
            continue
        if not raw.strip():
            continue
        row = next(csv.reader([raw], delimiter=delimiter), [])
        if len(row) != len(header):
            yield Rejected(number, f"{len(row)} fields where the header names {len(header)}")
            continue
        yield _checked(number, dict(zip(header, row, strict=True)), today)


def read_claims(stream: IO[bytes], today: date, *, kind: str) -> Iterator[Line | Rejected]:
    """`kind` is "ndjson" or "csv" (from the file's name or the caller)."""
    if kind == "csv":
        return read_csv(stream, today)
    return read_ndjson(stream, today)


def kind_of(name: str) -> str:
    return "csv" if name.lower().endswith((".csv", ".csv.gz")) else "ndjson"


def as_record(nir: str, claim: Claim) -> dict[str, Any]:
    """A claim as an NDJSON object (the generator writes these)."""
    return {
        "claim_id": claim.claim_id,
        "nir": nir,
        "care_date": claim.care_date,
        "system": claim.system,
        "code": claim.code,
        "label": claim.label,
        "quantity": claim.quantity,
        "prescriber_rpps": claim.prescriber_rpps,
        "executant_rpps": claim.executant_rpps,
        "executant_finess": claim.executant_finess,
        "executant_name": claim.executant_name,
        "paid": f"{claim.paid_cents // 100}.{claim.paid_cents % 100:02d}",
        "reimbursed": f"{claim.reimbursed_cents // 100}.{claim.reimbursed_cents % 100:02d}",
    }


def lines_of(items: Iterable[Line | Rejected]) -> Iterator[Line]:
    return (i for i in items if isinstance(i, Line))
