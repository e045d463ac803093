"""What the searches of patient data share: parameters sent as a form body (so that INS stay out
of URLs), the patient a search must name, and FHIR date prefixes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from litestar import Request
from sqlalchemy.orm import Session

from opendmp.fhir.patient import parse_date, parse_datetime
from opendmp.identity.ins import parse_ins
from opendmp.kit.errors import InvalidInput
from opendmp.kit.ids import parse_id
from opendmp.record import repository as records_repo
from opendmp.record.errors import RecordNotFound


def form_params(request: Request[Any, Any, Any], body: bytes, *, keep_blank: bool = False) -> dict[str, list[str]]:
    """`POST …/_search`: the form body's parameters, then those of the query string."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        from opendmp.fhir.json import UnsupportedMediaType

        raise UnsupportedMediaType("send the search parameters as application/x-www-form-urlencoded")
    try:
        params = parse_qs(body.decode("utf-8"), keep_blank_values=keep_blank)
    except UnicodeDecodeError as error:
        raise InvalidInput("the form body is not UTF-8", field="body") from error
    for key in request.query_params:
        params.setdefault(key, []).extend(request.query_params.getall(key))
    return params


def named_patient(single: dict[str, str], resource: str, *, subject: bool = True) -> tuple[str | None, str | None]:
    """(reference, INS identifier) of the patient the search names; a search without one is refused."""
    patient = single.get("patient") or (single.get("subject") if subject else None)
    identifier = single.get("patient.identifier") or (single.get("subject.identifier") if subject else None)
    if not patient and not identifier:
        article = "an" if resource[0] in "AEIOU" else "a"
        raise InvalidInput(
            f"{article} {resource} search must name the patient (patient or patient.identifier)", field="patient"
        )
    return patient, identifier


def record_of(session: Session, patient: str | None, identifier: str | None) -> uuid.UUID:
    """The record a search names, by `Patient/<id>` or by `<INS system>|<NIR>`."""
    if identifier:
        system, sep, value = identifier.partition("|")
        if not sep:
            raise InvalidInput("patient.identifier is <system>|<INS>", field="patient.identifier")
        record_id = records_repo.record_id_by_ins(session, parse_ins(system, value))
    else:
        record_id = parse_id(str(patient).removeprefix("Patient/"))
    if record_id is None:
        raise RecordNotFound("no such patient", field="patient")
    return record_id


def date_bounds(values: list[str], field: str) -> tuple[datetime | None, datetime | None]:
    """FHIR date prefixes ge, gt, le, lt, eq on full dates or date-times."""
    low = high = None
    for raw in values:
        prefix, value = (raw[:2], raw[2:]) if raw[:2] in ("ge", "gt", "le", "lt", "eq") else ("eq", raw)
        if len(value) == 10:
            day = parse_date(value, field)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            end = start + timedelta(days=1)
        else:
            start = parse_datetime(value, field)
            end = start + timedelta(microseconds=1)
        if prefix in ("ge", "eq"):
            low = max(low, start) if low else start
        if prefix == "gt":
            low = max(low, end) if low else end
        if prefix in ("le", "eq"):
            high = min(high, end) if high else end
        if prefix == "lt":
            high = min(high, start) if high else start
    return low, high
