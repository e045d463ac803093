"""The patient's space in a real browser against a real server (one per module): every main page
passes check_page (screenshots at phone and desktop width, axe-core, no CSP violation, no script
error): the record at a glance, the documents, the viewer (CDA rendered, PDF framed), the upload
form with its errors, adding a document, access (blocking a doctor), the journal, preferences
closing, emergency information, vaccinations and advance directives; and the pages read
without JavaScript."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from opendmp.auth import sessions as login_sessions
from opendmp.auth.account_models import SessionStage
from opendmp.auth.hashing import AuthSecrets
from opendmp.config import Settings
from opendmp.identity.actor import Actor
from opendmp.kit.db import unit_of_work
from opendmp.runtime import Runtime
from tests.fhir.test_document_api import BIO_INS, BIO_TRAITS
from tests.live import live_server
from tests.web.browser import Watch, check_page
from tests.web.test_record_pages import CDA_DIR, PDF, a_doctor, a_holder, file_document

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f5d5"
    "b50000000049454e44ae426082"
)


@pytest.fixture
def portal(settings: Settings, tmp_path: Path) -> Any:
    with live_server(settings, tmp_path / "server.log") as base:
        yield base


def session_cookie(runtime: Runtime, actor: Actor, base: str) -> dict[str, Any]:
    """A live session for `actor`, started at the server's own (real) time, as the browser's
    cookie: the logins themselves have their own browser tests."""
    from opendmp.auth.sessions import SessionPolicy

    secrets = AuthSecrets.from_master_key(runtime.keys.master_key)
    with unit_of_work(runtime.sessions) as db:
        token = login_sessions.start(
            db,
            actor,
            SessionStage.AUTHENTICATED,
            datetime.now(UTC),
            SessionPolicy.from_settings(runtime.settings),
            secrets.random,
        )
    return {"name": "dmp_session", "value": token, "url": base}


def test_the_patient_space_page_by_page(
    page: Any, browser: Any, portal: str, runtime: Runtime, watch: Watch, tmp_path: Path
) -> None:
    holder, record_id = a_holder(runtime, BIO_INS, BIO_TRAITS)
    doctor = a_doctor(runtime, record_id)
    cda_id = file_document(runtime, record_id, doctor, (CDA_DIR / "cr-bio.xml").read_bytes(), "text/xml", "11502-2")
    pdf_id = file_document(runtime, record_id, doctor, PDF)
    page.context.add_cookies([session_cookie(runtime, holder, portal)])

    page.goto(portal + "/mon-dossier")
    assert page.get_by_role("heading", name="Derniers documents").is_visible()
    check_page(page, "patient-dossier", watch)

    page.get_by_role("link", name="Voir tous mes documents").click()
    assert page.get_by_role("link", name="Compte rendu de consultation").count() == 2
    check_page(page, "patient-documents", watch)
    page.get_by_label("Catégorie").select_option("10")
    page.get_by_role("button", name="Filtrer").click()
    assert "2 document(s)" in page.locator("h2").first.inner_text()
    assert "recherche" not in page.url and page.url.endswith("/documents")  # the search stayed in the body

    page.goto(f"{portal}/documents/{cda_id}")
    assert page.get_by_role("heading", name="BIOCHIMIE").is_visible()
    check_page(page, "document-cda", watch)

    page.goto(f"{portal}/documents/{pdf_id}")
    assert page.locator("iframe.viewer").is_visible()
    check_page(page, "document-pdf", watch)

    page.goto(f"{portal}/dossiers/{record_id}/documents/ajouter")
    page.get_by_role("button", name="Ajouter le document").click()
    assert page.locator("#titre-error").is_visible() and page.locator("#fichier-error").is_visible()
    # The refused form is answered 400 on purpose, which Chromium logs: that one line only.
    assert watch.errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    watch.errors.clear()
    check_page(page, "patient-ajout-erreurs", watch)
    page.get_by_label("Titre").fill("Radio du genou")
    page.get_by_label("Type de document").select_option("DOCPAT04")
    image = tmp_path / "genou.png"
    image.write_bytes(PNG_1PX)
    page.get_by_label("Fichier").set_input_files(str(image))
    page.get_by_role("button", name="Ajouter le document").click()
    page.wait_for_url(re.compile(r".*/documents/[0-9a-f-]{36}$"))
    assert page.get_by_role("heading", name="Radio du genou").is_visible()
    check_page(page, "document-image", watch)

    page.goto(f"{portal}/dossiers/{record_id}/acces")
    check_page(page, "patient-acces", watch)
    block = page.locator("form", has=page.get_by_role("button", name="Bloquer", exact=True))
    block.get_by_label("Numéro RPPS du professionnel (11 chiffres)").fill("100 000 000 02")
    block.get_by_role("button", name="Bloquer", exact=True).click()
    assert page.get_by_role("status").inner_text().startswith("Dr Anne MARTIN, médecin est bloqué")

    page.goto(f"{portal}/dossiers/{record_id}/journal")
    assert page.get_by_text("Dr Anne MARTIN, médecin a ajouté votre document").first.is_visible()
    check_page(page, "patient-journal", watch)

    page.goto(f"{portal}/dossiers/{record_id}/urgence")
    page.get_by_label("Ou en vos mots").first.fill("Pollen de bouleau")
    page.get_by_role("button", name="Ajouter l'allergie").click()
    assert page.get_by_text("Pollen de bouleau").is_visible()
    check_page(page, "patient-urgence", watch)
    page.goto(f"{portal}/dossiers/{record_id}/vaccinations")
    check_page(page, "patient-vaccinations", watch)
    page.goto(f"{portal}/dossiers/{record_id}/directives")
    check_page(page, "patient-directives", watch)

    page.goto(f"{portal}/dossiers/{record_id}/preferences")
    check_page(page, "patient-preferences", watch)
    page.goto(f"{portal}/dossiers/{record_id}/fermeture")
    check_page(page, "patient-fermeture", watch)

    page.goto(f"{portal}/langue?l=en&retour=/dossiers/{record_id}/documents")
    assert page.get_by_role("heading", name="My documents").is_visible()
    check_page(page, "patient-documents-en", watch)

    # Reading needs no script: the same pages, JavaScript off.
    context = browser.new_context(java_script_enabled=False, locale="fr-FR")
    try:
        context.add_cookies([session_cookie(runtime, holder, portal)])
        quiet = context.new_page()
        quiet.goto(f"{portal}/dossiers/{record_id}/documents")
        quiet.locator(f"a[href='/documents/{cda_id}']").click()
        assert quiet.get_by_role("heading", name="HÉMATOLOGIE").is_visible()
    finally:
        context.close()
