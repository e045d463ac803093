"""The portal's main journey, end to end in a real browser (Debian's chromium through Playwright)
against a real server (`opendmp serve`) and a real OpenID provider (oidc-provider-mock):

a counter agent opens a record and prints the credentials letter → the patient activates their
space with the letter's code and logs in with the one-time code (read from the file the outbox's
file sender wrote) → uploads a document → a doctor logs in, finds the patient by the card's NIR,
declares the patient's consent and reads the document → the patient sees that reading in the
journal → the patient declares the doctor médecin traitant, who writes the VSM → the patient
blocks the doctor → the doctor can no longer read it, and logs out (here,
then at the provider).

Every main page on the way passes check_page (screenshots at phone and desktop width, axe-core,
no console error). One live server for the whole journey (SQLite: the HTTP layers are the same
on PostgreSQL, whose pages are tested through TestClient in test_pro_space.py)."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from opendmp.auth import staff
from opendmp.auth.staff_models import StaffRole
from opendmp.config import Settings
from opendmp.identity.actor import Actor
from opendmp.kit.clock import SystemClock
from opendmp.kit.db import unit_of_work
from opendmp.notify import worker
from opendmp.notify.senders import make_senders
from opendmp.runtime import Runtime
from tests import factories as f
from tests.live import free_port, server_env, spawn, stop
from tests.oidc_provider import Provider, running_provider
from tests.web.browser import Watch, check_page

DOCTOR_RPPS = "10000000321"
OFFICE = "750000009"
NIR = f.make_nir(order=321)  # a woman born 17/05/1980 in Paris (75056)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "opendmp.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        yield running


@pytest.fixture
def portal(settings: Settings, runtime: Runtime, provider: Provider, tmp_path: Path) -> Iterator[str]:
    """The server, its directory (a doctor, an insurer office) and a counter agent's account."""
    f.add_organisation(runtime, OFFICE, kind="insurer-office", name="CPAM de Paris")
    f.add_professional(runtime, DOCTOR_RPPS, "10", family="MARTIN", given="Sophie")
    provider.set_claims("dr-martin", {"preferred_username": "8" + DOCTOR_RPPS})
    with unit_of_work(runtime.sessions) as db:
        agent = staff.StaffIn("agent-journey", "agent-journey", provider.issuer, StaffRole.COUNTER_AGENT, OFFICE)
        staff.add_staff(db, Actor.operator("test"), agent, runtime.clock.now())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(
        settings,
        OPENDMP_OIDC_ISSUER=provider.issuer,
        OPENDMP_OIDC_CLIENT_ID="opendmp-journey",
        OPENDMP_OIDC_CLIENT_SECRET="journey-secret",
        OPENDMP_OIDC_SCOPES="openid profile",
        OPENDMP_PUBLIC_BASE_URL=base,
        OPENDMP_LOGIN_RATE_LIMIT="10000/minute",
    )
    server, base = spawn(["serve"], env, tmp_path / "server.log", port=port)
    try:
        yield base
    finally:
        stop(server)


def one_time_code(settings: Settings, runtime: Runtime) -> str:
    """Send the outbox now (the worker `opendmp notify send` runs), then read the newest code
    from the files the development sender wrote."""
    worker.send_due(runtime.sessions, make_senders(settings), SystemClock(), worker.Delivery.from_settings(settings))
    files = sorted((settings.data_dir / "outbox").glob("*.*"), key=lambda p: p.stat().st_mtime)
    assert files, "a message was written to the outbox folder"
    found = re.search(r"\b(\d{6})\b", files[-1].read_text(encoding="utf-8"))
    assert found, files[-1].read_text(encoding="utf-8")
    return found.group(1)


def log_in_at_provider(page: Any, watch: Watch, base: str, start: str, user: str) -> None:
    """Press the portal's login button, then type the user on the provider's page. The provider's
    own page (a CDN stylesheet, no favicon) is not ours: its console errors are dropped."""
    page.goto(base + start)
    page.locator("main form button[type=submit]").click()
    page.locator("input[name=sub]").fill(user)
    page.locator("form [type=submit]").first.click()
    page.wait_for_url(re.compile(re.escape(base) + r"/(pro|guichet)$"))
    watch.errors.clear()


