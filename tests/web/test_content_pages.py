"""The patient's own content in the patient space, through the real app, on SQLite and
PostgreSQL: emergency information added and removed (errors next to their form), the vaccination
record with what is due and a declared dose, the advance directives questionnaire filed as a PDF
shown in the viewer, and the record at a glance showing the emergency summary."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from opendmp.app import create_app
from opendmp.content import codes as content_codes
from opendmp.document.models import Document
from opendmp.kit.db import unit_of_work
from opendmp.runtime import Runtime
from tests.web.test_record_pages import a_holder, post_form, sign_in


@pytest.fixture
def web(runtime: Runtime) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(runtime=runtime), base_url="https://testserver.local") as client:
        yield client


def first_code(use: str) -> content_codes.Code:
    return content_codes.codes_for(use)[0]


def test_the_holder_records_emergency_information_shown_on_the_glance_page(
    web: TestClient[Any], runtime: Runtime
) -> None:
    holder, record_id = a_holder(runtime)
    sign_in(web, runtime, holder)
    path = f"/dossiers/{record_id}/urgence"
    blood = first_code("blood-group")
    answer = post_form(web, path, path, {"operation": "ajouter", "type": "blood-group", "code": blood.code})
    assert answer.status_code == 200 and blood.display_fr in answer.text
    post_form(web, path, path, {"operation": "ajouter", "type": "allergy", "texte": "Pollen de bouleau"})
    post_form(
        web, path, path, {"operation": "ajouter", "type": "person-to-notify", "nom": "Marie", "telephone": "0612345678"}
    )
    glance = web.get(f"/dossiers/{record_id}")
    assert blood.display_fr in glance.text and "Pollen de bouleau" in glance.text and "Marie" in glance.text
    # A person to notify without any way to reach them: refused, said next to that form.
    refused = post_form(web, path, path, {"operation": "ajouter", "type": "person-to-notify", "nom": "Paul"})
    assert refused.status_code == 400 and 'id="person-to-notify-error"' in refused.text
    assert "Paul" not in refused.text.split("Personnes à prévenir")[1].split("<form")[0]
    # Removing an item.
    item = answer.text.split('name="element" value="')[1].split('"')[0]
    removed = post_form(web, path, path, {"operation": "supprimer", "element": item})
    assert "L&#39;information est supprimée" in removed.text or "L'information est supprimée" in removed.text
    assert blood.display_fr not in web.get(f"/dossiers/{record_id}").text


def test_the_vaccination_record_says_what_is_due_and_takes_a_declared_dose(
    web: TestClient[Any], runtime: Runtime
) -> None:
    holder, record_id = a_holder(runtime)
    sign_in(web, runtime, holder)
    path = f"/dossiers/{record_id}/vaccinations"
    page = web.get(path)
    assert page.status_code == 200 and "Ce que le calendrier vaccinal recommande" in page.text
    vaccine = next(iter(content_codes.vaccines().values()))
    missing = post_form(web, path, path, {"vaccin": vaccine.code})
    assert missing.status_code == 400 and 'aria-describedby="date-error"' in missing.text
    future = post_form(web, path, path, {"vaccin": vaccine.code, "date": "2099-01-01"})
    assert future.status_code == 400 and 'id="date-error"' in future.text
    added = post_form(web, path, path, {"vaccin": vaccine.code, "date": "2026-01-15"})
    assert added.status_code == 200 and vaccine.display_fr in html.unescape(added.text)
    assert "déclarée par vous" in added.text


def test_advance_directives_name_each_missing_answer_then_file_a_pdf(web: TestClient[Any], runtime: Runtime) -> None:
    holder, record_id = a_holder(runtime)
    sign_in(web, runtime, holder)
    path = f"/dossiers/{record_id}/directives"
    incomplete = post_form(web, path, path, {"situation": "En bonne santé"})
    assert incomplete.status_code == 400
    for field in ("life_support", "resuscitation", "pain_relief", "sedation", "trusted_person_name", "free_text"):
        assert f'id="{field}-error"' in incomplete.text, field
    assert "En bonne santé" in incomplete.text  # nothing typed is lost
    answers = {
        "situation": "En bonne santé",
        "life_support": "Non",
        "resuscitation": "Oui",
        "pain_relief": "Oui",
        "sedation": "Oui",
        "free_text": "Rien à ajouter",
        "no_trusted_person": "1",
        "written_at": "Lyon",
    }
    filed = post_form(web, path, path, answers)
    assert filed.status_code == 303 and filed.headers["location"].startswith("/documents/")
    viewer = web.get(filed.headers["location"])
    assert viewer.status_code == 200 and "Directives anticipées" in viewer.text
    with unit_of_work(runtime.sessions) as db:
        document = db.execute(select(Document).where(Document.record_id == record_id)).scalar_one()
        assert (document.type_code, document.mime_type) == ("EXPPAT_3", "application/pdf")
    # The questionnaire comes back filled with the last answers.
    assert "Rien à ajouter" in web.get(path).text
    assert f'/documents/{document.id}"' in web.get(f"/dossiers/{record_id}").text


def test_another_patient_cannot_read_or_write_this_content(web: TestClient[Any], runtime: Runtime) -> None:
    _, record_id = a_holder(runtime)
    other, own = a_holder(runtime)
    sign_in(web, runtime, other)
    for page in ("urgence", "vaccinations", "directives"):
        assert web.get(f"/dossiers/{record_id}/{page}").status_code == 404
        answer = post_form(
            web,
            f"/dossiers/{own}/{page}",
            f"/dossiers/{record_id}/{page}",
            {"operation": "ajouter", "type": "note", "texte": "x"},
        )
        assert answer.status_code == 404, page
