"""Documents through FHIR (IHE MHD / PDSm): submit, find, read, replace, mask, delete."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.operationoutcome import OperationOutcome
from litestar.testing import TestClient

from opendmp.identity.actor import Actor
from opendmp.identity.ins import Gender, Ins, InsSystem, StrictTraits
from opendmp.journal.service import entries_of
from opendmp.kit.ids import parse_id
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.conftest import bearer
from tests.fhir.test_patient_api import outcome

CDA_DIR = Path(__file__).parent.parent / "fixtures" / "cda"
LOINC = "http://loinc.org"
DOCTOR = Actor.professional("10000000002", "10")
OTHER_DOCTOR = Actor.professional("10000000003", "10")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
JSON_HEADERS = {"Content-Type": "application/fhir+json"}
# The patient of the CR-BIO fixture (test INS).
BIO_INS = Ins(InsSystem.TEST_NIR, "279036322012369")
BIO_TRAITS = StrictTraits("LEFÈVRE", "ANNE-SOPHIE MARIE", date(1979, 3, 15), Gender.FEMALE, "63220")


def document_reference(
    record_id: Any,
    content: bytes = PDF,
    *,
    mime: str = "application/pdf",
    type_code: str | None = "11488-4",
    unique_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": f"Patient/{record_id}"},
        "content": [
            {
                "attachment": {
                    "contentType": mime,
                    "data": base64.b64encode(content).decode(),
                    "title": "Compte rendu de consultation",
                }
            }
        ],
    }
    if type_code:
        resource["type"] = {"coding": [{"system": LOINC, "code": type_code}]}
    if unique_id:
        resource["masterIdentifier"] = {"system": "urn:ietf:rfc:3986", "value": unique_id}
    resource.update(extra)
    return resource


def a_record(runtime: Runtime, ins: Ins | None = None, traits: StrictTraits | None = None) -> tuple[Ins, Any]:
    if ins is None or traits is None:
        ins, traits = f.person()
    view = f.open_record(runtime, Actor.counter_agent("agent"), ins, traits)
    f.authorise(runtime, view.record.id, DOCTOR)
    return ins, view.record.id


def publish(client: TestClient[Any], runtime: Runtime, resource: dict[str, Any], actor: Actor = DOCTOR) -> Any:
    return client.post("/fhir/DocumentReference", json=resource, headers={**JSON_HEADERS, **bearer(runtime, actor)})


def test_a_professional_publishes_a_pdf_and_reads_it_back(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    response = publish(client, runtime, document_reference(record_id))
    assert response.status_code == 201, response.text
    created = response.json()
    DocumentReference.model_validate(created)
    assert created["category"][0]["coding"][0]["code"] == "10"  # class derived from the type
    assert created["content"][0]["attachment"]["hash"] == base64.b64encode(hashlib.sha1(PDF).digest()).decode()
    assert response.headers["location"].endswith(f"/fhir/DocumentReference/{created['id']}/_history/1")
    read = client.get(f"/fhir/DocumentReference/{created['id']}", headers=bearer(runtime, DOCTOR))
    assert read.status_code == 200 and read.json()["id"] == created["id"]
    binary = client.get(f"/fhir/Binary/{created['id']}", headers=bearer(runtime, DOCTOR))
    assert binary.status_code == 200 and binary.content == PDF
    assert binary.headers["content-type"].startswith("application/pdf")
    assert (
        binary.headers["x-content-type-options"] == "nosniff" and "sandbox" in binary.headers["content-security-policy"]
    )


def test_the_holder_reads_a_document_of_their_record(client: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    doc_id = publish(client, runtime, document_reference(record_id)).json()["id"]
    assert client.get(f"/fhir/Binary/{doc_id}", headers=bearer(runtime, Actor.patient(ins))).content == PDF


def test_a_professional_who_is_not_an_author_gets_404_and_the_refusal_is_journaled(
    client: TestClient[Any], runtime: Runtime
) -> None:
    _, record_id = a_record(runtime)
    doc_id = publish(client, runtime, document_reference(record_id)).json()["id"]
    outcome(client.get(f"/fhir/DocumentReference/{doc_id}", headers=bearer(runtime, OTHER_DOCTOR)), 404)
    outcome(client.get(f"/fhir/Binary/{doc_id}", headers=bearer(runtime, OTHER_DOCTOR)), 404)
    with runtime.sessions() as session:
        denied = [e for e in entries_of(session, record_id) if e.outcome == "denied"]
    assert denied and denied[-1].actor_id == OTHER_DOCTOR.id and denied[-1].target_id == doc_id


def test_another_person_cannot_read_the_document(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    doc_id = publish(client, runtime, document_reference(record_id)).json()["id"]
    stranger = f.person(born=date(1990, 1, 1))[0]
    outcome(client.get(f"/fhir/DocumentReference/{doc_id}", headers=bearer(runtime, Actor.patient(stranger))), 404)


def test_anonymous_document_requests_are_refused(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    doc_id = publish(client, runtime, document_reference(record_id)).json()["id"]
    for path in (
        f"/fhir/DocumentReference/{doc_id}",
        f"/fhir/Binary/{doc_id}",
        f"/fhir/DocumentReference?patient={record_id}",
    ):
        outcome(client.get(path), 401)


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"type_code": "99999-9"}, 400, "DocumentReference.type"),
        ({"type_code": None}, 400, "DocumentReference.type"),
        ({"content": b"not a pdf"}, 400, "attachment.contentType"),
        ({"mime": "application/x-msdownload"}, 400, "attachment.contentType"),
    ],
)
def test_bad_documents_are_refused_naming_the_field(
    client: TestClient[Any], runtime: Runtime, change: dict[str, Any], status: int, field: str
) -> None:
    _, record_id = a_record(runtime)
    body = outcome(publish(client, runtime, document_reference(record_id, **change)), status)
    assert body["issue"][0]["expression"] == [field]
    with runtime.sessions() as session:
        assert [e.action for e in entries_of(session, record_id)] == ["record:open", "consent:authorise"]


def test_a_size_or_hash_that_does_not_match_the_bytes_is_refused(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    wrong_size = document_reference(record_id)
    wrong_size["content"][0]["attachment"]["size"] = 3
    outcome(publish(client, runtime, wrong_size), 400)
    wrong_hash = document_reference(record_id)
    wrong_hash["content"][0]["attachment"]["hash"] = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    assert outcome(publish(client, runtime, wrong_hash), 400)["issue"][0]["expression"] == ["attachment.hash"]


def test_a_document_over_the_size_limit_is_a_413(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    runtime.settings.max_document_bytes = 1024
    outcome(publish(client, runtime, document_reference(record_id, PDF + b"0" * 2000)), 413, "too-costly")


def test_reimbursement_data_only_comes_from_the_insurer(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    remb = document_reference(
        record_id, type_code=None, type={"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.12", "code": "REMB"}]}
    )
    outcome(publish(client, runtime, remb), 403, "forbidden")
    assert publish(client, runtime, remb, Actor.insurer_feed()).status_code == 201


def test_the_patient_files_only_their_own_kinds_of_documents(client: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    own = document_reference(
        record_id, type_code=None, type={"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.12", "code": "DOCPAT03"}]}
    )
    assert publish(client, runtime, own, Actor.patient(ins)).status_code == 201
    outcome(publish(client, runtime, document_reference(record_id), Actor.patient(ins)), 403)


def test_resubmitting_the_same_unique_id_is_idempotent_and_different_content_conflicts(
    client: TestClient[Any], runtime: Runtime
) -> None:
    _, record_id = a_record(runtime)
    first = publish(client, runtime, document_reference(record_id, unique_id="1.2.3.4.5"))
    again = publish(client, runtime, document_reference(record_id, unique_id="1.2.3.4.5"))
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    outcome(publish(client, runtime, document_reference(record_id, PDF + b"%more", unique_id="1.2.3.4.5")), 409)


def test_no_document_is_added_to_a_closed_record(client: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    client.post(f"/fhir/Patient/{record_id}/$close", headers=bearer(runtime, Actor.patient(ins)))
    outcome(publish(client, runtime, document_reference(record_id)), 422, "business-rule")


def test_a_cda_header_fills_the_metadata_the_submitter_left_out(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime, BIO_INS, BIO_TRAITS)
    cda = (CDA_DIR / "cr-bio.xml").read_bytes()
    resource = document_reference(record_id, cda, mime="text/xml", type_code="11502-2")
    del resource["content"][0]["attachment"]["title"]
    response = publish(client, runtime, resource)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["description"] == "Compte rendu d'examens biologiques"
    assert created["author"][0]["identifier"]["value"] == "810003456789"
    assert created["content"][0]["attachment"]["creation"].startswith("2024-03-12T09:15:00")


def test_a_cda_of_another_patient_is_refused(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    cda = (CDA_DIR / "cr-bio.xml").read_bytes()
    response = publish(client, runtime, document_reference(record_id, cda, mime="text/xml", type_code="11502-2"))
    assert outcome(response, 422)["issue"][0]["expression"] == ["cda.recordTarget"]


def test_a_type_that_contradicts_the_cda_is_refused(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime, BIO_INS, BIO_TRAITS)
    cda = (CDA_DIR / "cr-bio.xml").read_bytes()
    outcome(publish(client, runtime, document_reference(record_id, cda, mime="text/xml", type_code="11488-4")), 422)


def test_a_new_version_supersedes_the_old_one_which_stays_in_history(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    old = publish(client, runtime, document_reference(record_id)).json()
    new = publish(
        client,
        runtime,
        document_reference(
            record_id,
            PDF + b"%v2",
            relatesTo=[{"code": "replaces", "target": {"reference": f"DocumentReference/{old['id']}"}}],
        ),
    ).json()
    assert new["relatesTo"][0]["target"]["reference"] == f"DocumentReference/{old['id']}"
    assert new["identifier"][0]["value"] == old["identifier"][0]["value"]  # same logical document
    auth = bearer(runtime, DOCTOR)
    current = client.get(f"/fhir/DocumentReference?patient={record_id}", headers=auth).json()
    assert [e["resource"]["id"] for e in current["entry"]] == [new["id"]]
    history = client.get(f"/fhir/DocumentReference?patient={record_id}&status=superseded", headers=auth).json()
    assert [e["resource"]["id"] for e in history["entry"]] == [old["id"]]
    outcome(
        publish(
            client,
            runtime,
            document_reference(
                record_id,
                PDF + b"%v3",
                relatesTo=[{"code": "replaces", "target": {"reference": f"DocumentReference/{old['id']}"}}],
            ),
        ),
        412,
    )


def patch_labels(
    client: TestClient[Any], runtime: Runtime, doc_id: str, actor: Actor, operations: list[dict[str, Any]]
) -> Any:
    return client.patch(
        f"/fhir/DocumentReference/{doc_id}",
        content=json.dumps(operations),
        headers={"Content-Type": "application/json-patch+json", **bearer(runtime, actor)},
    )


MASK = {
    "op": "add",
    "path": "/securityLabel/-",
    "value": {
        "coding": [
            {
                "system": "https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument",
                "code": "MASQUE_PS",
            }
        ]
    },
}


def test_the_holder_masks_a_document_from_professionals(client: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    doc_id = publish(client, runtime, document_reference(record_id)).json()["id"]
    response = patch_labels(client, runtime, doc_id, Actor.patient(ins), [MASK])
    assert response.status_code == 200, response.text
    assert {"system": MASK["value"]["coding"][0]["system"], "code": "MASQUE_PS"} in response.json()["meta"]["security"]
    with runtime.sessions() as session:
        assert entries_of(session, record_id)[-1].action == "document:mask"


def test_the_holder_may_not_hide_a_document_from_themselves(client: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    doc_id = publish(client, runtime, document_reference(record_id)).json()["id"]
    hide = {**MASK, "value": {"coding": [{**MASK["value"]["coding"][0], "code": "INVISIBLE_REPRESENTANTS_LEGAUX"}]}}
    outcome(patch_labels(client, runtime, doc_id, Actor.patient(ins), [hide]), 403)


def test_the_author_archives_a_document_and_other_elements_cannot_be_patched(
    client: TestClient[Any], runtime: Runtime
) -> None:
    _, record_id = a_record(runtime)
    doc_id = publish(client, runtime, document_reference(record_id)).json()["id"]
    archived = patch_labels(
        client, runtime, doc_id, DOCTOR, [{"op": "replace", "path": "/extension/0/valueBoolean", "value": True}]
    )
    assert archived.status_code == 200 and archived.json()["extension"][0]["valueBoolean"] is True
    outcome(patch_labels(client, runtime, doc_id, DOCTOR, [{"op": "replace", "path": "/status", "value": "x"}]), 400)
    unarchive = {"op": "replace", "path": "/extension/0/valueBoolean", "value": False}
    stale = client.patch(
        f"/fhir/DocumentReference/{doc_id}",
        content=json.dumps([unarchive]),
        headers={"Content-Type": "application/json-patch+json", "If-Match": 'W/"1"', **bearer(runtime, DOCTOR)},
    )
    outcome(stale, 412)


def test_only_the_author_deletes_and_deletion_is_logical(client: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    doc_id = publish(client, runtime, document_reference(record_id)).json()["id"]
    outcome(client.delete(f"/fhir/DocumentReference/{doc_id}", headers=bearer(runtime, Actor.patient(ins))), 403)
    deleted = client.delete(f"/fhir/DocumentReference/{doc_id}", headers=bearer(runtime, DOCTOR))
    assert deleted.status_code == 200 and deleted.json()["status"] == "entered-in-error"
    listed = client.get(f"/fhir/DocumentReference?patient={record_id}", headers=bearer(runtime, DOCTOR)).json()
    assert listed["total"] == 0
    assert client.get(f"/fhir/Binary/{doc_id}", headers=bearer(runtime, DOCTOR)).content == PDF  # kept


def test_search_pages_through_the_records_documents_newest_first(client: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    for n in range(25):
        runtime.clock.advance(__import__("datetime").timedelta(minutes=1))  # type: ignore[attr-defined]
        publish(client, runtime, document_reference(record_id, PDF + str(n).encode()))
    auth = bearer(runtime, Actor.patient(ins))
    first = client.get(f"/fhir/DocumentReference?patient={record_id}&_count=10", headers=auth).json()
    Bundle.model_validate(first)
    assert first["total"] == 25 and len(first["entry"]) == 10
    dates = [e["resource"]["date"] for e in first["entry"]]
    assert dates == sorted(dates, reverse=True)
    seen = [e["resource"]["id"] for e in first["entry"]]
    page = first
    while nxt := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
        assert ins.value not in nxt
        page = client.get(nxt, headers=auth).json()
        seen += [e["resource"]["id"] for e in page["entry"]]
    assert len(seen) == len(set(seen)) == 25


def test_search_filters_by_type_date_and_the_patients_ins(client: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    publish(client, runtime, document_reference(record_id))
    publish(client, runtime, document_reference(record_id, PDF + b"bio", type_code="11502-2"))
    auth = bearer(runtime, DOCTOR)
    by_type = client.post(
        "/fhir/DocumentReference/_search",
        headers=auth,
        data={"patient.identifier": ins.token, "type": f"{LOINC}|11502-2"},
    ).json()
    assert by_type["total"] == 1
    today = runtime.clock.now().date().isoformat()
    assert client.get(f"/fhir/DocumentReference?patient={record_id}&date=ge{today}", headers=auth).json()["total"] == 2
    assert client.get(f"/fhir/DocumentReference?patient={record_id}&date=lt{today}", headers=auth).json()["total"] == 0
    outcome(client.get("/fhir/DocumentReference?type=11502-2", headers=auth), 400)
    outcome(client.get(f"/fhir/DocumentReference?patient={record_id}&_count=1000", headers=auth), 400)


def transaction_bundle(record_id: Any, contents: list[bytes]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": "urn:uuid:6d8f0a32-0000-4000-8000-000000000001",
            "resource": {
                "resourceType": "List",
                "status": "current",
                "mode": "working",
                "code": {
                    "coding": [
                        {"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "submissionset"}
                    ]
                },
                "subject": {"reference": f"Patient/{record_id}"},
                "identifier": [{"use": "official", "system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3.99"}],
            },
            "request": {"method": "POST", "url": "List"},
        }
    ]
    for n, content in enumerate(contents):
        binary_url = f"urn:uuid:6d8f0a32-0000-4000-8000-0000000001{n:02d}"
        reference = document_reference(record_id, content)
        del reference["content"][0]["attachment"]["data"]
        reference["content"][0]["attachment"]["url"] = binary_url
        entries.append(
            {
                "fullUrl": f"urn:uuid:6d8f0a32-0000-4000-8000-0000000002{n:02d}",
                "resource": reference,
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


def test_an_iti65_bundle_files_every_document_and_answers_a_transaction_response(
    client: TestClient[Any], runtime: Runtime
) -> None:
    _, record_id = a_record(runtime)
    response = client.post(
        "/fhir",
        json=transaction_bundle(record_id, [PDF, PDF + b"2"]),
        headers={**JSON_HEADERS, **bearer(runtime, DOCTOR)},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    Bundle.model_validate(result)
    assert result["type"] == "transaction-response"
    assert [e["response"]["status"] for e in result["entry"]] == ["201 Created"] * 5
    listed = client.get(f"/fhir/DocumentReference?patient={record_id}", headers=bearer(runtime, DOCTOR)).json()
    assert listed["total"] == 2


def test_an_iti65_bundle_is_all_or_nothing(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    outcome(
        client.post(
            "/fhir",
            json=transaction_bundle(record_id, [PDF, b"not a pdf"]),
            headers={**JSON_HEADERS, **bearer(runtime, DOCTOR)},
        ),
        400,
    )
    listed = client.get(f"/fhir/DocumentReference?patient={record_id}", headers=bearer(runtime, DOCTOR)).json()
    assert listed["total"] == 0


def test_a_binary_without_its_document_reference_is_refused(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    bundle = transaction_bundle(record_id, [PDF])
    del bundle["entry"][1]
    outcome(client.post("/fhir", json=bundle, headers={**JSON_HEADERS, **bearer(runtime, DOCTOR)}), 400)


def test_a_tampered_blob_fails_with_an_integrity_error_never_wrong_bytes(
    client: TestClient[Any], runtime: Runtime
) -> None:
    _, record_id = a_record(runtime)
    doc_id = publish(client, runtime, document_reference(record_id)).json()["id"]
    blobs = [p for p in (runtime.settings.data_dir / "blobs").rglob("*") if p.is_file() and doc_id in p.name]
    assert len(blobs) == 1
    data = bytearray(blobs[0].read_bytes())
    data[-5] ^= 0x01
    blobs[0].write_bytes(bytes(data))
    response = client.get(f"/fhir/Binary/{doc_id}", headers=bearer(runtime, DOCTOR))
    assert response.status_code >= 400 and PDF not in response.content
    assert parse_id(doc_id) is not None


def _bio_bundle(record_id: Any, cda: bytes) -> dict[str, Any]:
    bundle = transaction_bundle(record_id, [cda])
    reference = bundle["entry"][1]["resource"]
    reference["type"]["coding"][0]["code"] = "11502-2"
    reference["content"][0]["attachment"]["contentType"] = "text/xml"
    bundle["entry"][2]["resource"]["contentType"] = "text/xml"
    return bundle


def test_an_exam_repeated_within_its_window_is_pointed_out_with_the_earlier_document(
    client: TestClient[Any], runtime: Runtime
) -> None:
    _, record_id = a_record(runtime, BIO_INS, BIO_TRAITS)
    cda = (CDA_DIR / "cr-bio.xml").read_bytes()
    headers = {**JSON_HEADERS, **bearer(runtime, DOCTOR)}
    first = client.post("/fhir", json=_bio_bundle(record_id, cda), headers=headers).json()
    assert "outcome" not in first["entry"][1]["response"]
    earlier_id = first["entry"][1]["response"]["location"].split("/")[1]
    # Same lab report again (a new version of the exam, new set id): HbA1c within 90 days.
    again = cda.replace(b"6F1C5E2A-3B9D-4E70-9C21-7A4D2B8E0F13", b"0A1B2C3D-0000-4000-8000-000000000001")
    second = client.post("/fhir", json=_bio_bundle(record_id, again), headers=headers).json()
    issues = second["entry"][1]["response"]["outcome"]["issue"]
    assert any("HbA1c" in i["diagnostics"] and earlier_id in i["diagnostics"] for i in issues)
    assert all(i["severity"] == "information" for i in issues)


def test_the_simple_publish_path_points_out_a_repeated_exam_when_asked_for_an_outcome(
    client: TestClient[Any], runtime: Runtime
) -> None:
    _, record_id = a_record(runtime, BIO_INS, BIO_TRAITS)
    cda = (CDA_DIR / "cr-bio.xml").read_bytes()
    headers = {**JSON_HEADERS, **bearer(runtime, DOCTOR)}
    first = client.post(
        "/fhir/DocumentReference",
        json=document_reference(record_id, cda, mime="text/xml", type_code="11502-2"),
        headers=headers,
    )
    assert first.status_code == 201, first.text
    again = cda.replace(b"6F1C5E2A-3B9D-4E70-9C21-7A4D2B8E0F13", b"0A1B2C3D-0000-4000-8000-000000000002")
    second = client.post(
        "/fhir/DocumentReference",
        json=document_reference(record_id, again, mime="text/xml", type_code="11502-2"),
        headers={**headers, "Prefer": "return=OperationOutcome"},
    )
    assert second.status_code == 201 and second.headers["location"]
    body = OperationOutcome.model_validate(second.json()).model_dump(mode="json")
    assert any(first.json()["id"] in i["diagnostics"] for i in body["issue"])
    assert {i["severity"] for i in body["issue"]} == {"information"}


def test_a_large_binary_as_fhir_json_is_streamed_whole_and_exact(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    content = PDF + bytes(range(256)) * 10_001  # about 2.5 MB: several groups, not 3-byte aligned
    created = publish(client, runtime, document_reference(record_id, content)).json()
    response = client.get(
        f"/fhir/Binary/{created['id']}", headers={**bearer(runtime, DOCTOR), "Accept": "application/fhir+json"}
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/fhir+json")
    assert base64.b64decode(response.json()["data"]) == content


def test_a_professional_asks_whether_an_exam_was_done_recently(client: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_record(runtime, BIO_INS, BIO_TRAITS)
    cda = (CDA_DIR / "cr-bio.xml").read_bytes()
    client.post("/fhir", json=_bio_bundle(record_id, cda), headers={**JSON_HEADERS, **bearer(runtime, DOCTOR)})
    url = f"/fhir/Patient/{record_id}/$recent-exam"
    # The CDA's exam dates from 12/03/2024; the test clock is in June 2026.
    found = client.get(url, params={"code": f"{LOINC}|4548-4", "days": "900"}, headers=bearer(runtime, DOCTOR))
    assert found.status_code == 200 and found.json()["total"] == 1
    assert client.get(url, params={"code": f"{LOINC}|4548-4"}, headers=bearer(runtime, DOCTOR)).json()["total"] == 0
    # A professional who may not read the report learns nothing from it.
    assert (
        client.get(
            url, params={"code": f"{LOINC}|4548-4", "days": "900"}, headers=bearer(runtime, OTHER_DOCTOR)
        ).json()["total"]
        == 0
    )
    outcome(client.get(url, params={"code": "4548-4"}, headers=bearer(runtime, DOCTOR)), 400)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(type="collection"),  # a batch is an establishment feed (test_establishment_feeds)
        lambda b: b["entry"][1].pop("request"),
        lambda b: b["entry"].pop(0),
        lambda b: b["entry"][1]["resource"].update(resourceType="Observation"),
        lambda b: b["entry"][2]["resource"].update(data="***"),
        lambda b: b.update(entry=[]),
    ],
)
def test_malformed_bundles_are_refused_and_nothing_is_stored(
    client: TestClient[Any], runtime: Runtime, mutate: Any
) -> None:
    _, record_id = a_record(runtime)
    bundle = transaction_bundle(record_id, [PDF])
    mutate(bundle)
    outcome(client.post("/fhir", json=bundle, headers={**JSON_HEADERS, **bearer(runtime, DOCTOR)}), 400)
    assert (
        client.get(f"/fhir/DocumentReference?patient={record_id}", headers=bearer(runtime, DOCTOR)).json()["total"] == 0
    )


def test_the_binary_resource_form_validates_as_r4(client: TestClient[Any], runtime: Runtime) -> None:
    from fhir.resources.R4B.binary import Binary

    _, record_id = a_record(runtime)
    doc_id = publish(client, runtime, document_reference(record_id)).json()["id"]
    response = client.get(
        f"/fhir/Binary/{doc_id}", headers={"Accept": "application/fhir+json", **bearer(runtime, DOCTOR)}
    )
    Binary.model_validate(response.json())


def test_a_document_filed_in_the_wrong_record_is_removed_and_refiled_both_journaled(
    client: TestClient[Any], runtime: Runtime
) -> None:
    _, wrong = a_record(runtime)
    _, right = a_record(runtime, *f.person(born=date(1990, 6, 6)))
    doc_id = publish(client, runtime, document_reference(wrong, unique_id="1.2.250.99.1")).json()["id"]
    assert client.delete(f"/fhir/DocumentReference/{doc_id}", headers=bearer(runtime, DOCTOR)).status_code == 200
    refiled = publish(client, runtime, document_reference(right))
    assert refiled.status_code == 201
    with runtime.sessions() as session:
        assert "document:delete" in [e.action for e in entries_of(session, wrong)]
        assert "document:create" in [e.action for e in entries_of(session, right)]
