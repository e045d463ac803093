"""Import of the public directory extracts: FINESS establishments and RPPS professionals.

Both imports stream their file line by line (memory stays flat whatever the size of the extract),
upsert in batches and flush after each batch; they never commit: the caller owns the transaction.
They are idempotent: importing the same extract again creates and changes nothing.

FINESS (« extraction etalab » of the establishments, semicolon-separated, Latin-1 / Windows-1252
or UTF-8 with or without BOM, double quotes around fields that need them). The first line is a
`finess;etalab;...` heading; every line whose first field is `structureet` describes one
establishment (ET); the other line types (`geolocalisation`...) are skipped. Positional fields:
1 nofinesset, 3 rs, 4 rslongue, 13 departement, 18 categetab. The department is written with
two characters (`2A`/`2B` for Corsica); the extract codes the overseas departments `9A`-`9D`, `9F`
(read as 971-974, 976); three-digit codes (`971`) are accepted too. A department that is not one
of the 101 (Saint-Pierre-et-Miquelon, Wallis-et-Futuna...) is stored as None, like its region.

The category (`categetab`, nomenclature TRE_R66 « Catégorie d'établissement ») gives our `kind`:

    ====  ======================================================================  ===================
    code  FINESS category                                                         kind
    ====  ======================================================================  ===================
    101   Centre hospitalier régional (CHR; the CHU are CHR with a university)    university-hospital
    355   Centre hospitalier (CH)                                                 hospital
    106   Centre hospitalier, ex hôpital local                                    hospital
    114   Hôpital des armées                                                      hospital
    131   Centre de lutte contre le cancer (CLCC)                                 hospital
    292   Centre hospitalier spécialisé lutte maladies mentales (CHS)             hospital
    365   Etablissement de soins pluridisciplinaire (most private clinics)        clinic
    128   Etablissement de soins chirurgicaux                                     clinic
    129   Etablissement de soins médicaux                                         clinic
    122   Etablissement de soins obstétriques et chirurgico-gynécologiques       clinic
    109   Etablissement de santé privé autorisé en SSR                            clinic
    500   Etablissement d'hébergement pour personnes âgées dépendantes (EHPAD)    ehpad
    620   Pharmacie d'officine                                                    pharmacy
    628   Pharmacie minière                                                       pharmacy
    629   Pharmacie mutualiste                                                    pharmacy
    124   Centre de santé                                                         health-centre
    439   Centre de santé polyvalent                                              health-centre
    603   Maison de santé (L.6223-3)                                              health-centre
    611   Laboratoire de biologie médicale (LBM)                                  laboratory
    610   Laboratoire d'analyses (before the 2010 reform of medical biology)      laboratory
    612   Autre laboratoire de biologie médicale sans FSE                         laboratory
    ====  ======================================================================  ===================

Every other category is imported with kind "other". "insurer-office" is never produced: the
insurers' offices are not FINESS establishments (they are added by hand).

RPPS (« PS_LibreAcces_Personne_activite », pipe-separated, UTF-8, a heading line): the columns
are found by their heading, not their position: `Identifiant PP`, `Nom d'exercice`,
`Prénom d'exercice`, `Code profession`, and the optional `Code savoir-faire` (the specialty) and
`Numéro FINESS site`. A person has one line per activity. The professional is upserted by RPPS
number, and an activity links them to the organisation of each FINESS site that is already in
the directory (import FINESS first). Activities are only added, never removed. A line with an
identifier that is not an 11-digit RPPS number (e.g. an ADELI number), an unknown profession
code or no name is rejected with its line number and the reason; the import goes on.

The extract lists the lines of a person together: counts (created, updated, unchanged) are per
person, and a batch is never cut in the middle of a person's lines.

Rows are written with ORM bulk INSERT / UPDATE-by-primary-key statements (no objects are kept in
the session): an Organisation or Professional the caller loaded in the same session beforehand is
not refreshed by the import.
"""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Row, insert, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from opendmp.identity import geography
from opendmp.identity.models import Organisation, Professional, ProfessionalActivity
from opendmp.identity.professions import profession_codes
from opendmp.kit.errors import InvalidInput
from opendmp.kit.ids import new_id

BATCH_SIZE = 1000
MAX_REJECTIONS_KEPT = 10_000  # details kept in the report; every rejection is counted
_IN_CHUNK = 500  # bound parameters per IN (...) query

ProgressCallback = Callable[[int], None]
"""Called after each batch, and once at the end, with the number of bytes of the file read so far."""

DirectoryKind = Literal["finess", "rpps"]

