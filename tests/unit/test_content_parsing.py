"""Parsing posted content resources: whatever the JSON, a typed value or a refusal naming a field."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from opendmp.content.schemas import Allergy, BloodGroup
from opendmp.fhir.content import KIND_OF_RESOURCE, parse_content
from opendmp.kit.errors import InvalidInput

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(
    ["code", "valueCodeableConcept", "effectiveDateTime", "type", "criticality", "onsetDateTime", "name",
     "relationship", "telecom", "medicationCodeableConcept", "dosage", "effectivePeriod", "vaccineCode",
     "occurrenceDateTime", "performer", "lotNumber", "note", "reportOrigin", "reaction", "coding", "text"]
)  # fmt: skip


@given(resource_type=st.sampled_from(list(KIND_OF_RESOURCE)), body=st.dictionaries(keys, json_values, max_size=6))
@settings(max_examples=400, deadline=None)
def test_any_json_body_parses_or_is_refused_naming_a_field(resource_type: str, body: dict[str, Any]) -> None:
    try:
        data = parse_content({"resourceType": resource_type, **body})
    except InvalidInput as refused:
        assert refused.field
        return
    try:
        data.check(date(2026, 6, 1), date(1980, 1, 1))  # type: ignore[union-attr]
    except InvalidInput as refused:
        assert refused.field


def test_a_blood_group_and_a_free_text_allergy_parse() -> None:
    observation = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": "http://loinc.org", "code": "882-1"}]},
        "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "278147001"}]},
        "effectiveDateTime": "2020-02-03T10:00:00+01:00",
    }
    assert parse_content(observation) == BloodGroup("278147001", date(2020, 2, 3))
    allergy = {"resourceType": "AllergyIntolerance", "code": {"text": "fraises"}, "type": "intolerance"}
    assert parse_content(allergy) == Allergy(text="fraises", category="intolerance")
