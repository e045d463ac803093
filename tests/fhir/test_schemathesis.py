"""No request yields a 500 for bad input: schemathesis generates requests from the OpenAPI
schema (bodies, parameters, paths) and sends them to the real app, with a professional's token
so that the generated inputs reach the services."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opendmp.app import create_app
from opendmp.identity.actor import Actor
from opendmp.runtime import Runtime
from tests.fhir.conftest import bearer

OPERATIONS = [
    ("GET", "/fhir/metadata"),
    ("POST", "/fhir/Patient/$open"),
    ("GET", "/fhir/Patient/{patient_id}"),
    ("GET", "/fhir/Patient"),
    ("POST", "/fhir/Patient/_search"),
    ("POST", "/fhir/Patient/{patient_id}/{operation}"),
    ("GET", "/fhir/{resource_type}"),
    ("POST", "/fhir/DocumentReference"),
    ("GET", "/fhir/DocumentReference"),
    ("POST", "/fhir/DocumentReference/_search"),
    ("GET", "/fhir/DocumentReference/{document_id}"),
    ("PATCH", "/fhir/DocumentReference/{document_id}"),
    ("DELETE", "/fhir/DocumentReference/{document_id}"),
    ("GET", "/fhir/Binary/{document_id}"),
    ("POST", "/fhir"),
    ("GET", "/fhir/Patient/{patient_id}/$recent-exam"),
    ("GET", "/fhir/AuditEvent"),
    ("POST", "/fhir/AuditEvent/_search"),
    ("POST", "/fhir/Consent"),
    ("GET", "/fhir/Consent"),
    ("GET", "/fhir/Consent/{consent_id}"),
    ("PATCH", "/fhir/Consent/{consent_id}"),
    ("POST", "/fhir/Patient/{patient_id}/$emergency-access"),
    ("POST", "/fhir/Patient/{patient_id}/$credentials-letter"),
    ("POST", "/oauth/token"),
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    # The patient's content (fhir/content_routes.py).
    *(
        (method, f"/fhir/{resource_type}{suffix}")
        for resource_type in (
            "Observation",
            "AllergyIntolerance",
            "RelatedPerson",
            "MedicationStatement",
            "Immunization",
        )
        for method, suffix in (
            ("POST", ""),
            ("GET", ""),
            ("POST", "/_search"),
            ("GET", "/{item_id}"),
            ("PUT", "/{item_id}"),
            ("DELETE", "/{item_id}"),
        )
    ),
    ("GET", "/fhir/Patient/{patient_id}/$emergency-summary"),
    ("POST", "/fhir/Patient/{patient_id}/$advance-directives"),
    ("GET", "/fhir/ImmunizationRecommendation"),
    ("POST", "/fhir/ImmunizationRecommendation/_search"),
    # The VSM and the DLU (fhir/summary_routes.py).
    ("POST", "/fhir/Patient/{patient_id}/$vsm"),
    ("GET", "/fhir/Patient/{patient_id}/$vsm"),
    ("POST", "/fhir/Patient/{patient_id}/$dlu"),
    ("GET", "/fhir/Patient/{patient_id}/$dlu"),
]


def _schema(runtime: Runtime) -> Any:
    return schemathesis.openapi.from_asgi("/schema/openapi.json", create_app(runtime=runtime))


def test_every_operation_of_the_schema_is_fuzzed(runtime: Runtime) -> None:
    listed = {(op.ok().method.upper(), op.ok().path) for op in _schema(runtime).get_all_operations()}
    assert listed - {("GET", "/metrics")} == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_generated_request_causes_a_server_error(runtime: Runtime, method: str, path: str) -> None:
    operation = _schema(runtime)[path][method]
    headers = bearer(runtime, Actor.professional("10000000002", "10"))
    seen: list[int] = []

    @given(case=operation.as_strategy(), authenticated=st.booleans())
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case: Any, authenticated: bool) -> None:
        response = case.call(headers=headers if authenticated else None)
        seen.append(response.status_code)
        assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.text)

    fuzz()
    assert seen
