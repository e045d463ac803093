"""A FHIR client nobody here wrote (fhirpy) submits, finds, reads, replaces, masks and deletes
documents against a real server."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound

from opendmp.auth.tokens import issue_token
from opendmp.config import Settings
from opendmp.identity.actor import Actor
from opendmp.kit.keys import load_keys
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.test_document_api import MASK, PDF, document_reference
from tests.live import live_server

DOCTOR = Actor.professional("10000000002", "10")


@pytest.fixture
def fhir(settings: Settings, runtime: Runtime, tmp_path: Path) -> Any:
    keys = load_keys(settings)
    with live_server(settings, tmp_path / "serve.log") as base:

        def client(actor: Actor = DOCTOR) -> SyncFHIRClient:
            return SyncFHIRClient(f"{base}/fhir", authorization=f"Bearer {issue_token(keys, actor, dev=True)}")

        yield client


def test_fhirpy_manages_a_document_from_submission_to_deletion(fhir: Any, runtime: Runtime) -> None:
    ins, traits = f.person()
    record_id = f.open_record(runtime, Actor.counter_agent("a"), ins, traits).record.id
    f.authorise(runtime, record_id, DOCTOR)
    client = fhir()
    document = client.resource("DocumentReference", **document_reference(record_id))
    document.save()
    assert document["id"] and document["status"] == "current"

    found = client.resources("DocumentReference").search(patient=str(record_id)).fetch_all()
    assert [d["id"] for d in found] == [document["id"]]
    binary = client.reference("Binary", document["id"]).to_resource()
    assert base64.b64decode(binary["data"]) == PDF

    new = client.resource(
        "DocumentReference",
        **document_reference(
            record_id,
            PDF + b"%v2",
            relatesTo=[{"code": "replaces", "target": {"reference": f"DocumentReference/{document['id']}"}}],
        ),
    )
    new.save()
    assert client.reference("DocumentReference", document["id"]).to_resource()["status"] == "superseded"

    holder = fhir(Actor.patient(ins))
    masked = holder.execute(f"DocumentReference/{new['id']}", method="patch", data=[MASK])  # type: ignore[arg-type]
    assert "MASQUE_PS" in [s["code"] for s in masked["meta"]["security"]]

    client.execute(f"DocumentReference/{new['id']}", method="delete")
    assert client.resources("DocumentReference").search(patient=str(record_id)).fetch_all() == []
    with pytest.raises(ResourceNotFound):
        fhir(Actor.professional("10000000003", "10")).reference("DocumentReference", new["id"]).to_resource()
