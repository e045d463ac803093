"""FHIR routes for AuditEvent: the holder's view of their record's journal. Every search names
the patient; only the holder and the legal representatives get an answer (everyone else: 404)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import RawBody

from opendmp.fhir import audit_event
from opendmp.fhir.document import PROFESSIONAL_SYSTEM
from opendmp.fhir.openapi import AUDIT_SEARCH_FIELDS, AuditSearchByPostOperation, AuditSearchOperation
from opendmp.fhir.routes import authenticate, base_url, fhir_response, runtime_of
from opendmp.fhir.search import date_bounds, form_params, named_patient, record_of
from opendmp.identity.service import rpps_from_national_id, validate_rpps
from opendmp.journal import reading
from opendmp.kit.db import unit_of_work
from opendmp.kit.errors import InvalidInput
from opendmp.kit.threads import threaded

MAX_COUNT = 100
DEFAULT_COUNT = 20
KNOWN_PARAMETERS = frozenset({*AUDIT_SEARCH_FIELDS, "subject", "subject.identifier", "_format"})
_REPEATABLE = frozenset({"date"})


@dataclass(frozen=True, slots=True)
class Page:
    """An opaque page token: the offset, and the chain length the first page saw."""

    offset: int
    up_to_seq: int | None = None

    def token(self) -> str:
        return base64.urlsafe_b64encode(f"o:{self.offset};s:{self.up_to_seq}".encode()).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str | None) -> Page:
        if not token:
            return cls(0)
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            offset, _, seq = text.removeprefix("o:").partition(";s:")
            page = cls(int(offset), int(seq)) if text.startswith("o:") else None
        except (binascii.Error, ValueError, UnicodeDecodeError):
            page = None
        if page is None or page.offset < 0 or page.up_to_seq is None or page.up_to_seq < 0:
            raise InvalidInput("_page is not a page token of ours", field="_page")
        return page


def _agent_rpps(value: str, field: str) -> str:
    """`agent` as an RPPS, `8`+RPPS, or `<idNat_PS system>|8<RPPS>`."""
    system, sep, code = value.rpartition("|")
    if sep and system and system != PROFESSIONAL_SYSTEM:
        raise InvalidInput(f"{field} is an RPPS or {PROFESSIONAL_SYSTEM}|8<RPPS>", field=field)
    if len(code) == 12:
        return rpps_from_national_id(code)
    return validate_rpps(code, field=field)


def _search(request: Request[Any, Any, Any], params: dict[str, list[str]]) -> Response[bytes]:
    runtime = runtime_of(request)
    actor = authenticate(request)
    unknown = set(params) - KNOWN_PARAMETERS
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(f"unsupported search parameter {name!r}", field=name)
    single: dict[str, str] = {}
    for key, values in params.items():
        if len(values) != 1 and key not in _REPEATABLE:
            raise InvalidInput(f"{key} may be given once", field=key)
        single[key] = values[-1]
    patient, identifier = named_patient(single, "AuditEvent")
    count = single.get("_count", str(DEFAULT_COUNT))
    if not count.isdigit() or not 0 < int(count) <= MAX_COUNT:
        raise InvalidInput(f"_count is between 1 and {MAX_COUNT}", field="_count")
    sort = single.get("_sort", "-date")
    if sort not in ("-date", "date"):
        raise InvalidInput("_sort is date or -date", field="_sort")
    at_from, at_to = date_bounds(params.get("date", []), "date")
    agent = single.get("agent.identifier") or single.get("agent")
    page_token = Page.parse(single.get("_page"))
    query = reading.EntryQuery(
        at_from=at_from,
        at_to=at_to,
        actor_id=_agent_rpps(agent, "agent") if agent else None,
        offset=page_token.offset,
        count=int(count),
        newest_first=sort == "-date",
        up_to_seq=page_token.up_to_seq,
    )
    with unit_of_work(runtime.sessions) as session:
        record_id = record_of(session, patient, identifier)
        page = reading.read_record_journal(session, actor, record_id, query, runtime.clock.now())
    base = base_url(request)
    # Links name the record by id, never by INS, and carry only our own parameters.
    kept = [
        (k, v)
        for k, values in params.items()
        for v in values
        if k not in ("_page", "patient.identifier", "subject.identifier", "patient", "subject")
    ]

    def link(relation: str, offset: int) -> dict[str, str]:
        token = Page(offset, page.up_to_seq).token()
        query_string = urlencode([("patient", str(record_id)), *kept, ("_page", token)])
        return {"relation": relation, "url": f"{base}/fhir/AuditEvent?{query_string}"}

    links = [link("self", query.offset)]
    if query.offset + query.count < page.total:
        links.append(link("next", query.offset + query.count))
    if query.offset > 0:
        links.append(link("previous", max(0, query.offset - query.count)))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": page.total, "link": links}
    if page.entries:
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/fhir/AuditEvent/{entry.id}",
                "resource": audit_event.to_fhir(entry, page),
                "search": {"mode": "match"},
            }
            for entry in page.entries
        ]
    return fhir_response(bundle)


@get("/fhir/AuditEvent", operation_class=AuditSearchOperation)
@threaded
def search_audit_events(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The record's journal, newest first, paged: who did what, when (holder and representatives)."""
    return _search(request, {k: request.query_params.getall(k) for k in request.query_params})


@post("/fhir/AuditEvent/_search", status_code=200, operation_class=AuditSearchByPostOperation)
@threaded
def search_audit_events_by_post(request: Request[Any, Any, Any], body: RawBody) -> Response[bytes]:
    """The same search with the parameters in a form body (the INS stays out of URLs)."""
    return _search(request, form_params(request, body))


ROUTES = [search_audit_events, search_audit_events_by_post]
