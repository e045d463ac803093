"""Establishment feeds: a hospital's software files a batch of ITI-65 bundles; each bundle stands
or falls alone, retries give the earlier answer back, and the establishment is counted."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from litestar.testing import TestClient
from sqlalchemy import select

from opendmp.document.models import Document
from opendmp.identity.actor import Actor
from opendmp.journal.service import entries_of
from opendmp.runtime import Runtime
from opendmp.stats.models import Feeder
from tests import factories as f
from tests.fhir.conftest import bearer
from tests.fhir.test_patient_api import outcome

HOSPITAL = "690000001"
DOCTOR = Actor.professional("10000000002", "10", HOSPITAL)
SOFTWARE = Actor.software("lps-chu", HOSPITAL, DOCTOR.id, "10", scopes=frozenset({"dmp:alimentation"}))
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
JSON = {"Content-Type": "application/fhir+json"}


def provide_bundle(
    record_id: Any, submission_id: str, contents: list[bytes], author: str | None = None
) -> dict[str, Any]:
    """An ITI-65 transaction Bundle with one document per content (unique ids derived from the
    submission id, as a producer keeps them)."""
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": {
                "resourceType": "List",
                "status": "current",
                "mode": "working",
                "subject": {"reference": f"Patient/{record_id}"},
                "identifier": [{"use": "official", "system": "urn:ietf:rfc:3986", "value": submission_id}],
            },
            "request": {"method": "POST", "url": "List"},
        }
    ]
    for n, content in enumerate(contents):
        binary_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, f'{submission_id}.{n}')}"
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "DocumentReference",
                    "status": "current",
                    "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"{submission_id}.{n + 1}"},
                    "subject": {"reference": f"Patient/{record_id}"},
                    "type": {"coding": [{"system": "http://loinc.org", "code": "34112-3"}]},
                    "content": [{"attachment": {"contentType": "application/pdf", "url": binary_url}}],
                    **(
                        {"author": [{"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "8" + author}}]}
                        if author
                        else {}
                    ),
                },
                "request": {"method": "POST", "url": "DocumentReference"},
            }
        )
        entries.append(
            {
                "fullUrl": binary_url,
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/pdf",
                    "data": base64.b64encode(content).decode(),
                },
                "request": {"method": "POST", "url": "Binary"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def batch(*bundles: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"resource": b, "request": {"method": "POST", "url": "Bundle"}} for b in bundles],
    }


def hospital_with_patients(runtime: Runtime, count: int = 1) -> list[uuid.UUID]:
    f.add_organisation(runtime, HOSPITAL, kind="university-hospital", department="69", name="CHU de Lyon")
    f.add_professional(runtime, DOCTOR.id, "10", finess=HOSPITAL)
    records = []
    for n in range(count):
        ins, traits = f.person(order=500 + n)
        view = f.open_record(runtime, Actor.counter_agent("agent"), ins, traits)
        f.authorise(runtime, view.record.id, DOCTOR)
        records.append(view.record.id)
    return records


def send(client: TestClient[Any], runtime: Runtime, body: dict[str, Any], actor: Actor = SOFTWARE) -> Any:
    return client.post("/fhir", json=body, headers={**JSON, **bearer(runtime, actor)})


def documents_of(client: TestClient[Any], runtime: Runtime, record_id: uuid.UUID) -> list[dict[str, Any]]:
    found = client.get(f"/fhir/DocumentReference?patient={record_id}", headers=bearer(runtime, DOCTOR)).json()
    return [e["resource"] for e in found.get("entry", [])]


def test_a_batch_files_the_good_bundles_and_names_what_is_wrong_in_the_bad_ones(
    client: TestClient[Any], runtime: Runtime
) -> None:
    first, second = hospital_with_patients(runtime, 2)
    stranger = uuid.uuid4()
    response = send(
        client,
        runtime,
        batch(
            provide_bundle(first, "urn:oid:1.2.250.1.999.1", [PDF, PDF + b"2"]),
            provide_bundle(second, "urn:oid:1.2.250.1.999.2", [PDF, b"not a pdf at all"]),
            provide_bundle(stranger, "urn:oid:1.2.250.1.999.3", [PDF]),
            provide_bundle(second, "urn:oid:1.2.250.1.999.4", [PDF + b"4"]),
        ),
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    Bundle.model_validate(answer)
    assert answer["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created", "400", "404", "201 Created"]
    bad = answer["entry"][1]["response"]["outcome"]["issue"][0]
    assert (bad["code"], bad["expression"]) == ("invalid", ["attachment.contentType"]), bad
    filed = answer["entry"][0]["resource"]
    assert filed["type"] == "transaction-response"
    assert [e["response"]["status"] for e in filed["entry"]] == ["201 Created"] * 5
    # Nothing of the bad bundle was kept, everything of the good ones was.
    assert len(documents_of(client, runtime, first)) == 2
    assert len(documents_of(client, runtime, second)) == 1


def test_resending_the_same_bundle_returns_the_earlier_result_without_a_duplicate(
    client: TestClient[Any], runtime: Runtime
) -> None:
    (record_id,) = hospital_with_patients(runtime)
    body = batch(provide_bundle(record_id, "urn:oid:1.2.250.1.999.10", [PDF, PDF + b"b"]))
    first = send(client, runtime, body).json()["entry"][0]
    again = send(client, runtime, body).json()["entry"][0]
    assert first["response"]["status"] == "201 Created"
    assert again["response"]["status"] == "200 OK"
    assert again["response"]["outcome"]["issue"][0]["severity"] == "information"
    assert again["resource"] == first["resource"]
    assert len(documents_of(client, runtime, record_id)) == 2
    with runtime.sessions() as session:
        created = [e for e in entries_of(session, record_id) if e.action == "document:create"]
    assert len(created) == 2


def test_the_same_submission_id_with_other_content_is_a_conflict(client: TestClient[Any], runtime: Runtime) -> None:
    (record_id,) = hospital_with_patients(runtime)
    send(client, runtime, batch(provide_bundle(record_id, "urn:oid:1.2.250.1.999.20", [PDF])))
    other = send(client, runtime, batch(provide_bundle(record_id, "urn:oid:1.2.250.1.999.20", [PDF + b"x"])))
    entry = other.json()["entry"][0]["response"]
    assert entry["status"] == "409"
    assert entry["outcome"]["issue"][0]["expression"] == ["List.identifier"]
    assert len(documents_of(client, runtime, record_id)) == 1


def test_only_establishment_software_files_batches(client: TestClient[Any], runtime: Runtime) -> None:
    (record_id,) = hospital_with_patients(runtime)
    body = batch(provide_bundle(record_id, "urn:oid:1.2.250.1.999.30", [PDF]))
    outcome(client.post("/fhir", json=body, headers=JSON), 401, "login")
    outcome(send(client, runtime, body, DOCTOR), 403, "forbidden")
    consultation = Actor.software("lps-chu", HOSPITAL, DOCTOR.id, "10", scopes=frozenset({"dmp:consultation"}))
    outcome(send(client, runtime, body, consultation), 403, "forbidden")
    assert documents_of(client, runtime, record_id) == []
    with runtime.sessions() as session:
        refusals = [e for e in entries_of(session, None) if e.action == "feed:batch" and e.outcome == "denied"]
    assert len(refusals) == 2


def test_a_malformed_entry_is_named_and_the_other_bundles_are_filed(client: TestClient[Any], runtime: Runtime) -> None:
    (record_id,) = hospital_with_patients(runtime)
    body = batch(provide_bundle(record_id, "urn:oid:1.2.250.1.999.40", [PDF]))
    body["entry"].insert(0, {"resource": {"resourceType": "Patient"}, "request": {"method": "PUT", "url": "Patient/1"}})
    body["entry"].append(
        {"resource": {"resourceType": "Bundle", "type": "collection"}, "request": {"method": "POST", "url": "Bundle"}}
    )
    answer = send(client, runtime, body).json()
    assert [e["response"]["status"] for e in answer["entry"]] == ["400", "201 Created", "400"]
    assert answer["entry"][0]["response"]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[0].request"]
    assert answer["entry"][2]["response"]["outcome"]["issue"][0]["expression"] == ["Bundle.type"]
    outcome(send(client, runtime, {"resourceType": "Bundle", "type": "batch", "entry": []}), 400, "invalid")


def test_documents_filed_by_software_carry_their_establishment_for_statistics(
    client: TestClient[Any], runtime: Runtime
) -> None:
    (record_id,) = hospital_with_patients(runtime)
    with runtime.sessions() as session:
        assert session.execute(select(Feeder)).scalars().all() == []
    send(client, runtime, batch(provide_bundle(record_id, "urn:oid:1.2.250.1.999.50", [PDF])))
    send(client, runtime, batch(provide_bundle(record_id, "urn:oid:1.2.250.1.999.51", [PDF + b"1"])))
    with runtime.sessions() as session:
        feeders = [(f.finess, f.organisation_kind) for f in session.execute(select(Feeder)).scalars()]
        rows = session.execute(select(Document.submitted_by_kind, Document.submitted_by_organisation)).all()
    assert feeders == [(HOSPITAL, "university-hospital")]
    assert set(rows) == {("software", HOSPITAL)}
