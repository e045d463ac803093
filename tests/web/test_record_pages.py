"""The patient's space and the shared document viewer through the real app (routing, sessions,
CSRF, multipart, statuses, headers), on SQLite and PostgreSQL: the holder adds a document and
reads it in a sandboxed viewer, CDA is rendered readably, professionals are authorised and
blocked by RPPS, the journal says who did what in plain words, and nothing of the patient's
identity travels in a URL."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from opendmp.app import create_app
from opendmp.auth import sessions as login_sessions
from opendmp.auth.account_models import SessionStage
from opendmp.consent.models import ProfessionalBlock
from opendmp.document import service as documents
from opendmp.document.models import Document
from opendmp.fhir.document import VISIBILITY_SYSTEM, parse_document_reference
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins
from opendmp.identity.models import Patient
from opendmp.journal.models import JournalEntry
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.test_document_api import BIO_INS, BIO_TRAITS, document_reference
from tests.integration.test_patient_login import a_record
from tests.web.test_patient_pages import edge_of_runtime

SESSION = "__Host-dmp_session"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CDA_DIR = Path(__file__).parent.parent / "fixtures" / "cda"
DOCTOR_RPPS = "10000000002"


@pytest.fixture
def web(runtime: Runtime) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(runtime=runtime), base_url="https://testserver.local") as client:
        yield client


def sign_in(web: TestClient[Any], runtime: Runtime, actor: Actor) -> None:
    """A live authenticated session for `actor` (the login itself is tested in test_patient_pages
    and test_pro_login): this browser now holds its cookie."""
    edge = edge_of_runtime(web)
    with unit_of_work(runtime.sessions) as db:
        token = login_sessions.start(
            db, actor, SessionStage.AUTHENTICATED, runtime.clock.now(), edge.policy, edge.secrets.random
        )
    web.cookies.clear()
    web.cookies.set(SESSION, token, domain="testserver.local", path="/")


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert found is not None
    return found.group(1)


def file_document(
    runtime: Runtime,
    record_id: uuid.UUID,
    actor: Actor,
    content: bytes = PDF,
    mime: str = "application/pdf",
    type_code: str = "11488-4",
) -> uuid.UUID:
    item = parse_document_reference(document_reference(record_id, content, mime=mime, type_code=type_code))
    with unit_of_work(runtime.sessions) as db:
        stored = documents.submit_document(
            db, actor, item, content, runtime.clock.now(), runtime.vault, max_size=10_000_000
        )
        return stored.document.id


def a_holder(runtime: Runtime, ins: Ins | None = None, traits: Any = None) -> tuple[Actor, uuid.UUID]:
    if ins is None:
        ins, record_id = a_record(runtime)
    else:
        record_id = f.open_record(runtime, Actor.counter_agent("agent"), ins, traits).record.id
    return Actor.patient(ins), record_id


def a_doctor(runtime: Runtime, record_id: uuid.UUID) -> Actor:
    doctor = f.add_professional(runtime, DOCTOR_RPPS, "10", family="MARTIN", given="Anne")
    f.authorise(runtime, record_id, doctor)
    return doctor


def upload(web: TestClient[Any], record_id: uuid.UUID, content: bytes, name: str, **fields: str) -> Any:
    page = web.get(f"/dossiers/{record_id}/documents/ajouter")
    assert page.status_code == 200
    data = {"csrf_token": csrf(page.text), "titre": "Ordonnance lunettes", "type": "DOCPAT02", "date": "2026-05-02"}
    data.update(fields)
    return web.post(
        f"/dossiers/{record_id}/documents/ajouter",
        data=data,
        files={"fichier": (name, content, "application/octet-stream")},
        follow_redirects=False,
    )


def post_form(web: TestClient[Any], page_path: str, action: str, fields: dict[str, str]) -> Any:
    html = web.get(page_path).text
    return web.post(action, data={"csrf_token": csrf(html), **fields}, follow_redirects=False)


def documents_in(runtime: Runtime, record_id: uuid.UUID) -> int:
    with unit_of_work(runtime.sessions) as db:
        return int(
            db.execute(select(func.count()).select_from(Document).where(Document.record_id == record_id)).scalar_one()
        )


def journaled(runtime: Runtime, action: str, target: str) -> list[JournalEntry]:
    with unit_of_work(runtime.sessions) as db:
        return list(
            db.execute(
                select(JournalEntry).where(JournalEntry.action == action, JournalEntry.target_id == target)
            ).scalars()
        )


# ---------------------------------------------------------------- adding and viewing documents


def test_the_holder_adds_a_pdf_and_reads_it_in_a_sandboxed_viewer(web: TestClient[Any], runtime: Runtime) -> None:
    holder, record_id = a_holder(runtime)
    sign_in(web, runtime, holder)
    answer = upload(web, record_id, PDF, "ordonnance.pdf")
    assert answer.status_code == 303, answer.text
    document_path = answer.headers["location"]
    page = web.get(document_path)
    assert page.status_code == 200 and "Ordonnance lunettes" in page.text
    assert "Traitement ou document de soins déposé par le patient" in page.text
    assert f'<iframe class="viewer" src="{document_path}/contenu"' in page.text  # sandboxed by its CSP
    assert page.headers["cache-control"] == "no-store"
    content = web.get(document_path + "/contenu")
    assert content.status_code == 200 and content.content == PDF
    assert content.headers["content-type"].startswith("application/pdf")
    csp = content.headers["content-security-policy"]
    assert csp.startswith("sandbox;") and "default-src 'none'" in csp and "frame-ancestors 'self'" in csp
    assert content.headers["x-content-type-options"] == "nosniff"
    assert content.headers["x-frame-options"] == "SAMEORIGIN"
    assert content.headers["cache-control"] == "no-store"
    assert content.headers["content-disposition"].startswith("inline;")
    downloaded = web.get(document_path + "/contenu?telecharger=1")
    assert downloaded.headers["content-disposition"].startswith("attachment;")
    document_id = document_path.rsplit("/", 1)[1]
    # Each read went through the service, which journaled it.
    assert journaled(runtime, "document:read", document_id) and journaled(runtime, "document:read-content", document_id)
    # And it is listed among the documents, in its category.
    listing = web.get(f"/dossiers/{record_id}/documents")
    assert "Ordonnance lunettes" in listing.text and "Prescriptions" in listing.text


def test_upload_errors_are_shown_next_to_their_fields_and_nothing_is_stored(
    web: TestClient[Any], runtime: Runtime
) -> None:
    holder, record_id = a_holder(runtime)
    sign_in(web, runtime, holder)
    answer = upload(web, record_id, b"MZ\x90\x00\x03\x00\xff\xfe\x00", "virus.exe", titre="", type="11488-4")
    assert answer.status_code == 400
    for field in ("titre", "type", "fichier"):
        assert f'id="{field}-error"' in answer.text
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true" aria-describedby="{field}-error"', answer.text)
    future = upload(web, record_id, PDF, "a.pdf", date="2099-01-01")
    assert future.status_code == 400 and 'id="date-error"' in future.text
    assert documents_in(runtime, record_id) == 0


def test_a_file_larger_than_the_limit_is_refused_with_its_size(
    web: TestClient[Any], runtime: Runtime, settings: Any
) -> None:
    holder, record_id = a_holder(runtime)
    sign_in(web, runtime, holder)
    too_big = PDF + b"0" * runtime.settings.max_document_bytes
    answer = upload(web, record_id, too_big, "gros.pdf")
    assert answer.status_code == 400 and 'id="fichier-error"' in answer.text and "Mo" in answer.text
    assert documents_in(runtime, record_id) == 0


def test_an_image_is_shown_inline_and_an_uploaded_form_needs_its_csrf_token(
    web: TestClient[Any], runtime: Runtime
) -> None:
    holder, record_id = a_holder(runtime)
    sign_in(web, runtime, holder)
    answer = upload(web, record_id, PNG, "radio.png", titre="Radio du genou", type="DOCPAT04")
    page = web.get(answer.headers["location"])
    assert '<img class="document-image"' in page.text
    forged = web.post(
        f"/dossiers/{record_id}/documents/ajouter",
        data={"csrf_token": "forged", "titre": "x", "type": "DOCPAT04"},
        files={"fichier": ("a.png", PNG, "image/png")},
    )
    assert forged.status_code == 403
    assert documents_in(runtime, record_id) == 1


def test_a_cda_is_rendered_readably_and_its_xml_is_only_downloadable(web: TestClient[Any], runtime: Runtime) -> None:
    holder, record_id = a_holder(runtime, BIO_INS, BIO_TRAITS)
    doctor = a_doctor(runtime, record_id)
    cda = (CDA_DIR / "cr-bio.xml").read_bytes()
    document_id = file_document(runtime, record_id, doctor, cda, "text/xml", "11502-2")
    sign_in(web, runtime, holder)
    page = web.get(f"/documents/{document_id}")
    assert page.status_code == 200
    assert "BIOCHIMIE" in page.text and "Glycémie à jeun" in page.text  # section title and narrative
    assert "DUPRÉ-LAFONT" in page.text and "ANNE-SOPHIE" in page.text  # author and patient
    assert "ClinicalDocument" not in page.text and "urn:hl7-org:v3" not in page.text
    raw = web.get(f"/documents/{document_id}/contenu")
    assert raw.headers["content-disposition"].startswith("attachment;")
    assert raw.headers["content-security-policy"].startswith("sandbox;")


def test_a_cda_wrapping_a_pdf_shows_the_pdf_in_the_sandboxed_frame(web: TestClient[Any], runtime: Runtime) -> None:
    from opendmp.document.cda import read_header

    cda = (CDA_DIR / "consultation-pdf.xml").read_bytes()
    header = read_header(cda)
    assert header.patient_ins is not None and header.non_xml_body is not None
    from opendmp.identity.ins import Gender, StrictTraits

    traits = StrictTraits(
        header.patient_birth_family or "",
        header.patient_given or "",
        header.patient_birth_date,  # type: ignore[arg-type]
        Gender.MALE if header.patient_ins.value[0] == "1" else Gender.FEMALE,
        _birthplace(cda),
    )
    holder, record_id = a_holder(runtime, header.patient_ins, traits)
    doctor = a_doctor(runtime, record_id)
    document_id = file_document(runtime, record_id, doctor, cda, "text/xml", header.type_code)
    sign_in(web, runtime, holder)
    page = web.get(f"/documents/{document_id}")
    assert f"/documents/{document_id}/contenu/corps" in page.text
    body = web.get(f"/documents/{document_id}/contenu/corps")
    assert body.content == header.non_xml_body[1]
    assert body.headers["content-type"].startswith("application/pdf")
    assert body.headers["content-security-policy"].startswith("sandbox;")


def _birthplace(cda: bytes) -> str:
    found = re.search(rb"birthplace>.*?<addr>.*?<county>([0-9AB]{5})</county>", cda, re.S) or re.search(
        rb"postalCode>([0-9AB]{5})<", cda
    )
    return found.group(1).decode() if found else "75056"


# ---------------------------------------------------------------- who may see what


def test_anonymous_visitors_are_asked_to_log_in(web: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_holder(runtime)
    for path in (f"/dossiers/{record_id}", f"/dossiers/{record_id}/documents", f"/documents/{uuid.uuid4()}"):
        assert web.get(path).status_code == 401


def test_someone_elses_record_and_documents_answer_not_found(web: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_holder(runtime)
    doctor = a_doctor(runtime, record_id)
    document_id = file_document(runtime, record_id, doctor)
    other, _other_record = a_holder(runtime)
    sign_in(web, runtime, other)
    for path in (
        f"/dossiers/{record_id}",
        f"/dossiers/{record_id}/documents",
        f"/dossiers/{record_id}/acces",
        f"/dossiers/{record_id}/journal",
        f"/documents/{document_id}",
        f"/documents/{document_id}/contenu",
    ):
        assert web.get(path).status_code == 404, path
    # The refused read is journaled by the service.
    refused = journaled(runtime, "document:read-content", str(document_id)) + journaled(
        runtime, "document:read", str(document_id)
    )
    assert any(e.outcome != "success" for e in refused)


def test_a_professional_reads_a_document_in_the_same_viewer(web: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_holder(runtime)
    doctor = a_doctor(runtime, record_id)
    document_id = file_document(runtime, record_id, doctor)
    sign_in(web, runtime, doctor)
    page = web.get(f"/documents/{document_id}")
    assert page.status_code == 200 and "Masquer ce document" not in page.text
    assert web.get(f"/documents/{document_id}/contenu").content == PDF
    # The patient's pages are not theirs.
    assert web.get(f"/dossiers/{record_id}/documents").status_code == 404


def test_the_holder_masks_a_document_from_professionals_and_unmasks_it(web: TestClient[Any], runtime: Runtime) -> None:
    holder, record_id = a_holder(runtime)
    author = a_doctor(runtime, record_id)
    document_id = file_document(runtime, record_id, author)
    pharmacist = Actor.professional("10000000003", "21")
    f.authorise(runtime, record_id, pharmacist)
    sign_in(web, runtime, holder)
    masked = post_form(web, f"/documents/{document_id}", f"/documents/{document_id}/masquage", {"masquer": "1"})
    assert masked.status_code == 303
    assert "Masqué aux professionnels" in web.get(f"/documents/{document_id}").text
    sign_in(web, runtime, pharmacist)
    assert web.get(f"/documents/{document_id}").status_code == 404
    sign_in(web, runtime, holder)
    post_form(web, f"/documents/{document_id}", f"/documents/{document_id}/masquage", {"masquer": "0"})
    sign_in(web, runtime, pharmacist)
    assert web.get(f"/documents/{document_id}").status_code == 200


# ---------------------------------------------------------------- access and journal


def test_the_holder_blocks_a_doctor_by_rpps_and_the_doctor_can_no_longer_read(
    web: TestClient[Any], runtime: Runtime
) -> None:
    holder, record_id = a_holder(runtime)
    doctor = a_doctor(runtime, record_id)
    document_id = file_document(runtime, record_id, doctor)
    sign_in(web, runtime, doctor)
    assert web.get(f"/documents/{document_id}").status_code == 200
    sign_in(web, runtime, holder)
    access = web.get(f"/dossiers/{record_id}/acces")
    assert "Dr Anne MARTIN, médecin" in access.text  # the directory's name and profession
    path = f"/dossiers/{record_id}/acces"
    answer = post_form(web, path, path, {"operation": "bloquer", "rpps": DOCTOR_RPPS})
    assert answer.status_code == 200 and "Dr Anne MARTIN, médecin est bloqué" in answer.text
    with unit_of_work(runtime.sessions) as db:
        assert db.execute(select(ProfessionalBlock).where(ProfessionalBlock.record_id == record_id)).scalar_one()
    sign_in(web, runtime, doctor)
    assert web.get(f"/documents/{document_id}").status_code == 404
    # Unblocked, the doctor's authorisation applies again.
    sign_in(web, runtime, holder)
    post_form(web, path, path, {"operation": "debloquer", "rpps": DOCTOR_RPPS})
    sign_in(web, runtime, doctor)
    assert web.get(f"/documents/{document_id}").status_code == 200


def test_the_holder_authorises_revokes_and_designates_the_medecin_traitant(
    web: TestClient[Any], runtime: Runtime
) -> None:
    holder, record_id = a_holder(runtime)
    f.add_professional(runtime, DOCTOR_RPPS, "10", family="MARTIN", given="Anne")
    sign_in(web, runtime, holder)
    path = f"/dossiers/{record_id}/acces"
    answer = post_form(web, path, path, {"operation": "autoriser", "rpps": DOCTOR_RPPS, "duree": "30"})
    assert answer.status_code == 200 and "peut désormais consulter votre dossier" in answer.text
    assert "Professionnels autorisés" in answer.text and "Dr Anne MARTIN" in answer.text
    answer = post_form(web, path, path, {"operation": "medecin-traitant", "rpps": DOCTOR_RPPS})
    assert "est votre médecin traitant" in answer.text
    answer = post_form(web, path, path, {"operation": "retirer", "rpps": DOCTOR_RPPS})
    assert "L'accès de Dr Anne MARTIN, médecin est retiré" in html.unescape(answer.text)
    assert "Aucun professionnel n'est autorisé" in html.unescape(answer.text)


def test_a_wrong_rpps_is_explained_next_to_the_field_of_its_form(web: TestClient[Any], runtime: Runtime) -> None:
    holder, record_id = a_holder(runtime)
    sign_in(web, runtime, holder)
    path = f"/dossiers/{record_id}/acces"
    short = post_form(web, path, path, {"operation": "bloquer", "rpps": "123"})
    assert short.status_code == 400
    assert re.search(r'id="rpps-bloquer"[^>]*aria-invalid="true" aria-describedby="rpps-bloquer-error"', short.text)
    unknown = post_form(web, path, path, {"operation": "autoriser", "rpps": "19999999999"})
    assert unknown.status_code == 400 and 'id="rpps-autoriser-error"' in unknown.text
    forged = web.post(path, data={"csrf_token": "x", "operation": "bloquer", "rpps": DOCTOR_RPPS})
    assert forged.status_code == 403


def test_the_record_at_a_glance_journals_each_read_it_shows(web: TestClient[Any], runtime: Runtime) -> None:
    """The page reads the documents, the emergency summary and the vaccinations: each read is
    decided by the policy and journaled under the holder's name, one entry each, in the request."""
    holder, record_id = a_holder(runtime)
    file_document(runtime, record_id, a_doctor(runtime, record_id))
    sign_in(web, runtime, holder)
    with unit_of_work(runtime.sessions) as db:
        before = db.execute(select(func.max(JournalEntry.seq)).where(JournalEntry.chain == record_id.hex)).scalar_one()
    page = web.get(f"/dossiers/{record_id}")
    assert page.status_code == 200
    assert "Compte rendu de consultation" in html.unescape(page.text)
    with unit_of_work(runtime.sessions) as db:
        entries = db.execute(
            select(JournalEntry)
            .where(JournalEntry.chain == record_id.hex, JournalEntry.seq > before)
            .order_by(JournalEntry.seq)
        ).scalars()
        read = [(e.action, e.actor_id, e.outcome) for e in entries]
    assert read == [
        ("document:search", holder.id, "success"),
        ("content:emergency-summary", holder.id, "success"),
        ("content:search", holder.id, "success"),
    ]


