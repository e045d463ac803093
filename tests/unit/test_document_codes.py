"""The DMP type codes are exactly the national value set, each with its class code."""

from __future__ import annotations

import pytest

from opendmp.document.codes import CLASS_SYSTEM_URL, document_type, document_types
from opendmp.kit.errors import InvalidInput


def test_the_value_set_holds_the_108_national_type_codes() -> None:
    assert len(document_types()) == 108


@pytest.mark.parametrize(
    ("system", "code", "class_code"),
    [
        ("http://loinc.org", "11502-2", "10"),  # biology report → compte rendu
        ("urn:oid:2.16.840.1.113883.6.1", "60591-5", "11"),  # VSM → synthèse
        ("1.2.250.1.213.1.1.4.12", "REMB", "60"),  # reimbursement data
        (
            "https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire",
            "EXPPAT_3",
            "90",
        ),
    ],
)
def test_each_type_code_derives_its_class(system: str, code: str, class_code: str) -> None:
    found = document_type(system, code)
    assert found.class_code == class_code and found.class_system_url == CLASS_SYSTEM_URL


def test_a_code_under_the_wrong_system_is_unknown() -> None:
    with pytest.raises(InvalidInput):
        document_type("http://loinc.org", "REMB")


def test_unknown_type_codes_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        document_type("http://loinc.org", "99999-9", field="DocumentReference.type")
    assert refused.value.field == "DocumentReference.type"


def test_the_signature_document_keeps_its_own_class_system() -> None:
    assert document_type("urn:oid:ASTM", "E1762").class_system_url == "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"
