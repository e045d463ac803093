"""Whatever a client sends to the document search, the answer is a consistent searchset or a
400 OperationOutcome: pages never overlap, totals match, no 500."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from opendmp.identity.actor import Actor
from opendmp.runtime import Runtime
from tests.fhir.conftest import bearer
from tests.fhir.test_document_api import PDF, a_record, document_reference, publish

PREFIXES = st.sampled_from(["", "ge", "gt", "le", "lt", "eq", "xx"])
DATES = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["2026-06-01T10:00:00Z", "2026-13-01", "yesterday", "2026-06-01T10:00"]),
)
PARAMS = st.dictionaries(
    st.sampled_from(["date", "period", "_count", "_sort", "status", "type", "category", "_page", "author", "bogus"]),
    st.one_of(
        st.builds(lambda p, d: p + d, PREFIXES, DATES),
        st.integers(-5, 200).map(str),
        st.sampled_from(["-date", "date", "current", "superseded", "http://loinc.org|11488-4", "10", "zz"]),
    ),
    max_size=5,
)


def test_any_document_search_is_a_searchset_or_a_400(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    for n in range(7):
        runtime.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
        publish(client, runtime, document_reference(record_id, PDF + bytes([65 + n])))
    headers = bearer(runtime, Actor.professional("10000000002", "10"))

    @given(params=PARAMS)
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(params: dict[str, str]) -> None:
        response = client.get("/fhir/DocumentReference", params={"patient": str(record_id), **params}, headers=headers)
        assert response.status_code in (200, 400), response.text
        if response.status_code == 400:
            assert response.json()["resourceType"] == "OperationOutcome"

    check()


def test_pages_cover_the_whole_list_exactly_once_for_any_page_size(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    for n in range(11):
        publish(client, runtime, document_reference(record_id, PDF + bytes([65 + n])))
    headers = bearer(runtime, Actor.professional("10000000002", "10"))

    @given(count=st.integers(1, 12), newest_first=st.booleans())
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(count: int, newest_first: bool) -> None:
        sort = "-date" if newest_first else "date"
        page = client.get(
            f"/fhir/DocumentReference?patient={record_id}&_count={count}&_sort={sort}", headers=headers
        ).json()
        seen = []
        while True:
            assert page["total"] == 11
            seen += [e["resource"]["id"] for e in page.get("entry", [])]
            nxt = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
            if nxt is None:
                break
            page = client.get(nxt, headers=headers).json()
        assert len(seen) == len(set(seen)) == 11

    check()