def test_the_journal_says_in_plain_words_who_read_which_document(web: TestClient[Any], runtime: Runtime) -> None:
    holder, record_id = a_holder(runtime)
    doctor = a_doctor(runtime, record_id)
    document_id = file_document(runtime, record_id, doctor)
    sign_in(web, runtime, doctor)
    web.get(f"/documents/{document_id}")
    sign_in(web, runtime, holder)
    page = web.get(f"/dossiers/{record_id}/journal")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", html.unescape(page.text))
    assert "Dr Anne MARTIN, médecin a consulté votre document « Compte rendu de consultation »" in text
    assert "Dr Anne MARTIN, médecin a ajouté votre document" in text
    assert re.search(r"<time>\d\d/\d\d/\d{4} à \d\d:\d\d</time>", page.text)


def test_the_journal_shows_nothing_of_a_document_hidden_from_the_holder(web: TestClient[Any], runtime: Runtime) -> None:
    holder, record_id = a_holder(runtime)
    doctor = a_doctor(runtime, record_id)
    item = parse_document_reference(
        document_reference(
            record_id,
            PDF,
            description="Annonce diagnostique",
            securityLabel=[
                {
                    "coding": [
                        {
                            "system": VISIBILITY_SYSTEM,
                            "code": "INVISIBLE_PATIENT",
                        }
                    ]
                }
            ],
        )
    )
    with unit_of_work(runtime.sessions) as db:
        documents.submit_document(db, doctor, item, PDF, runtime.clock.now(), runtime.vault, max_size=10_000_000)
    sign_in(web, runtime, holder)
    page = web.get(f"/dossiers/{record_id}/journal")
    assert item.visibility  # the label was understood: until it is released, the journal is silent on it
    assert "Compte rendu de consultation" not in page.text and "un document" not in page.text
    runtime.clock.advance(timedelta(days=31))  # released after a month at most: now it shows
    sign_in(web, runtime, holder)
    page = web.get(f"/dossiers/{record_id}/journal")
    assert "Compte rendu de consultation" in page.text or "un document" in page.text


