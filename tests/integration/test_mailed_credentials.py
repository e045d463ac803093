"""Credentials for people who opened no record at a counter: the insurer's batch and online openings
get an identifier and an activation code from a system step in the opening's transaction; those
no message could reach get them by post (`opendmp credentials letters`), once, each letter with a
fresh code. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from opendmp.auth import letters, patients
from opendmp.auth.account_models import AccountStatus, Delivery, PatientAccount, SecondFactor
from opendmp.auth.hashing import AuthSecrets
from opendmp.config import OpeningPolicy
from opendmp.identity.actor import Actor, ActorKind
from opendmp.identity.ins import Ins
from opendmp.journal import service as journal
from opendmp.journal.models import JournalEntry
from opendmp.kit.db import unit_of_work
from opendmp.notify.models import OutboxMessage
from opendmp.record import service as records
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.test_credentials_letter import code_on, pdf_text
from tests.integration.test_patient_login import PASSWORD, PHONE, last_code

AGENT = Actor.counter_agent("agent-cpam-75", organisation="750000001")


def auth_secrets(runtime: Runtime) -> AuthSecrets:
    return AuthSecrets.from_master_key(runtime.keys.master_key)


def opened(runtime: Runtime, actor: Actor | None = None, order: int | None = None) -> tuple[Ins, records.PatientRecord]:
    """A record opened as the edges open it (with the secrets), by the insurer's batch unless told."""
    ins, traits = f.person(order=order)
    with unit_of_work(runtime.sessions) as db:
        view = records.open_record(
            db,
            actor or Actor.insurer_feed(),
            f.opening(ins, traits, runtime.clock.now()),
            runtime.clock.now(),
            policy=OpeningPolicy.OPT_OUT,
            secrets=auth_secrets(runtime),
        )
    return ins, view


def account_of(runtime: Runtime, record_id: uuid.UUID) -> PatientAccount:
    with unit_of_work(runtime.sessions) as db:
        return db.execute(select(PatientAccount).where(PatientAccount.record_id == record_id)).scalar_one()


def credentials_entries(runtime: Runtime, record_id: uuid.UUID) -> list[JournalEntry]:
    with unit_of_work(runtime.sessions) as db:
        rows = db.execute(
            select(JournalEntry)
            .where(JournalEntry.chain == journal.chain_of(record_id), JournalEntry.action == "auth:credentials")
            .order_by(JournalEntry.seq)
        ).scalars()
        return list(rows)


def test_an_automatic_opening_gives_the_person_an_identifier_and_a_code(runtime: Runtime) -> None:
    _, view = opened(runtime)
    assert view.credentials is None  # the batch never holds the code
    account = account_of(runtime, view.record.id)
    assert account.status == AccountStatus.PENDING.value and account.activation_digest is not None
    assert account.activation_expires_at == runtime.clock.now() + patients.ACTIVATION_VALIDITY
    assert account.delivery is None and account.delivered_at is None  # no contact: waits for the mailing
    (entry,) = credentials_entries(runtime, view.record.id)
    assert (entry.actor_kind, entry.actor_id) == (ActorKind.SYSTEM.value, records.CREDENTIALS_AT_OPENING)
    assert entry.reason == "issued"
    with unit_of_work(runtime.sessions) as db:
        assert db.execute(select(OutboxMessage)).first() is None


def test_an_online_opening_gives_an_identifier_and_a_code_the_opener_never_sees(runtime: Runtime) -> None:
    ins, traits = f.person(order=7)
    with unit_of_work(runtime.sessions) as db:
        view = records.open_record(
            db,
            Actor.patient(ins),
            f.opening(ins, traits, runtime.clock.now(), consent_at=None),
            runtime.clock.now(),
            policy=OpeningPolicy.OPT_IN,
            secrets=auth_secrets(runtime),
        )
    assert view.credentials is None
    account = account_of(runtime, view.record.id)
    assert account.status == AccountStatus.PENDING.value and account.delivery is None
    (entry,) = credentials_entries(runtime, view.record.id)
    assert entry.actor_kind == ActorKind.SYSTEM.value


def run_mailing(runtime: Runtime, folder: Path, *extra: str) -> str:
    from opendmp.cli import app

    env = {
        "OPENDMP_ENV": "test",
        "OPENDMP_DATA_DIR": str(runtime.settings.data_dir),
        "OPENDMP_DATABASE_URL": runtime.settings.resolved_database_url,
    }
    result = CliRunner().invoke(app, ["credentials", "letters", "--out", str(folder), *extra], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_insurer_mails_letters_to_people_without_a_contact_once(runtime: Runtime, tmp_path: Path) -> None:
    _, first = opened(runtime, order=1)
    _, second = opened(runtime, order=2)
    _, at_counter = opened(runtime, AGENT, order=3)  # its letter was handed over at the counter
    assert account_of(runtime, at_counter.record.id).delivery == Delivery.IN_PERSON.value
    folder = tmp_path / "courriers"
    assert "1 letter(s) written" in run_mailing(runtime, folder, "--limit", "1")
    assert "1 letter(s) written" in run_mailing(runtime, folder)
    assert "0 letter(s) written" in run_mailing(runtime, folder)  # nobody is posted twice
    written = sorted(folder.glob("*.pdf"))
    accounts = [account_of(runtime, view.record.id) for view in (first, second)]
    assert [p.name for p in written] == sorted(f"{account.id}.pdf" for account in accounts)
    assert all(account.delivery == Delivery.POST.value and account.delivered_at for account in accounts)
    for account in accounts:
        letter = pdf_text((folder / f"{account.id}.pdf").read_bytes())
        assert f"{account.login_id[:5]}-{account.login_id[5:]}" in letter
        code = code_on(letter)
        entries = credentials_entries(runtime, account.record_id)
        assert [e.reason for e in entries] == ["issued", "issued;posted"]
        assert entries[-1].actor_kind == ActorKind.OPERATOR.value
        journaled = " ".join(str(getattr(e, c.name)) for e in entries for c in JournalEntry.__table__.columns)
        assert code not in journaled and code.replace("-", "") not in journaled


def test_a_mailed_code_activates_the_account(runtime: Runtime) -> None:
    secrets = auth_secrets(runtime)
    ins, view = opened(runtime)
    with unit_of_work(runtime.sessions) as db:
        (mailed,) = letters.mail_pending(db, Actor.operator("ops"), runtime.clock.now(), secrets)
    url = letters.activation_url(runtime.settings.public_base_url)
    code = code_on(pdf_text(letters.render(mailed.credentials, mailed.holder_name, url)))
    now, born = runtime.clock.now(), view.patient.birth_date
    with unit_of_work(runtime.sessions) as db:
        account = patients.begin_activation(db, code, ins.value, now, secrets, birth_date=born)
        patients.set_password(db, account.id, PASSWORD, now, secrets)
        patients.send_contact_code(db, account.id, SecondFactor.SMS, PHONE, now, secrets)
    with unit_of_work(runtime.sessions) as db:
        active = patients.confirm_contact(db, account.id, last_code(runtime, view.record.id), now, secrets)
        assert active.status == AccountStatus.ACTIVE.value and active.login_id == mailed.credentials.login_id
