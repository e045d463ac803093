"""An HTTP client on the real app (real routing, middlewares, database) and token helpers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from litestar.testing import TestClient

from opendmp.app import create_app
from opendmp.auth.tokens import issue_token
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Gender, Ins, StrictTraits
from opendmp.runtime import Runtime
from tests import factories as f


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(runtime=runtime), base_url="http://testserver.local") as test_client:
        yield test_client


def bearer(runtime: Runtime, actor: Actor) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(runtime.keys, actor, dev=True)}"}


def patient_resource(ins: Ins, traits: StrictTraits) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": ins.system.uri, "value": ins.value}],
        "name": [{"use": "official", "family": traits.birth_family, "given": traits.given_names.split()}],
        "birthDate": traits.birth_date.isoformat(),
        "gender": traits.gender.value,
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                "valueAddress": {
                    "extension": [
                        {
                            "url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code",
                            "valueCoding": {
                                "system": "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM",
                                "code": traits.birthplace_code,
                            },
                        }
                    ]
                },
            }
        ],
    }


def open_parameters(
    ins: Ins,
    traits: StrictTraits,
    *,
    channel: str | None = "health-professional",
    consent: str | None = "2026-06-01T09:50:00+02:00",
) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [{"name": "patient", "resource": patient_resource(ins, traits)}]
    if channel:
        parameters.append({"name": "channel", "valueCode": channel})
    if consent:
        parameters.append({"name": "consentDate", "valueDateTime": consent})
    return {"resourceType": "Parameters", "parameter": parameters}


def a_person(order: int | None = None, **kw: Any) -> tuple[Ins, StrictTraits]:
    kw.setdefault("born", date(1975, 3, 9))
    kw.setdefault("gender", Gender.MALE)
    kw.setdefault("birthplace", "69123")
    kw.setdefault("family", "BERNARD")
    kw.setdefault("given", "LUC")
    return f.person(order=order, **kw)