# ---------------------------------------------------------------- searching, and URLs


def test_search_and_filters_travel_in_the_body_and_find_by_title(web: TestClient[Any], runtime: Runtime) -> None:
    holder, record_id = a_holder(runtime)
    sign_in(web, runtime, holder)
    upload(web, record_id, PDF, "a.pdf", titre="Radio 100% du genou", type="DOCPAT04")
    upload(web, record_id, PDF, "b.pdf", titre="Ordonnance kiné", type="DOCPAT02")
    path = f"/dossiers/{record_id}/documents"
    found = post_form(web, path, path, {"recherche": "100%", "categorie": "", "periode": "12m", "auteur": "patient"})
    assert found.status_code == 200 and "Radio 100% du genou" in found.text and "Ordonnance kiné" not in found.text
    by_category = post_form(web, path, path, {"categorie": "42"})
    assert "Ordonnance kiné" in by_category.text and "Radio 100% du genou" not in by_category.text
    nothing = post_form(web, path, path, {"recherche": "_"})
    assert "Aucun document ne correspond" in nothing.text


def test_no_page_puts_the_patients_identity_in_a_url(web: TestClient[Any], runtime: Runtime) -> None:
    holder, record_id = a_holder(runtime)
    doctor = a_doctor(runtime, record_id)
    document_id = file_document(runtime, record_id, doctor)
    with unit_of_work(runtime.sessions) as db:
        patient = db.get(Patient, record_id)
        assert patient is not None
        names = {patient.birth_family, *patient.given_names.split()}
    assert holder.ins is not None
    sign_in(web, runtime, holder)
    for path in (
        "/mon-dossier",
        f"/dossiers/{record_id}",
        f"/dossiers/{record_id}/documents",
        f"/dossiers/{record_id}/documents/ajouter",
        f"/dossiers/{record_id}/acces",
        f"/dossiers/{record_id}/journal",
        f"/documents/{document_id}",
    ):
        page = web.get(path)
        assert page.status_code == 200, path
        assert page.headers["cache-control"] == "no-store"
        for url in re.findall(r'(?:href|action|src)="([^"]*)"', page.text):
            assert holder.ins.value not in url, (path, url)
            assert not any(n and n.lower() in url.lower() for n in names), (path, url)