def test_counter_opens_patient_activates_uploads_doctor_reads_patient_sees_it_and_blocks(
    browser: Any, page: Any, watch: Watch, portal: str, settings: Settings, runtime: Runtime, provider: Provider
) -> None:
    base = portal

    # 1. The counter agent opens the record, the NIR key checked as typed, and prints the letter.
    log_in_at_provider(page, watch, base, "/connexion/agent", "agent-journey")
    check_page(page, "guichet-accueil", watch)
    page.get_by_role("link", name="Ouvrir un DMP pour un patient présent").click()
    page.locator("#ins").fill(NIR[:13] + "00")
    page.get_by_text("La clé du NIR ne correspond pas").wait_for()
    page.locator("#ins").fill(" ".join([NIR[:1], NIR[1:3], NIR[3:5], NIR[5:10], NIR[10:13], NIR[13:]]))
    page.get_by_text("NIR valable : la clé correspond.").wait_for()
    page.locator("#t-nom").fill("Lambert")
    page.locator("#t-prenoms").fill("Claire")
    page.locator("#t-naissance").fill("1980-05-17")
    page.locator("#t-lieu").fill("75056")
    page.get_by_label("Féminin").check()
    page.get_by_label("Le patient consent à l'ouverture de son DMP").check()
    check_page(page, "guichet-ouverture", watch)
    page.get_by_role("button", name="Ouvrir le DMP").click()
    page.get_by_text("Le DMP de CLAIRE LAMBERT est ouvert.").wait_for()
    login_id = page.locator("#identifiant").inner_text().strip()
    check_page(page, "guichet-dmp-ouvert", watch)
    with page.expect_download() as download:
        page.get_by_role("button", name="Imprimer le courrier (PDF)").click()
    letter = Path(download.value.path()).read_bytes()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(letter)).pages)
    assert login_id.replace("-", "") in text.replace("-", "").replace(" ", "")
    code = re.search(r"\b([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})\b", text)
    assert code, text

    # 2. The patient activates with the letter's code, then logs in with a one-time code.
    patient = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900})
    me = patient.new_page()
    watch.attach(me)
    me.goto(base + "/activation")
    me.locator("input[name=code]").fill(code.group(1))
    me.locator("input[name=nir]").fill(NIR)
    me.locator("input[name=date_naissance]").fill("1980-05-17")
    me.locator("main form button[type=submit]").first.click()
    me.wait_for_url(base + "/activation/mot-de-passe")
    me.locator("input[name=mot_de_passe]").fill("une phrase de passe bien longue")
    me.locator("input[name=confirmation]").fill("une phrase de passe bien longue")
    me.locator("main form button[type=submit]").first.click()
    me.wait_for_url(base + "/activation/contact")
    me.locator("input[name=adresse]").fill("+33612345678")
    me.locator("main form button[type=submit]").first.click()
    me.wait_for_url(base + "/activation/verification")
    me.locator("input[name=code]").fill(one_time_code(settings, runtime))
    me.locator("main form button[type=submit]").first.click()
    me.get_by_text("activé").first.wait_for()
    me.goto(base + "/connexion")
    me.locator("input[name=identifiant]").fill(login_id)
    me.locator("input[name=mot_de_passe]").fill("une phrase de passe bien longue")
    me.locator("main form button[type=submit]").first.click()
    me.wait_for_url(base + "/connexion/code")
    me.locator("input[name=code]").fill(one_time_code(settings, runtime))
    me.locator("main form button[type=submit]").first.click()
    me.wait_for_url(re.compile(re.escape(base) + r"/(mon-dossier|dossiers/.*)$"))
    check_page(me, "patient-dossier", watch)

    # 3. The patient adds a document.
    me.get_by_role("link", name="Documents", exact=True).first.click()
    record_url = re.sub(r"/documents.*$", "", me.url)
    me.goto(record_url + "/documents/ajouter")
    me.locator("#titre").fill("Compte rendu de mon kiné")
    me.locator("#type").select_option(index=1)
    me.locator("#date").fill("2026-11-02")
    me.locator("#fichier").set_input_files({"name": "kine.pdf", "mimeType": "application/pdf", "buffer": PDF})
    me.get_by_role("button", name="Ajouter le document").click()
    me.get_by_text("Compte rendu de mon kiné").first.wait_for()

    # 4. The doctor logs in, finds the patient by the card's NIR, declares the consent, reads.
    doctor = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900})
    dr = doctor.new_page()
    watch.attach(dr)
    log_in_at_provider(dr, watch, base, "/connexion/pro", "dr-martin")
    check_page(dr, "pro-recherche", watch)
    dr.locator("#ins").fill(NIR[:13])  # without the key: computed
    dr.get_by_label("NIR", exact=True).check()
    dr.get_by_role("button", name="Rechercher").first.click()
    dr.wait_for_url(re.compile(re.escape(base) + r"/pro/dossier/[0-9a-f-]+$"))
    assert NIR not in dr.url
    pro_record_url = dr.url
    dr.get_by_label("Le patient est présent et a été informé").check()
    dr.get_by_role("button", name="Déclarer l'autorisation").click()
    dr.get_by_text("Vous êtes autorisé(e) par le patient.").wait_for()
    check_page(dr, "pro-dossier", watch)
    dr.get_by_role("link", name="Compte rendu de mon kiné").click()
    dr.wait_for_url(re.compile(re.escape(base) + r"/documents/[0-9a-f-]+$"))
    document_url = dr.url
    assert dr.get_by_text("Compte rendu de mon kiné").first.is_visible()
    check_page(dr, "pro-document", watch)

    # 5. The patient sees the reading in the journal.
    me.goto(record_url + "/journal")
    me.get_by_text(re.compile("MARTIN")).first.wait_for()
    check_page(me, "patient-journal", watch)

    # 6. The patient declares the doctor as médecin traitant, who writes the VSM; then the patient
    # blocks the doctor, who can no longer read.
    me.goto(record_url + "/acces")
    me.locator("#rpps-medecin-traitant").fill(DOCTOR_RPPS)
    me.get_by_role("button", name="Déclarer", exact=True).click()
    me.wait_for_load_state()
    dr.goto(pro_record_url + "/vsm")
    check_page(dr, "pro-vsm", watch)
    dr.locator("#antecedents-0-label").fill("Hypertension artérielle")
    dr.get_by_role("button", name="Enregistrer dans le DMP").click()
    dr.locator("#allergies-error").wait_for()  # allergies: none listed, "none known" not ticked
    assert dr.locator("#antecedents-0-label").input_value() == "Hypertension artérielle"
    watch.errors.clear()  # the console reports the form's 400 answer: expected here
    dr.get_by_label("Aucune allergie connue").check()
    dr.get_by_role("button", name="Enregistrer dans le DMP").click()
    dr.wait_for_url(pro_record_url)
    dr.locator("table").get_by_text(re.compile("synthèse", re.IGNORECASE)).first.wait_for()

    me.goto(record_url + "/acces")
    me.locator("#rpps-bloquer").fill(DOCTOR_RPPS)
    me.get_by_role("button", name="Bloquer", exact=True).click()
    me.wait_for_load_state()
    assert me.get_by_text(re.compile("MARTIN")).first.is_visible()
    answer = dr.goto(document_url)
    assert answer is not None and answer.status == 404
    again = dr.goto(pro_record_url)
    assert again is not None and again.status == 404

    # 7. The doctor logs out: the session ends here, then at the provider.
    dr.goto(base + "/pro")
    dr.get_by_role("button", name="Se déconnecter").click()
    dr.wait_for_url(re.compile(re.escape(provider.issuer) + ".*"))
    assert dr.goto(base + "/pro").status == 401  # type: ignore[union-attr]
    patient.close()
    doctor.close()