CATEGORY_KINDS: dict[str, str] = {
    "101": "university-hospital",
    "355": "hospital",
    "106": "hospital",
    "114": "hospital",
    "131": "hospital",
    "292": "hospital",
    "365": "clinic",
    "128": "clinic",
    "129": "clinic",
    "122": "clinic",
    "109": "clinic",
    "500": "ehpad",
    "620": "pharmacy",
    "628": "pharmacy",
    "629": "pharmacy",
    "124": "health-centre",
    "439": "health-centre",
    "603": "health-centre",
    "611": "laboratory",
    "610": "laboratory",
    "612": "laboratory",
}
OTHER_KIND = "other"

# The FINESS extract's codes of the overseas departments.
_FINESS_OVERSEAS = {"9A": "971", "9B": "972", "9C": "973", "9D": "974", "9F": "976"}

RPPS_RE = re.compile(r"^[0-9]{11}$")
FINESS_RE = re.compile(r"^(?:[0-9]{2}|2A|2B)[0-9]{7}$")

# Positional fields of a `structureet` line.
_ET_FINESS, _ET_NAME, _ET_LONG_NAME, _ET_DEPARTMENT, _ET_CATEGORY = 1, 3, 4, 13, 18
_ET_MIN_FIELDS = _ET_CATEGORY + 1

# Headings of the RPPS extract.
_COL_ID = "Identifiant PP"
_COL_FAMILY = "Nom d'exercice"
_COL_GIVEN = "Prénom d'exercice"
_COL_PROFESSION = "Code profession"
_COL_SPECIALTY = "Code savoir-faire"
_COL_FINESS_SITE = "Numéro FINESS site"
_RPPS_REQUIRED = (_COL_ID, _COL_FAMILY, _COL_GIVEN, _COL_PROFESSION)
_RPPS_OPTIONAL = (_COL_SPECIALTY, _COL_FINESS_SITE)


@dataclass(slots=True)
class ImportReport:
    """What an import did. `created`/`updated`/`unchanged` count organisations (FINESS) or
    professionals (RPPS); `rejected` lists (line number, reason), at most MAX_REJECTIONS_KEPT of
    them, `rejected_count` counts them all."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    rejected_count: int = 0
    activities_created: int = 0

    def reject(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REJECTIONS_KEPT:
            self.rejected.append((line, reason))


# ---------------------------------------------------------------- reading


def _decode(raw: bytes) -> str:
    """UTF-8 when the line is valid UTF-8, else Windows-1252, else Latin-1 (never fails)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class _Extract:
    """The lines of a file, decoded one by one, with the count of bytes read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bytes_read = 0

    def lines(self) -> Iterator[tuple[int, str]]:
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                self.bytes_read += len(raw)
                text = _decode(raw).rstrip("\r\n")
                yield number, text.removeprefix("\ufeff") if number == 1 else text


def detect_kind(path: str | Path) -> DirectoryKind:
    """Whether a file is a FINESS extract or an RPPS extract, from its first line."""
    with Path(path).open("rb") as handle:
        first = _decode(handle.readline(65_536)).removeprefix("\ufeff").strip()
    if "|" in first and _heading(_COL_ID) in {_heading(name) for name in first.split("|")}:
        return "rpps"
    if first.split(";", 1)[0].strip().lower() in {"finess", "structureet"}:
        return "finess"
    raise InvalidInput(f"{Path(path).name}: neither a FINESS nor an RPPS extract", field="path")


def _heading(name: str) -> str:
    return " ".join(name.replace("’", "'").split()).casefold()


def _fit(value: str, size: int) -> str:
    return value[:size]


def _rows_where_in(
    session: Session,
    columns: Sequence[InstrumentedAttribute[Any]],
    key: InstrumentedAttribute[Any],
    values: Iterable[Any],
) -> Iterator[Row[Any]]:
    """The rows (of `columns`) whose `key` is one of `values`, in IN (...) queries of bounded size."""
    distinct = sorted(set(values))
    for start in range(0, len(distinct), _IN_CHUNK):
        yield from session.execute(select(*columns).where(key.in_(distinct[start : start + _IN_CHUNK])))


def _report_progress(on_progress: ProgressCallback | None, extract: _Extract) -> None:
    if on_progress is not None:
        on_progress(extract.bytes_read)


# ---------------------------------------------------------------- FINESS


@dataclass(frozen=True, slots=True)
class _Establishment:
    finess: str
    name: str
    kind: str
    department: str | None
    region: str | None


def normalise_department(value: str) -> str | None:
    """A department code of the FINESS extract as a COG code ("2a" → "2A", "9A" → "971"), or None
    when it is not one of the 101 departments."""
    code = value.strip().upper()
    code = _FINESS_OVERSEAS.get(code, code)
    if len(code) == 1 and code.isdigit():
        code = "0" + code
    return code if geography.is_department(code) else None


def kind_of_category(category: str) -> str:
    """Our organisation kind for a FINESS category code (see the table above)."""
    return CATEGORY_KINDS.get(category.strip(), OTHER_KIND)


def _parse_establishment(text: str) -> _Establishment | str:
    try:
        fields = next(csv.reader((text,), delimiter=";"))
    except (csv.Error, StopIteration) as error:
        return f"unreadable structureet line: {error}"
    if len(fields) < _ET_MIN_FIELDS:
        return f"structureet line with {len(fields)} fields, expected at least {_ET_MIN_FIELDS}"
    finess = fields[_ET_FINESS].strip().upper()
    if not FINESS_RE.match(finess):
        return f"invalid FINESS number {finess!r}"
    name = " ".join((fields[_ET_LONG_NAME].strip() or fields[_ET_NAME].strip()).split())
    if not name:
        return f"establishment {finess} has no name"
    department = normalise_department(fields[_ET_DEPARTMENT])
    return _Establishment(
        finess=finess,
        name=_fit(name, 200),
        kind=kind_of_category(fields[_ET_CATEGORY]),
        department=department,
        region=geography.region_of(department) if department is not None else None,
    )


def import_finess(
    session: Session,
    path: str | Path,
    on_progress: ProgressCallback | None = None,
    *,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Upsert the establishments of a FINESS extract into the organisations, by FINESS number."""
    report = ImportReport()
    extract = _Extract(Path(path))
    batch: dict[str, _Establishment] = {}
    for number, text in extract.lines():
        if not text.startswith("structureet;"):
            continue
        parsed = _parse_establishment(text)
        if isinstance(parsed, str):
            report.reject(number, parsed)
            continue
        batch[parsed.finess] = parsed
        if len(batch) >= batch_size:
            _save_establishments(session, list(batch.values()), report)
            batch.clear()
            _report_progress(on_progress, extract)
    if batch:
        _save_establishments(session, list(batch.values()), report)
    _report_progress(on_progress, extract)
    return report