def test_a_parent_switches_to_a_childs_record_named_by_id_in_the_body_and_path(
    web: TestClient[Any], runtime: Runtime
) -> None:
    from opendmp.record import service as records

    parent_ins, parent_traits = f.person(family="MARTIN", given="SOPHIE")
    own = f.open_record(runtime, Actor.counter_agent("agent"), parent_ins, parent_traits).record.id
    child_ins, child_traits = f.minor(runtime.clock.now().date(), family="MARTIN", given="LEO")
    child = f.open_record(
        runtime,
        Actor.counter_agent("agent"),
        child_ins,
        child_traits,
        representatives=(records.RepresentativeIn(parent_ins, "MARTIN", "SOPHIE"),),
    ).record.id
    sign_in(web, runtime, Actor.patient(parent_ins))
    glance = web.get("/mon-dossier")
    assert f'<option value="{child}"' in glance.text and "enfant (représentant légal)" in glance.text
    switched = web.post(
        "/mon-dossier/choisir",
        data={"csrf_token": csrf(glance.text), "dossier": str(child)},
        follow_redirects=False,
    )
    assert switched.status_code == 303 and switched.headers["location"] == f"/dossiers/{child}"
    page = web.get(f"/dossiers/{child}/documents")
    assert page.status_code == 200 and f'<option value="{child}" selected' in page.text
    assert child_ins.value not in switched.headers["location"] and own != child
    # The parent adds a document to the child's record: the service takes the representative.
    answer = upload(web, child, PDF, "carnet.pdf", titre="Carnet de santé", type="DOCPAT01")
    assert answer.status_code == 303
    assert documents_in(runtime, child) == 1 and documents_in(runtime, own) == 0


def test_the_viewer_warns_of_the_same_exam_done_recently_with_a_link_to_it(
    web: TestClient[Any], runtime: Runtime, clock: FrozenClock
) -> None:
    _, record_id = a_holder(runtime, BIO_INS, BIO_TRAITS)
    doctor = a_doctor(runtime, record_id)
    cda = (CDA_DIR / "cr-bio.xml").read_bytes()
    first = file_document(runtime, record_id, doctor, cda, "text/xml", "11502-2")
    # The same lab report again under a new set id: the same exams, within their windows.
    again = cda.replace(b"6F1C5E2A-3B9D-4E70-9C21-7A4D2B8E0F13", b"0A1B2C3D-0000-4000-8000-000000000001")
    clock.advance(timedelta(days=1))  # the repeat arrives the next day
    second = file_document(runtime, record_id, doctor, again, "text/xml", "11502-2")
    sign_in(web, runtime, doctor)
    page = web.get(f"/documents/{second}")
    assert page.status_code == 200
    assert "Examen récent du même type" in page.text and f'href="/documents/{first}"' in page.text
    assert journaled(runtime, "document:exam-query", str(second))
    # The first report has no earlier one.
    assert "Examen récent du même type" not in web.get(f"/documents/{first}").text
