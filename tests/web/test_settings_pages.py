"""The patient's choices through the real app, on SQLite and PostgreSQL: emergency switches,
default masking and access window, notification channels, downloading everything as a ZIP
(documents + FHIR Bundle, each read journaled), closing the record, asking for its deletion
and reopening it."""

from __future__ import annotations

import html
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from opendmp.app import create_app
from opendmp.consent.models import ConsentPreferences
from opendmp.document.models import Document
from opendmp.kit.db import unit_of_work
from opendmp.notify.models import NotificationPreference
from opendmp.record.models import Record
from opendmp.runtime import Runtime
from tests.web.test_record_pages import (
    PDF,
    PNG,
    a_doctor,
    a_holder,
    file_document,
    journaled,
    post_form,
    sign_in,
    upload,
)


@pytest.fixture
def web(runtime: Runtime) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(runtime=runtime), base_url="https://testserver.local") as client:
        yield client


def test_the_holder_turns_emergency_switches_off_and_masks_new_documents_by_default(
    web: TestClient[Any], runtime: Runtime
) -> None:
    holder, record_id = a_holder(runtime)
    sign_in(web, runtime, holder)
    path = f"/dossiers/{record_id}/preferences"
    page = web.get(path)
    assert page.status_code == 200 and 'name="samu" value="1" checked' in page.text
    # Only the boxes left checked are sent: SAMU stays allowed, the rest is off.
    answer = post_form(web, path, path, {"operation": "acces", "samu": "1", "masquer_nouveaux": "1", "duree": "30"})
    assert answer.status_code == 200 and "préférences d'accès sont enregistrées" in html.unescape(answer.text)
    with unit_of_work(runtime.sessions) as db:
        prefs = db.get(ConsentPreferences, record_id)
        assert prefs is not None
        assert (prefs.samu_allowed, prefs.break_glass_allowed, prefs.masked_in_emergency) == (True, False, False)
        assert prefs.mask_new_documents and prefs.default_window_days == 30
    # A new document is now masked from professionals as it arrives.
    upload(web, record_id, PDF, "a.pdf")
    with unit_of_work(runtime.sessions) as db:
        assert db.execute(select(Document.masked_from_professionals)).scalar_one() is True
    wrong = post_form(web, path, path, {"operation": "acces", "duree": "999"})
    assert wrong.status_code == 400 and 'aria-describedby="duree-error"' in wrong.text


def test_emergency_access_notifications_cannot_all_be_turned_off(web: TestClient[Any], runtime: Runtime) -> None:
    holder, record_id = a_holder(runtime)
    sign_in(web, runtime, holder)
    path = f"/dossiers/{record_id}/preferences"
    refused = post_form(web, path, path, {"operation": "notifications", "new-document-sms": "1"})
    assert refused.status_code == 400 and 'id="emergency-access-error"' in refused.text
    with unit_of_work(runtime.sessions) as db:
        assert db.execute(select(NotificationPreference)).first() is None  # nothing half-written
    saved = post_form(
        web, path, path, {"operation": "notifications", "new-document-sms": "1", "emergency-access-email": "1"}
    )
    assert saved.status_code == 200
    with unit_of_work(runtime.sessions) as db:
        rows = {p.category: (p.email, p.sms) for p in db.execute(select(NotificationPreference)).scalars()}
    assert rows["new-document"] == (False, True) and rows["emergency-access"] == (True, False)
    assert rows["first-access"] == (False, False)


def test_download_everything_gives_every_document_and_a_fhir_bundle_each_read_journaled(
    web: TestClient[Any], runtime: Runtime
) -> None:
    holder, record_id = a_holder(runtime)
    doctor = a_doctor(runtime, record_id)
    first = file_document(runtime, record_id, doctor)
    sign_in(web, runtime, holder)
    upload(web, record_id, PNG, "radio.png", titre="Radio", type="DOCPAT04")
    path = f"/dossiers/{record_id}/preferences"
    answer = post_form(web, path, f"/dossiers/{record_id}/telechargement", {})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"].startswith("attachment;")
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    names = archive.namelist()
    bundle = json.loads(archive.read("dossier-fhir.json"))
    assert bundle["resourceType"] == "Bundle" and bundle["total"] == 2
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {"DocumentReference"}
    contents = sorted(archive.read(n) for n in names if n.startswith("documents/"))
    assert contents == sorted([PDF, PNG])
    assert journaled(runtime, "document:read-content", str(first))
    forged = web.post(f"/dossiers/{record_id}/telechargement", data={"csrf_token": "x"})
    assert forged.status_code == 403


