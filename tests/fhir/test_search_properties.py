"""Whatever parameters a client sends to the Patient search, the answer is a searchset or a 400
OperationOutcome, never a 500 and never a list of patients."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from opendmp.identity.actor import Actor
from opendmp.runtime import Runtime
from tests.fhir.conftest import bearer

NAMES = st.sampled_from(
    [
        "identifier",
        "family",
        "given",
        "birthdate",
        "gender",
        "birthplace",
        "name",
        "_count",
        "_sort",
        "address",
        "birthplace",
    ]
)
VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "urn:oid:1.2.250.1.213.1.4.8|180057505612345",
            "|",
            "male",
            "female",
            "1980-05-17",
            "75056",
            "2A004",
            "1980-13-45",
            "x|y|z",
        ]
    ),
)


def test_any_search_parameters_answer_a_searchset_or_a_400(client: TestClient[Any], runtime: Runtime) -> None:
    headers = bearer(runtime, Actor.professional("10000000002", "10"))

    @given(params=st.lists(st.tuples(NAMES, VALUES), max_size=7), by_post=st.booleans())
    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(params: list[tuple[str, str]], by_post: bool) -> None:
        if by_post:
            form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
            response = client.post("/fhir/Patient/_search", content=urlencode(params), headers=form)
        else:
            response = client.get("/fhir/Patient", params=params, headers=headers)
        assert response.status_code in (200, 400), response.text
        body = response.json()
        if response.status_code == 200:
            assert body["resourceType"] == "Bundle" and body["total"] <= 1
        else:
            assert body["resourceType"] == "OperationOutcome"

    check()
