"""Credentials at opening: the holder's identifier and activation code are issued in the opening's
transaction, printed on the opener's letter (PDF) and sent to a contact the opener checked; the
opener may print the letter again for a short while, each print replacing the previous code."""

from __future__ import annotations

import re
import uuid
import zlib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from opendmp.access.policy import LETTER_REPRINT_WINDOW
from opendmp.auth import patients
from opendmp.auth.account_models import AccountStatus, PatientAccount
from opendmp.auth.hashing import AuthSecrets
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins
from opendmp.journal.models import JournalEntry
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.notify.models import ContactPoint, OutboxMessage
from opendmp.record.models import Record
from opendmp.runtime import Runtime
from tests.fhir.conftest import a_person, bearer, open_parameters

FHIR = {"Content-Type": "application/fhir+json"}
DOCTOR = Actor.professional("10000000002", "10")
BORN = date(1975, 3, 9)  # a_person's birth date


def pdf_text(pdf: bytes) -> str:
    """The text drawn on the letter's pages (fpdf2 writes Latin-1 strings in deflated streams)."""
    assert pdf.startswith(b"%PDF-")
    shown = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            content = zlib.decompress(stream)
        except zlib.error:
            content = stream
        shown += re.findall(rb"\((.*?)\)\s*Tj", content, re.S)
    return " ".join(s.replace(b"\\(", b"(").replace(b"\\)", b")").decode("latin-1") for s in shown)


def open_record(
    client: TestClient[Any], runtime: Runtime, contacts: tuple[tuple[str, str], ...] = ()
) -> tuple[uuid.UUID, Ins]:
    ins, traits = a_person()
    body = open_parameters(ins, traits)
    for kind, value in contacts:
        body["parameter"].append({"name": "contact", "valueContactPoint": {"system": kind, "value": value}})
    response = client.post("/fhir/Patient/$open", json=body, headers={**FHIR, **bearer(runtime, DOCTOR)})
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"]), ins


def print_letter(client: TestClient[Any], runtime: Runtime, record_id: uuid.UUID, actor: Actor = DOCTOR) -> Any:
    return client.post(f"/fhir/Patient/{record_id}/$credentials-letter", headers=bearer(runtime, actor))


def code_on(letter: str) -> str:
    found = re.search(r"\b([2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4})\b", letter)
    assert found is not None, letter
    return found.group(1)


def activates(runtime: Runtime, ins: Ins, code: str) -> bool:
    secrets = AuthSecrets.from_master_key(runtime.keys.master_key)
    try:
        with unit_of_work(runtime.sessions) as db:
            patients.begin_activation(db, code, ins.value, runtime.clock.now(), secrets, birth_date=BORN)
    except patients.ActivationRefused:
        return False
    return True


def journal_text(runtime: Runtime) -> str:
    with unit_of_work(runtime.sessions) as db:
        rows = db.execute(select(JournalEntry)).scalars().all()
        return "\n".join(str({c.name: getattr(row, c.name) for c in JournalEntry.__table__.columns}) for row in rows)


def test_opening_issues_the_holders_credentials_in_the_same_transaction(
    client: TestClient[Any], runtime: Runtime
) -> None:
    record_id, _ = open_record(client, runtime)
    with unit_of_work(runtime.sessions) as db:
        account = db.execute(select(PatientAccount).where(PatientAccount.record_id == record_id)).scalar_one()
        assert account.status == AccountStatus.PENDING.value and account.activation_digest is not None
        assert account.activation_expires_at == runtime.clock.now() + patients.ACTIVATION_VALIDITY
    assert "auth:credentials" in journal_text(runtime)


def test_the_opener_gets_the_credentials_letter_as_a_pdf(client: TestClient[Any], runtime: Runtime) -> None:
    record_id, ins = open_record(client, runtime)
    response = print_letter(client, runtime, record_id)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    letter = pdf_text(response.content)
    with unit_of_work(runtime.sessions) as db:
        login_id = db.execute(select(PatientAccount.login_id).where(PatientAccount.record_id == record_id)).scalar_one()
    assert f"{login_id[:5]}-{login_id[5:]}" in letter
    assert "valable jusqu'au 13/07/2026" in letter  # six weeks after 01/06/2026
    assert f"{runtime.settings.public_base_url}/activation" in letter
    assert "numéro de sécurité sociale" in letter
    assert activates(runtime, ins, code_on(letter))


def test_each_print_replaces_the_previous_code(client: TestClient[Any], runtime: Runtime) -> None:
    record_id, ins = open_record(client, runtime)
    first = code_on(pdf_text(print_letter(client, runtime, record_id).content))
    second = code_on(pdf_text(print_letter(client, runtime, record_id).content))
    assert first != second
    assert not activates(runtime, ins, first)
    assert activates(runtime, ins, second)