def test_the_holder_closes_the_record_after_confirming_and_reopens_it(web: TestClient[Any], runtime: Runtime) -> None:
    holder, record_id = a_holder(runtime)
    sign_in(web, runtime, holder)
    path = f"/dossiers/{record_id}/fermeture"
    page = web.get(path)
    assert "archivé 10 ans" in page.text and "3 mois" in page.text
    unconfirmed = post_form(web, path, path, {"operation": "fermer"})
    assert unconfirmed.status_code == 400 and 'id="confirmation-fermer-error"' in unconfirmed.text
    closed = post_form(web, path, path, {"operation": "fermer", "confirmation": "1"})
    assert closed.status_code == 200 and "Votre dossier est fermé" in closed.text
    with unit_of_work(runtime.sessions) as db:
        record = db.get(Record, record_id)
        assert record is not None and record.status == "closed"
    reopened = post_form(web, path, path, {"operation": "rouvrir"})
    assert "Votre dossier est rouvert" in reopened.text
    deletion = post_form(web, path, path, {"operation": "supprimer", "confirmation": "1"})
    assert "demande de suppression est enregistrée" in deletion.text
    with unit_of_work(runtime.sessions) as db:
        record = db.get(Record, record_id)
        assert record is not None and record.status == "deletion-requested" and record.deletion_due is not None


def test_someone_else_cannot_change_or_download_another_record(web: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_holder(runtime)
    other, other_record = a_holder(runtime)
    sign_in(web, runtime, other)
    own = f"/dossiers/{other_record}/preferences"
    for action in ("preferences", "telechargement", "fermeture"):
        answer = post_form(web, own, f"/dossiers/{record_id}/{action}", {"operation": "fermer", "confirmation": "1"})
        assert answer.status_code == 404, action
    assert web.get(f"/dossiers/{record_id}/preferences").status_code == 404
    with unit_of_work(runtime.sessions) as db:
        record = db.get(Record, record_id)
        assert record is not None and record.status != "closed"


def test_the_reimbursement_history_comes_in_the_archive_as_its_pdf(
    web: TestClient[Any], runtime: Runtime, tmp_path: Any
) -> None:
    from opendmp.feed import generator
    from opendmp.feed.ingest import RejectsWriter, feed_files

    holder, record_id = a_holder(runtime)
    assert holder.ins is not None
    claims = tmp_path / "claims.ndjson"
    with claims.open("wb") as out:
        generator.write(out, 30, 4, [holder.ins.value], runtime.clock.now().date())
    assert feed_files(runtime.sessions, runtime.vault.keys, runtime.clock, [claims], RejectsWriter(None)).rejected == 0
    sign_in(web, runtime, holder)
    listing = web.get(f"/dossiers/{record_id}/documents")
    assert "Remboursements" in listing.text
    with unit_of_work(runtime.sessions) as db:
        history_id = db.execute(select(Document.id).where(Document.record_id == record_id)).scalar_one()
    viewer = web.get(f"/documents/{history_id}")
    assert f'<iframe class="viewer" src="/documents/{history_id}/contenu"' in viewer.text
    path = f"/dossiers/{record_id}/preferences"
    answer = post_form(web, path, f"/dossiers/{record_id}/telechargement", {})
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    [name] = [n for n in archive.namelist() if n.startswith("documents/")]
    assert name.endswith(".pdf") and archive.read(name).startswith(b"%PDF")
    assert journaled(runtime, "document:read-content", str(history_id))
