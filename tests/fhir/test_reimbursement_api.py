"""The Historique de remboursement through FHIR: found by DocumentReference search, its content
generated as JSON or PDF by the Binary route, attached at $open, hidden from who may not read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from opendmp.feed import generator
from opendmp.feed.ingest import RejectsWriter, feed_files
from opendmp.identity.actor import Actor
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.conftest import a_person, bearer, open_parameters

PHARMACIST = Actor.professional("10000000021", "21")
DENTIST = Actor.professional("10000000040", "40")


def _feed(runtime: Runtime, path: Path, nirs: list[str], lines: int = 40) -> None:
    with path.open("wb") as out:
        generator.write(out, lines, 5, nirs, runtime.clock.now().date())
    report = feed_files(runtime.sessions, runtime.vault.keys, runtime.clock, [path], RejectsWriter(None))
    assert report.rejected == 0


def _search(client: TestClient[Any], runtime: Runtime, actor: Actor, record_id: Any) -> Any:
    return client.get(f"/fhir/DocumentReference?patient={record_id}&type=REMB", headers=bearer(runtime, actor))


def test_parked_claims_join_the_record_at_open_and_the_holder_reads_json_and_pdf(
    client: TestClient[Any], runtime: Runtime, tmp_path: Path
) -> None:
    ins, traits = a_person(order=31)
    _feed(runtime, tmp_path / "day.ndjson", [ins.value])  # before the record exists: parked
    f.add_professional(runtime, PHARMACIST.id, "21")
    opened = client.post(
        "/fhir/Patient/$open",
        json=open_parameters(ins, traits, channel="pharmacy"),
        headers=bearer(runtime, PHARMACIST),
    )
    assert opened.status_code == 201, opened.text
    record_id = opened.json()["id"]
    holder = Actor.patient(ins)
    found = _search(client, runtime, holder, record_id).json()
    assert found["total"] == 1
    resource = found["entry"][0]["resource"]
    assert resource["type"]["coding"][0]["code"] == "REMB"
    assert resource["category"][0]["coding"][0]["code"] == "60"
    json_url, pdf_url = (c["attachment"]["url"] for c in resource["content"])
    as_json = client.get(json_url, headers=bearer(runtime, holder))
    assert as_json.status_code == 200 and as_json.headers["content-type"].startswith("application/json")
    assert json.loads(as_json.content)["lines"] == 40
    as_pdf = client.get(pdf_url, headers=bearer(runtime, holder))
    assert as_pdf.status_code == 200 and as_pdf.content.startswith(b"%PDF")


def test_the_insurer_and_an_unauthorised_professional_get_404_and_the_matrix_applies(
    client: TestClient[Any], runtime: Runtime, tmp_path: Path
) -> None:
    ins, traits = a_person(order=32)
    record_id = f.open_record(runtime, Actor.insurer_feed(), ins, traits).record.id
    _feed(runtime, tmp_path / "day.ndjson", [ins.value])
    doc_id = _search(client, runtime, Actor.patient(ins), record_id).json()["entry"][0]["resource"]["id"]
    stranger = Actor.professional("10000000011", "10")
    f.add_professional(runtime, stranger.id, "10")
    for outsider in (Actor.insurer_feed(), stranger):
        assert client.get(f"/fhir/Binary/{doc_id}", headers=bearer(runtime, outsider)).status_code == 404
    f.authorise(runtime, record_id, PHARMACIST, DENTIST)
    assert client.get(f"/fhir/Binary/{doc_id}", headers=bearer(runtime, PHARMACIST)).status_code == 200
    assert _search(client, runtime, PHARMACIST, record_id).json()["total"] == 1
    # The default matrix gives dentists no class 60 (remboursement): neither listed nor readable.
    assert _search(client, runtime, DENTIST, record_id).json()["total"] == 0
    assert client.get(f"/fhir/Binary/{doc_id}", headers=bearer(runtime, DENTIST)).status_code == 404