def _save_establishments(session: Session, batch: list[_Establishment], report: ImportReport) -> None:
    """Insert the new organisations, update the changed ones (ORM bulk statements: no objects)."""
    columns = (
        Organisation.id,
        Organisation.finess,
        Organisation.name,
        Organisation.kind,
        Organisation.department,
        Organisation.region,
    )
    existing = {
        row.finess: row for row in _rows_where_in(session, columns, Organisation.finess, (e.finess for e in batch))
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for item in batch:
        values = {"name": item.name, "kind": item.kind, "department": item.department, "region": item.region}
        row = existing.get(item.finess)
        if row is None:
            inserts.append({"id": new_id(), "finess": item.finess, **values})
            report.created += 1
        elif (row.name, row.kind, row.department, row.region) != tuple(values.values()):
            updates.append({"id": row.id, **values})
            report.updated += 1
        else:
            report.unchanged += 1
    if inserts:
        session.execute(insert(Organisation), inserts)
    if updates:
        session.execute(update(Organisation), updates)
    session.flush()


# ---------------------------------------------------------------- RPPS


@dataclass(slots=True)
class _Person:
    rpps: str
    profession: str
    family: str
    given: str
    specialty: str | None
    sites: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Columns:
    indexes: dict[str, int]
    required_width: int

    @classmethod
    def from_heading(cls, line: str) -> _Columns:
        positions: dict[str, int] = {}
        for index, name in enumerate(line.split("|")):
            positions.setdefault(_heading(name), index)
        missing = [name for name in _RPPS_REQUIRED if _heading(name) not in positions]
        if missing:
            raise InvalidInput(f"not an RPPS extract: no column {', '.join(repr(m) for m in missing)}", field="path")
        indexes = {
            name: positions[_heading(name)]
            for name in (*_RPPS_REQUIRED, *_RPPS_OPTIONAL)
            if _heading(name) in positions
        }
        return cls(indexes, 1 + max(indexes[name] for name in _RPPS_REQUIRED))

    def get(self, fields: list[str], name: str) -> str:
        index = self.indexes.get(name)
        return fields[index].strip() if index is not None and index < len(fields) else ""


def _parse_person_line(text: str, columns: _Columns, professions: frozenset[str]) -> _Person | str:
    fields = text.split("|")
    if len(fields) < columns.required_width:
        return f"{len(fields)} fields, expected at least {columns.required_width}"
    rpps = columns.get(fields, _COL_ID)
    if not RPPS_RE.match(rpps):
        return f"invalid RPPS number {rpps!r} (11 digits expected)"
    profession = columns.get(fields, _COL_PROFESSION)
    if profession not in professions:
        return f"unknown profession code {profession!r} for RPPS {rpps}"
    family = " ".join(columns.get(fields, _COL_FAMILY).split())
    if not family:
        return f"no name (Nom d'exercice) for RPPS {rpps}"
    site = columns.get(fields, _COL_FINESS_SITE).upper()
    return _Person(
        rpps=rpps,
        profession=profession,
        family=_fit(family, 100),
        given=_fit(" ".join(columns.get(fields, _COL_GIVEN).split()), 100),
        specialty=_fit(columns.get(fields, _COL_SPECIALTY), 20) or None,
        sites={site} if FINESS_RE.match(site) else set(),
    )


def import_rpps(
    session: Session,
    path: str | Path,
    on_progress: ProgressCallback | None = None,
    *,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Upsert the professionals of an RPPS extract by RPPS number, and link them to the
    organisations of their activities."""
    report = ImportReport()
    extract = _Extract(Path(path))
    professions = profession_codes()
    columns: _Columns | None = None
    batch: dict[str, _Person] = {}
    lines_in_batch = 0
    for number, text in extract.lines():
        if columns is None:
            columns = _Columns.from_heading(text)
            continue
        if not text.strip():
            continue
        parsed = _parse_person_line(text, columns, professions)
        if isinstance(parsed, str):
            report.reject(number, parsed)
            continue
        person = batch.get(parsed.rpps)
        if person is None:
            if lines_in_batch >= batch_size:  # a new person: the batch ends between two people
                _save_people(session, list(batch.values()), report)
                batch.clear()
                lines_in_batch = 0
                _report_progress(on_progress, extract)
            batch[parsed.rpps] = parsed
        else:  # another activity of the same person: the first line gives the identity
            person.specialty = person.specialty or parsed.specialty
            person.sites |= parsed.sites
        lines_in_batch += 1
    if columns is None:
        raise InvalidInput(f"{extract.path.name}: empty RPPS extract (no heading line)", field="path")
    if batch:
        _save_people(session, list(batch.values()), report)
    _report_progress(on_progress, extract)
    return report


def _save_people(session: Session, batch: list[_Person], report: ImportReport) -> None:
    """Insert the new professionals, update the changed ones, add the missing activities."""
    columns = (
        Professional.id,
        Professional.rpps,
        Professional.profession,
        Professional.specialty,
        Professional.family,
        Professional.given,
    )
    existing = {row.rpps: row for row in _rows_where_in(session, columns, Professional.rpps, (p.rpps for p in batch))}
    organisations: dict[str, uuid.UUID] = {
        row.finess: row.id
        for row in _rows_where_in(
            session,
            (Organisation.id, Organisation.finess),
            Organisation.finess,
            (site for p in batch for site in p.sites),
        )
    }
    links: set[tuple[uuid.UUID, uuid.UUID]] = {
        (row.professional_id, row.organisation_id)
        for row in _rows_where_in(
            session,
            (ProfessionalActivity.professional_id, ProfessionalActivity.organisation_id),
            ProfessionalActivity.professional_id,
            (row.id for row in existing.values()),
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    activities: list[dict[str, Any]] = []
    for person in batch:
        values = {
            "profession": person.profession,
            "specialty": person.specialty,
            "family": person.family,
            "given": person.given,
        }
        row = existing.get(person.rpps)
        if row is None:
            professional_id = new_id()
            inserts.append({"id": professional_id, "rpps": person.rpps, **values})
            report.created += 1
        else:
            professional_id = row.id
            if (row.profession, row.specialty, row.family, row.given) != tuple(values.values()):
                updates.append({"id": professional_id, **values})
                report.updated += 1
            else:
                report.unchanged += 1
        for site in sorted(person.sites):
            organisation_id = organisations.get(site)
            if organisation_id is None or (professional_id, organisation_id) in links:
                continue
            links.add((professional_id, organisation_id))
            activities.append({"id": new_id(), "professional_id": professional_id, "organisation_id": organisation_id})
    if inserts:
        session.execute(insert(Professional), inserts)
    if updates:
        session.execute(update(Professional), updates)
    if activities:  # after the professionals they reference
        session.execute(insert(ProfessionalActivity), activities)
        report.activities_created += len(activities)
    session.flush()
