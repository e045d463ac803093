"""Document bytes at rest: encrypted, shredded with their record, moved with a merge, swept
when their transaction never committed, verified by `audit verify --content`."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from opendmp.auth.tokens import issue_token
from opendmp.config import Settings
from opendmp.document import service as documents
from opendmp.document.keystore import KeyDestroyed
from opendmp.document.models import Document
from opendmp.fhir.document import parse_document_reference
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins, InsSystem
from opendmp.jobs import run_jobs
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.kit.keys import load_keys
from opendmp.record import service as records
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.test_document_api import PDF, document_reference
from tests.live import server_env, spawn, stop

DOCTOR = Actor.professional("10000000002", "10")
SENTINEL = b"%PDF-1.4 SENTINEL-7f3a9c-diagnostic du patient"


def _submit(runtime: Runtime, record_id: Any, content: bytes = SENTINEL) -> Document:
    f.authorise(runtime, record_id, DOCTOR)
    item = parse_document_reference(document_reference(record_id, content))
    with unit_of_work(runtime.sessions) as session:
        return documents.submit_document(
            session, DOCTOR, item, content, runtime.clock.now(), runtime.vault, max_size=10_000_000
        ).document


def _read(runtime: Runtime, document_id: Any, actor: Actor = DOCTOR) -> bytes:
    with unit_of_work(runtime.sessions) as session:
        _, chunks = documents.read_content(session, actor, document_id, runtime.clock.now(), runtime.vault)
        return b"".join(chunks)


def test_no_plain_text_of_a_document_lands_on_disk(runtime: Runtime) -> None:
    view = f.open_record(runtime, Actor.counter_agent("a"), *f.person())
    _submit(runtime, view.record.id)
    for path in runtime.settings.data_dir.rglob("*"):
        if path.is_file():
            assert b"SENTINEL-7f3a9c" not in path.read_bytes(), path
    if runtime.settings.resolved_database_url.startswith("sqlite"):
        database = Path(runtime.settings.resolved_database_url.removeprefix("sqlite:///"))
        for path in database.parent.glob(database.name + "*"):
            assert b"SENTINEL-7f3a9c" not in path.read_bytes()


def test_purging_a_record_shreds_its_documents(runtime: Runtime, clock: FrozenClock) -> None:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.counter_agent("a"), ins, traits)
    document = _submit(runtime, view.record.id)
    with unit_of_work(runtime.sessions) as session:
        records.request_deletion(session, Actor.patient(ins), view.record.id, clock.now())
    run_jobs(runtime.job_context(), clock.now(), ["purge"])
    with runtime.sessions() as session:
        assert session.execute(select(func.count()).select_from(Document)).scalar_one() == 0
    with pytest.raises(KeyDestroyed):
        runtime.vault.keys.data_key_for(view.record.id, create=False)
    assert list(runtime.vault.blobs.list(f"{view.record.id}/")) == []
    assert document.blob_key


def test_a_merge_moves_documents_still_readable_under_the_survivors_key(runtime: Runtime, clock: FrozenClock) -> None:
    nia, traits = f.person(system=InsSystem.NIA, order=900)
    duplicate = f.open_record(runtime, Actor.counter_agent("a"), nia, traits)
    survivor = f.open_record(runtime, Actor.counter_agent("a"), Ins(InsSystem.NIR, nia.value), traits)
    document = _submit(runtime, duplicate.record.id)
    with unit_of_work(runtime.sessions) as session:
        records.merge_records(session, f.OPERATOR, survivor.record.id, duplicate.record.id, clock.now(), runtime.vault)
    assert _read(runtime, document.id) == SENTINEL
    runtime.vault.keys.destroy(duplicate.record.id, "test", clock.now())  # the old key no longer matters
    assert _read(runtime, document.id) == SENTINEL


def test_the_sweeper_removes_blobs_whose_metadata_never_committed(runtime: Runtime, clock: FrozenClock) -> None:
    view = f.open_record(runtime, Actor.counter_agent("a"), *f.person())
    kept = _submit(runtime, view.record.id)
    with pytest.raises(RuntimeError), unit_of_work(runtime.sessions) as session:
        item = parse_document_reference(document_reference(view.record.id, PDF + b"lost"))
        documents.submit_document(session, DOCTOR, item, PDF + b"lost", clock.now(), runtime.vault, max_size=10_000_000)
        raise RuntimeError("the transaction dies before it commits")
    assert len(list(runtime.vault.blobs.list(f"{view.record.id}/"))) == 2
    # Blob ages are the files' real times, so the sweeper is given the wall clock here.
    run_jobs(runtime.job_context(), datetime.now(UTC), ["blob-sweeper"])
    assert len(list(runtime.vault.blobs.list(f"{view.record.id}/"))) == 2  # too recent to judge
    result = run_jobs(runtime.job_context(), datetime.now(UTC) + timedelta(hours=2), ["blob-sweeper"])
    assert result[0].done == 1
    assert [key for key, _ in runtime.vault.blobs.list(f"{view.record.id}/")] == [kept.blob_key]
    assert _read(runtime, kept.id) == SENTINEL


def test_a_server_killed_between_blob_and_metadata_leaves_only_a_sweepable_orphan(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    view = f.open_record(runtime, Actor.counter_agent("a"), *f.person())
    f.authorise(runtime, view.record.id, DOCTOR)
    server, base = spawn(
        ["serve"], server_env(settings, OPENDMP_FAILPOINT="document.after-blob"), tmp_path / "serve.log"
    )
    try:
        token = issue_token(load_keys(settings), DOCTOR, dev=True)
        with pytest.raises(httpx.HTTPError):
            httpx.post(
                f"{base}/fhir/DocumentReference",
                json=document_reference(view.record.id),
                headers={"Authorization": f"Bearer {token}"},
                timeout=20,
            )
        assert server.wait(timeout=20) == 137
    finally:
        stop(server, signal.SIGKILL)
    with runtime.sessions() as session:
        assert session.execute(select(func.count()).select_from(Document)).scalar_one() == 0
    assert len(list(runtime.vault.blobs.list(f"{view.record.id}/"))) == 1
    run_jobs(runtime.job_context(), datetime.now(UTC) + timedelta(days=1), ["blob-sweeper"])
    assert list(runtime.vault.blobs.list(f"{view.record.id}/")) == []
