"""The professional's space and the counter, page by page, through HTTP on SQLite and PostgreSQL:
finding a patient (INS as typed from the card, or the five traits, always POSTed), what the
professional may see and why, the permitted documents only, emergency access with its reason,
the authorisation declared with the patient present, adding a document; the counter's opening
with the NIR key checked as typed, the consent, the credentials and the letter.

The OpenID Connect login itself is tested in test_pro_login.py: here a signed-in session is made
directly (the same sessions.start the callback uses)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from opendmp.app import create_app
from opendmp.auth import sessions as login_sessions
from opendmp.auth.account_models import SessionStage
from opendmp.config import Settings
from opendmp.consent import service as consents
from opendmp.document import service as documents
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Gender, nir_key
from opendmp.journal.models import JournalEntry
from opendmp.journal.service import chain_of
from opendmp.kit.db import unit_of_work
from opendmp.record.models import Record
from opendmp.runtime import Runtime
from opendmp.web.patient_pages import edge_of
from tests import factories as f
from tests.integration.test_notify import submit
from tests.integration.test_patient_login import a_record
from tests.web.test_patient_pages import csrf

RPPS = "10000000123"
DOCTOR = Actor.professional(RPPS, "10", "750000001", display_name="Paul DURAND")
NURSE = Actor.professional("10000000456", "60", None, display_name="Inès MOREAU")
AGENT = Actor.counter_agent("agent-paris-11", "750000002")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"login_rate_limit": "10000/minute"})


@pytest.fixture
def web(runtime: Runtime) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(runtime=runtime), base_url="https://testserver.local") as client:
        yield client


@pytest.fixture
def doctor(runtime: Runtime) -> Actor:
    f.add_organisation(runtime, "750000001", kind="health-centre", name="Centre de santé")
    f.add_professional(runtime, RPPS, "10", finess="750000001", family="DURAND", given="Paul")
    return DOCTOR


def sign_in(web: TestClient[Any], runtime: Runtime, actor: Actor) -> None:
    """A signed-in session for `actor`, as the OpenID Connect callback leaves it."""
    edge = edge_of_app(web)
    with unit_of_work(runtime.sessions) as db:
        token = login_sessions.start(
            db, actor, SessionStage.AUTHENTICATED, runtime.clock.now(), edge.policy, edge.secrets.random
        )
    web.cookies.set("__Host-dmp_session", token, domain="testserver.local")


def edge_of_app(web: TestClient[Any]) -> Any:
    class _Request:
        app = web.app

    return edge_of(_Request())  # type: ignore[arg-type]


def post_on(web: TestClient[Any], page: str, path: str, fields: dict[str, Any], **kw: Any) -> Any:
    html = web.get(page).text
    return web.post(path, data={"csrf_token": csrf(html), **fields}, follow_redirects=False, **kw)


def actions(runtime: Runtime, record_id: uuid.UUID | None = None) -> list[tuple[str, str, str | None]]:
    with unit_of_work(runtime.sessions) as db:
        stmt = select(JournalEntry).order_by(JournalEntry.at, JournalEntry.seq)
        if record_id is not None:
            stmt = stmt.where(JournalEntry.chain == chain_of(record_id))
        return [(e.action, e.outcome, e.reason) for e in db.execute(stmt).scalars()]


def spaced(nir: str) -> str:
    """The NIR as printed on the carte Vitale: 2 80 05 75 056 001 | 45."""
    return f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}"


# ---------------------------------------------------------------- finding a patient


def test_a_professional_finds_a_patient_by_the_card_number_typed_with_spaces_or_without_its_key(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    ins, record_id = a_record(runtime)
    sign_in(web, runtime, doctor)
    for typed in (spaced(ins.value), ins.value[:13]):
        answer = post_on(web, "/pro", "/pro", {"par": "ins", "ins": typed, "systeme": ins.system.value})
        assert answer.status_code == 303
        # The record's random id in the address, never the INS.
        assert answer.headers["location"] == f"/pro/dossier/{record_id}"
        assert ins.value not in answer.headers["location"]
    page = web.get(f"/pro/dossier/{record_id}")
    assert page.status_code == 200 and "CLAIRE ANNE MARTIN" in page.text
    assert "Vous n&#39;avez pas d&#39;accès au contenu de ce dossier" in page.text


def test_a_wrong_nir_key_is_said_next_to_the_field_and_nothing_is_searched(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    ins, _ = a_record(runtime)
    sign_in(web, runtime, doctor)
    wrong = ins.value[:13] + f"{(nir_key(ins.value[:13]) + 1) % 100:02d}"
    answer = post_on(web, "/pro", "/pro", {"par": "ins", "ins": wrong})
    assert answer.status_code == 400
    assert 'aria-invalid="true" aria-describedby="ins-error ins-hint"' in answer.text
    assert "La clé du NIR ne correspond pas" in answer.text
    assert not [a for a in actions(runtime) if a[0] == "record:search"]


def test_the_five_strict_traits_find_the_record_and_a_missing_trait_is_named(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    _, record_id = a_record(runtime)
    sign_in(web, runtime, doctor)
    traits = {"par": "traits", "nom": "Martin", "prenoms": "claire anne", "naissance": "1980-05-17", "lieu": "75056"}
    missing = post_on(web, "/pro", "/pro", traits)
    assert missing.status_code == 400 and 'id="t-sexe-error"' in missing.text
    found = post_on(web, "/pro", "/pro", {**traits, "sexe": "female"})
    assert found.status_code == 303 and found.headers["location"] == f"/pro/dossier/{record_id}"
    nobody = post_on(web, "/pro", "/pro", {**traits, "sexe": "female", "naissance": "1981-05-17"})
    assert nobody.status_code == 200 and "Aucun DMP accessible pour ce patient." in nobody.text


def test_the_record_page_answers_401_without_a_session_403_to_a_counter_agent_and_404_when_unknown(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    _, record_id = a_record(runtime)
    assert web.get(f"/pro/dossier/{record_id}").status_code == 401
    sign_in(web, runtime, AGENT)
    assert web.get(f"/pro/dossier/{record_id}").status_code == 403
    sign_in(web, runtime, doctor)
    assert web.get(f"/pro/dossier/{uuid.uuid4()}").status_code == 404
    assert web.get("/pro/dossier/not-an-id").status_code == 404


# ---------------------------------------------------------------- what the professional may see


def test_an_authorised_professional_sees_the_permitted_documents_but_not_the_masked_ones(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    ins, record_id = a_record(runtime)
    f.authorise(runtime, record_id, doctor)
    shown = submit(runtime, record_id, doctor)
    hidden = submit(runtime, record_id, doctor)
    holder = Actor.patient(ins)
    with unit_of_work(runtime.sessions) as db:
        documents.update_metadata(
            db,
            holder,
            hidden.document.id,
            documents.MetadataChange(masked_from_professionals=True),
            runtime.clock.now(),
        )
    other = Actor.professional("10000000999", "10")
    f.authorise(runtime, record_id, other)
    sign_in(web, runtime, other)
    page = web.get(f"/pro/dossier/{record_id}")
    assert page.status_code == 200
    assert "Vous êtes autorisé(e) par le patient." in page.text
    assert f'href="/documents/{shown.document.id}"' in page.text
    assert str(hidden.document.id) not in page.text
    assert "Les documents que le patient a masqués ne vous sont pas présentés." in page.text
    assert ("document:search", "success", "returned=1;total=1") in actions(runtime, record_id)


def test_a_blocked_professional_no_longer_finds_the_record(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    ins, record_id = a_record(runtime)
    f.authorise(runtime, record_id, doctor)
    with unit_of_work(runtime.sessions) as db:
        consents.block(db, Actor.patient(ins), record_id, RPPS, runtime.clock.now())
    sign_in(web, runtime, doctor)
    answer = post_on(web, "/pro", "/pro", {"par": "ins", "ins": ins.value, "systeme": ins.system.value})
    assert answer.status_code == 200 and "Aucun DMP accessible pour ce patient." in answer.text
    assert web.get(f"/pro/dossier/{record_id}").status_code == 404


# ---------------------------------------------------------------- emergency access


def test_emergency_access_needs_its_reason_then_is_marked_and_time_limited(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    _, record_id = a_record(runtime)
    author = Actor.professional("10000000777", "10")
    f.authorise(runtime, record_id, author)
    document = submit(runtime, record_id, author)
    sign_in(web, runtime, doctor)
    page = f"/pro/dossier/{record_id}"
    assert str(document.document.id) not in web.get(page).text

    empty = post_on(web, page, page + "/urgence", {"motif": "  "})
    assert empty.status_code == 400
    assert 'aria-describedby="motif-error"' in empty.text and "Indiquez le motif" in empty.text

    done = post_on(web, page, page + "/urgence", {"motif": "Patient inconscient aux urgences"})
    assert done.status_code == 303
    after = web.get(page).text
    assert 'class="badge emergency"' in after and "encore 120 min" in after
    assert str(document.document.id) in after
    assert any(a[0] == "emergency:access" and "Patient inconscient" in (a[2] or "") for a in actions(runtime))


def test_a_professional_declares_an_authorisation_only_with_the_patient_present(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    _, record_id = a_record(runtime)
    sign_in(web, runtime, doctor)
    page = f"/pro/dossier/{record_id}"
    absent = post_on(web, page, page + "/autorisation", {"base": "consentement"})
    assert absent.status_code == 400 and 'id="present-error"' in absent.text
    declared = post_on(web, page, page + "/autorisation", {"base": "consentement", "present": "1"})
    assert declared.status_code == 303
    assert "Vous êtes autorisé(e) par le patient." in web.get(page).text


# ---------------------------------------------------------------- adding a document, recent exams


def test_a_professional_adds_a_pdf_with_its_metadata_and_a_wrong_file_is_refused_next_to_its_field(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    _, record_id = a_record(runtime)
    f.authorise(runtime, record_id, doctor)
    sign_in(web, runtime, doctor)
    page = f"/pro/dossier/{record_id}"
    fields = {"type": "11488-4", "titre": "Consultation du 12 mars", "date": "2026-03-12"}
    token = csrf(web.get(page).text)
    fake = web.post(
        page + "/document",
        data={"csrf_token": token, **fields},
        files={"fichier": ("cr.pdf", b"not a pdf", "application/pdf")},
    )
    assert fake.status_code == 400 and 'aria-describedby="fichier-error"' in fake.text
    assert 'value="Consultation du 12 mars"' in fake.text  # nothing typed is lost
    added = web.post(
        page + "/document", data={"csrf_token": token, **fields}, files={"fichier": ("cr.pdf", PDF, "application/pdf")}
    )
    assert added.status_code == 200, added.text
    assert "Le document « Consultation du 12 mars » a été ajouté au dossier." in added.text
    with unit_of_work(runtime.sessions) as db:
        found, total = documents.search_documents(db, doctor, record_id, documents.DocumentQuery(), runtime.clock.now())
    assert total == 1 and found[0].document.type_code == "11488-4" and found[0].document.mime_type == "application/pdf"


def test_the_recent_exam_check_answers_as_a_fragment_for_htmx(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    _, record_id = a_record(runtime)
    f.authorise(runtime, record_id, doctor)
    sign_in(web, runtime, doctor)
    page = f"/pro/dossier/{record_id}"
    answer = post_on(
        web, page, page + "/examen", {"examen": "2.16.840.1.113883.6.1|4548-4"}, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200 and answer.text.startswith('<div id="examen-reponse"')
    assert "aucun examen de ce type dans les 90 derniers jours" in answer.text
    assert ("document:exam-query", "success", "code=4548-4;days=90;found=False") in actions(runtime, record_id)


# ---------------------------------------------------------------- the counter


def counter_fields(**kw: str) -> dict[str, str]:
    nir = f.make_nir(Gender.MALE, date(1975, 2, 3), "69123", 42)
    return {
        "ins": spaced(nir),
        "nom": "Lefèvre",
        "prenoms": "Jean",
        "naissance": "1975-02-03",
        "sexe": "male",
        "lieu": "69123",
        "consentement": "1",
        "methode": "oral",
        **kw,
    }


def test_the_nir_key_is_checked_as_it_is_typed(web: TestClient[Any], runtime: Runtime) -> None:
    sign_in(web, runtime, AGENT)
    nir = f.make_nir(order=7)
    good = post_on(web, "/guichet/ouverture", "/guichet/ouverture/nir", {"ins": spaced(nir)})
    assert good.status_code == 200 and good.text.startswith('<div id="nir-field">')
    assert "NIR valable : la clé correspond." in good.text
    bad = post_on(web, "/guichet/ouverture", "/guichet/ouverture/nir", {"ins": nir[:13] + "00"})
    assert 'aria-invalid="true"' in bad.text and "La clé du NIR ne correspond pas" in bad.text
    short = post_on(web, "/guichet/ouverture", "/guichet/ouverture/nir", {"ins": nir[:9]})
    assert "Un NIR a 13 caractères, ou 15 avec sa clé (9 saisis)." in short.text


def test_a_counter_agent_opens_a_record_with_consent_and_prints_the_letter(
    web: TestClient[Any], runtime: Runtime
) -> None:
    sign_in(web, runtime, AGENT)
    opened = post_on(web, "/guichet/ouverture", "/guichet/ouverture", counter_fields())
    assert opened.status_code == 200, opened.text
    login = re.search(r'id="identifiant">([^<]+)<', opened.text)
    code = re.search(r'id="code-activation">([^<]+)<', opened.text)
    assert login and code
    with unit_of_work(runtime.sessions) as db:
        record = db.execute(select(Record)).scalar_one()
        assert (record.channel, record.consent_method, record.consent_collected_by) == (
            "insurer-counter",
            "oral",
            AGENT.id,
        )
    letter = web.post(f"/guichet/courrier/{record.id}", data={"csrf_token": csrf(opened.text)})
    assert letter.status_code == 200 and letter.content.startswith(b"%PDF-")
    assert letter.headers["content-disposition"].startswith("attachment;")
    assert letter.headers["cache-control"] == "no-store"


def test_an_opening_without_consent_or_with_traits_that_contradict_the_nir_keeps_what_was_typed(
    web: TestClient[Any], runtime: Runtime
) -> None:
    sign_in(web, runtime, AGENT)
    no_consent = post_on(web, "/guichet/ouverture", "/guichet/ouverture", counter_fields(consentement=""))
    assert no_consent.status_code == 400 and 'id="consent-error"' in no_consent.text
    assert 'value="Lefèvre"' in no_consent.text
    wrong_sex = post_on(web, "/guichet/ouverture", "/guichet/ouverture", counter_fields(sexe="female"))
    assert wrong_sex.status_code == 400 and 'id="t-sexe-error"' in wrong_sex.text
    with unit_of_work(runtime.sessions) as db:
        assert db.execute(select(Record)).first() is None


def test_a_nurse_opens_at_her_practice_on_the_nurse_channel_and_a_second_opening_is_refused(
    web: TestClient[Any], runtime: Runtime
) -> None:
    f.add_professional(runtime, NURSE.id, "60", family="MOREAU", given="Inès")
    sign_in(web, runtime, NURSE)
    assert "Ouvrir un DMP" in web.get("/pro").text
    first = post_on(web, "/guichet/ouverture", "/guichet/ouverture", counter_fields())
    assert first.status_code == 200
    again = post_on(web, "/guichet/ouverture", "/guichet/ouverture", counter_fields())
    assert again.status_code == 409 and "Ce patient a déjà un DMP" in again.text
    with unit_of_work(runtime.sessions) as db:
        assert db.execute(select(Record.channel)).scalar_one() == "nurse"


def test_pages_are_never_cached_and_forms_carry_no_health_data_in_urls(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    _, record_id = a_record(runtime)
    sign_in(web, runtime, doctor)
    for path in ("/pro", f"/pro/dossier/{record_id}"):
        answer = web.get(path)
        assert answer.headers["cache-control"] == "no-store"
        assert 'method="get"' not in answer.text.lower()


# ---------------------------------------------------------------- the remuneration ledger


def test_a_pharmacist_sees_the_openings_their_pharmacy_is_paid_for_and_a_doctor_has_no_statement(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    f.add_organisation(runtime, "750000003", kind="pharmacy", name="Pharmacie du Marché")
    f.add_professional(runtime, "10000000654", "21", finess="750000003", family="ROUX", given="Anne")
    pharmacist = Actor.professional("10000000654", "21", "750000003")
    sign_in(web, runtime, pharmacist)
    assert post_on(web, "/guichet/ouverture", "/guichet/ouverture", counter_fields()).status_code == 200
    ledger = web.get("/guichet/remuneration")
    assert ledger.status_code == 200
    assert "Pharmacie du Marché" in ledger.text and "1 ouverture(s) de DMP rémunérée(s) ce mois-ci." in ledger.text
    statement = web.get("/guichet/remuneration/releve.pdf")
    assert statement.status_code == 200 and statement.content.startswith(b"%PDF-")
    assert statement.headers["content-disposition"].startswith("attachment;")
    assert any(a[0] == "remuneration:statement" for a in actions(runtime))
    sign_in(web, runtime, doctor)
    assert web.get("/guichet/remuneration").status_code == 403


# ---------------------------------------------------------------- VSM and DLU forms


def test_the_medecin_traitant_writes_the_vsm_with_each_problem_next_to_its_field(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    ins, record_id = a_record(runtime)
    with unit_of_work(runtime.sessions) as db:
        consents.designate_medecin_traitant(db, Actor.patient(ins), record_id, RPPS, runtime.clock.now())
    sign_in(web, runtime, doctor)
    page = f"/pro/dossier/{record_id}"
    assert f'href="{page}/vsm"' in web.get(page).text
    wrong = post_on(
        web, page + "/vsm", page + "/vsm", {"antecedents-0-label": "Diabète de type 2", "antecedents-0-code": "diabete"}
    )
    assert wrong.status_code == 400
    assert 'id="antecedents-0-code-error"' in wrong.text and "Ce n&#39;est pas un code CIM-10" in wrong.text
    assert 'id="allergies-error"' in wrong.text and "aucune allergie connue" in wrong.text
    assert 'value="Diabète de type 2"' in wrong.text  # nothing typed is lost
    forged = post_on(
        web, page + "/vsm", page + "/vsm", {"antecedents-0-label": "Asthme", "antecedents-0-kind": "bogus"}
    )
    assert forged.status_code == 400 and 'id="antecedents-0-kind-error"' in forged.text  # not a server error
    done = post_on(
        web,
        page + "/vsm",
        page + "/vsm",
        {
            "antecedents-0-label": "Diabète de type 2",
            "antecedents-0-code": "E11",
            "treatments-0-label": "Metformine 1000 mg",
            "no_known_allergies": "1",
            "risk_factors": "diabetes",
        },
    )
    assert done.status_code == 303, done.text
    with unit_of_work(runtime.sessions) as db:
        found, _ = documents.search_documents(
            db, doctor, record_id, documents.DocumentQuery(type_codes=("60591-5",)), runtime.clock.now()
        )
    assert len(found) == 1


def test_a_doctor_outside_an_ehpad_cannot_file_a_dlu_and_is_told_why(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    _, record_id = a_record(runtime)
    f.authorise(runtime, record_id, doctor)
    sign_in(web, runtime, doctor)
    page = f"/pro/dossier/{record_id}/dlu"
    form = {"ehpad_phone": "01 23 45 67 89", "treatments-0-label": "Paracétamol", "no_known_allergies": "1"}
    refused = post_on(web, page, page, form)
    assert refused.status_code == 403
    assert "Le DLU est rédigé par les professionnels de l&#39;EHPAD" in refused.text


def test_the_professional_pages_speak_english_on_request(web: TestClient[Any], runtime: Runtime, doctor: Actor) -> None:
    _, record_id = a_record(runtime)
    f.authorise(runtime, record_id, doctor)
    sign_in(web, runtime, doctor)
    web.cookies.set("dmp_langue", "en", domain="testserver.local")
    record = web.get(f"/pro/dossier/{record_id}")
    assert record.status_code == 200 and '<html lang="en">' in record.text
    assert "Your access to this record" in record.text and "You are authorised by the patient." in record.text
    assert "Find a patient by INS" in web.get("/pro").text
    sign_in(web, runtime, AGENT)
    assert "Social security number (NIR), key included" in web.get("/guichet/ouverture").text


def test_a_cda_added_by_the_doctor_feeds_the_recent_exam_warnings_of_the_record_page(
    web: TestClient[Any], runtime: Runtime, doctor: Actor
) -> None:
    from pathlib import Path

    from tests.fhir.test_document_api import BIO_INS, BIO_TRAITS

    record_id = f.open_record(runtime, AGENT, BIO_INS, BIO_TRAITS).record.id
    f.authorise(runtime, record_id, doctor)
    # The report's exams (HbA1c among them) dated a month before the test clock.
    done = (runtime.clock.now() - timedelta(days=30)).strftime("%Y%m%d%H%M%S+0000")
    cda = (Path(__file__).parents[1] / "fixtures/cda/cr-bio.xml").read_bytes()
    cda = cda.replace(b"20240312101500+0100", done.encode())
    sign_in(web, runtime, doctor)
    page = f"/pro/dossier/{record_id}"
    assert "Examens récents dans le dossier" not in web.get(page).text
    added = web.post(
        page + "/document",
        data={"csrf_token": csrf(web.get(page).text), "type": "11502-2", "titre": "Bilan", "date": "2026-05-02"},
        files={"fichier": ("cr-bio.xml", cda, "text/xml")},
    )
    assert added.status_code == 200, added.text
    assert "Examens récents dans le dossier" in added.text
    assert "Hémoglobine glyquée (HbA1c) : fait le 02/05/2026, il y a moins de 90 jours." in added.text
    # A CDA about someone else is refused next to the file field, nothing filed.
    _, other_record = a_record(runtime)
    f.authorise(runtime, other_record, doctor)
    elsewhere = f"/pro/dossier/{other_record}"
    wrong = web.post(
        elsewhere + "/document",
        data={"csrf_token": csrf(web.get(elsewhere).text), "type": "11502-2", "titre": "Bilan", "date": "2026-05-02"},
        files={"fichier": ("cr-bio.xml", cda, "text/xml")},
    )
    assert wrong.status_code == 400 and "concerne un autre patient" in wrong.text
    # Another doctor without access learns nothing of it.
    other = Actor.professional("10000000888", "10")
    f.add_professional(runtime, other.id, "10")
    sign_in(web, runtime, other)
    assert "Examens récents" not in web.get(page).text