def test_the_code_goes_nowhere_but_the_letter(client: TestClient[Any], runtime: Runtime) -> None:
    record_id, _ = open_record(client, runtime)
    code = code_on(pdf_text(print_letter(client, runtime, record_id).content))
    text = journal_text(runtime)
    assert code not in text and code.replace("-", "") not in text
    with unit_of_work(runtime.sessions) as db:
        assert db.execute(select(OutboxMessage)).first() is None  # no checked contact: nothing sent


@pytest.mark.parametrize(
    ("actor", "status"),
    [
        (Actor.professional("10000000003", "10"), 403),  # another professional: may look up, not print
        (Actor.counter_agent("agent-2"), 403),
        (Actor.operator("ops"), 403),
        (Actor.patient(a_person()[0]), 404),  # may not even see it: existence does not leak
    ],
    ids=["other-professional", "other-counter-agent", "operator", "another-patient"],
)
def test_only_the_opener_prints_the_letter_and_refusals_are_journaled(
    client: TestClient[Any], runtime: Runtime, actor: Actor, status: int
) -> None:
    record_id, _ = open_record(client, runtime)
    response = print_letter(client, runtime, record_id, actor)
    assert response.status_code == status, response.text
    with unit_of_work(runtime.sessions) as db:
        refused = db.execute(
            select(JournalEntry).where(JournalEntry.action == "credentials:letter", JournalEntry.outcome == "denied")
        ).scalar_one()
        assert refused.actor_id == actor.id


def test_the_letter_needs_a_token(client: TestClient[Any], runtime: Runtime) -> None:
    record_id, _ = open_record(client, runtime)
    assert client.post(f"/fhir/Patient/{record_id}/$credentials-letter").status_code == 401


def test_the_letter_is_not_reprinted_after_its_window(
    client: TestClient[Any], runtime: Runtime, clock: FrozenClock
) -> None:
    record_id, _ = open_record(client, runtime)
    clock.advance(LETTER_REPRINT_WINDOW)
    assert print_letter(client, runtime, record_id).status_code == 403


def test_a_contact_checked_at_opening_receives_the_credentials(client: TestClient[Any], runtime: Runtime) -> None:
    record_id, ins = open_record(client, runtime, contacts=(("email", "Luc.Bernard@Example.org"),))
    with unit_of_work(runtime.sessions) as db:
        contact = db.execute(select(ContactPoint).where(ContactPoint.record_id == record_id)).scalar_one()
        assert contact.address == "Luc.Bernard@example.org" and contact.verified_at == runtime.clock.now()
        message = db.execute(select(OutboxMessage).where(OutboxMessage.record_id == record_id)).scalar_one()
        assert message.category == "auth-credentials" and message.channel == "email"
        code = re.search(r"\b([2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4})\b", message.body)
    assert code is not None and activates(runtime, ins, code.group(1))
    assert code.group(1) not in journal_text(runtime)


def test_only_an_opener_facing_the_person_gives_a_contact(client: TestClient[Any], runtime: Runtime) -> None:
    ins, traits = a_person()
    body = open_parameters(ins, traits, channel=None, consent=None)
    body["parameter"].append({"name": "contact", "valueContactPoint": {"system": "sms", "value": "0612345678"}})
    response = client.post("/fhir/Patient/$open", json=body, headers={**FHIR, **bearer(runtime, Actor.insurer_feed())})
    assert response.status_code == 400, response.text


def test_the_cli_writes_the_letter_of_the_opening(runtime: Runtime, tmp_path: Path) -> None:
    from opendmp.cli import app

    env = {
        "OPENDMP_ENV": "test",
        "OPENDMP_DATA_DIR": str(runtime.settings.data_dir),
        "OPENDMP_DATABASE_URL": runtime.settings.resolved_database_url,
    }
    letter = tmp_path / "courrier.pdf"
    ins, traits = a_person()
    result = CliRunner().invoke(
        app,
        [
            *("record", "open", "--ins", ins.value, "--family", traits.birth_family, "--given", traits.given_names),
            *("--birth-date", BORN.isoformat(), "--gender", "male", "--birthplace", traits.birthplace_code),
            *("--system", "test", "--agent", "agent-1", "--letter", str(letter)),
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    text = pdf_text(letter.read_bytes())
    with unit_of_work(runtime.sessions) as db:
        record = db.execute(select(Record)).scalar_one()
        assert record.opened_by == "agent-1"
    expiry = (date.today() + timedelta(weeks=6)).strftime("%d/%m/%Y")
    assert f"valable jusqu'au {expiry}" in text
    assert activates(runtime, ins, code_on(text))
