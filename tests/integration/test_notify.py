"""Notifications, one test per rule, on SQLite and PostgreSQL: the outbox is written in the event's
transaction, preferences and contacts decide who hears what on which channel, and the worker
delivers through real servers (aiosmtpd for SMTP, a local HTTP gateway for SMS) with retries,
backoff, and no message lost or sent twice around a crash."""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select
from typer.testing import CliRunner

from opendmp.cli import app
from opendmp.config import EmailSender, Settings, SmsSender, SmtpSecurity
from opendmp.document import service as documents
from opendmp.fhir.document import VISIBILITY_SYSTEM, parse_document_reference
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins
from opendmp.jobs import run_jobs
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.notify import service as notifications
from opendmp.notify import worker
from opendmp.notify.errors import InvalidContact, NotificationRequired
from opendmp.notify.models import Category, ChannelKind, OutboxMessage, OutboxStatus, RecipientKind
from opendmp.notify.senders import make_senders
from opendmp.record import service as records
from opendmp.runtime import Runtime
from tests import factories as f
from tests.fhir.test_document_api import PDF, document_reference
from tests.live import OPENDMP, free_port, server_env

DOCTOR = Actor.professional("10000000002", "10", display_name="Paul DURAND")
EMAIL = "claire.martin@example.org"
PHONE = "06 12 34 56 78"


# ---------------------------------------------------------------- real servers


@dataclass
class SmtpRecorder:
    """An aiosmtpd handler keeping every message it accepted; refuses the addresses in `refuse`."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.messages]


@pytest.fixture
def smtp_server() -> Iterator[SmtpRecorder]:
    recorder = SmtpRecorder(port=free_port())
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


@dataclass
class SmsGateway:
    """A local SMS gateway: records each request; answers the statuses queued in `fail_with`."""

    url: str = ""
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    fail_with: list[int] = field(default_factory=list)


@pytest.fixture
def sms_gateway() -> Iterator[SmsGateway]:
    gateway = SmsGateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            gateway.requests.append((dict(self.headers), json.loads(body)))
            self.send_response(gateway.fail_with.pop(0) if gateway.fail_with else 202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    gateway.url = f"http://127.0.0.1:{server.server_port}/sms"
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def smtp_settings(settings: Settings, smtp: SmtpRecorder, **more: Any) -> Settings:
    return settings.model_copy(
        update={
            "notify_email_sender": EmailSender.SMTP,
            "notify_smtp_host": "127.0.0.1",
            "notify_smtp_port": smtp.port,
            "notify_smtp_security": SmtpSecurity.NONE,
            **more,
        }
    )


def sms_settings(settings: Settings, gateway: SmsGateway, **more: Any) -> Settings:
    from pydantic import SecretStr

    return settings.model_copy(
        update={
            "notify_sms_sender": SmsSender.HTTP,
            "notify_sms_url": gateway.url,
            "notify_sms_token": SecretStr("gateway-token"),
            **more,
        }
    )


# ---------------------------------------------------------------- helpers


def a_record(
    runtime: Runtime, *, email: str | None = EMAIL, phone: str | None = None, verified: bool = True
) -> tuple[Ins, uuid.UUID]:
    ins, traits = f.person()
    view = f.open_record(runtime, Actor.counter_agent("agent"), ins, traits)
    with unit_of_work(runtime.sessions) as session:
        for channel, address in ((ChannelKind.EMAIL, email), (ChannelKind.SMS, phone)):
            if address is not None:
                notifications.set_contact(
                    session, f.OPERATOR, view.record.id, channel, address, runtime.clock.now(), verified=verified
                )
    return ins, view.record.id


def notify(
    runtime: Runtime, record_id: uuid.UUID, category: Category, at: datetime | None = None, **params: Any
) -> None:
    with unit_of_work(runtime.sessions) as session:
        notifications.notify_holder(session, record_id, category, params, at or runtime.clock.now())


def outbox(runtime: Runtime, category: Category | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(
        OutboxMessage.created_at, OutboxMessage.recipient_kind, OutboxMessage.channel
    )
    if category is not None:
        query = query.where(OutboxMessage.category == category.value)
    with runtime.sessions() as session:
        return list(session.execute(query).scalars())


def drain(runtime: Runtime, settings: Settings | None = None, at: datetime | None = None) -> worker.SendReport:
    s = settings or runtime.settings
    return worker.send_due(
        runtime.sessions, make_senders(s), FrozenClock(at or runtime.clock.now()), worker.Delivery.from_settings(s)
    )


def submit(runtime: Runtime, record_id: uuid.UUID, actor: Actor = DOCTOR, **extra: Any) -> documents.StoredDocument:
    item = parse_document_reference(document_reference(record_id, PDF + uuid.uuid4().bytes, **extra))
    with unit_of_work(runtime.sessions) as session:
        return documents.submit_document(
            session, actor, item, PDF, runtime.clock.now(), runtime.vault, max_size=10_000_000
        )


# ---------------------------------------------------------------- the outbox and the event


def test_new_document_notifies_the_holder(runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    f.authorise(runtime, record_id, DOCTOR)
    submit(runtime, record_id)
    [message] = outbox(runtime, Category.NEW_DOCUMENT)
    assert (message.category, message.channel, message.address) == ("new-document", "email", EMAIL)
    assert message.recipient_kind == RecipientKind.HOLDER and message.status == OutboxStatus.PENDING
    assert "Un nouveau document a été ajouté à votre dossier médical partagé par Paul DURAND." in message.body
    # No title, type or content of the document: only that one was added, and by whom.
    assert "Compte rendu" not in message.body and "consultation" not in message.body


def test_a_submission_set_is_notified_once(runtime: Runtime, clock: FrozenClock) -> None:
    _, record_id = a_record(runtime)
    f.authorise(runtime, record_id, DOCTOR)
    items = [
        (parse_document_reference(document_reference(record_id, PDF + bytes([n]))), PDF + bytes([n])) for n in range(3)
    ]
    with unit_of_work(runtime.sessions) as session:
        documents.submit_set(
            session, DOCTOR, documents.SubmissionSetIn("2.25.1234"), items, clock.now(), runtime.vault, max_size=10**7
        )
    [message] = outbox(runtime, Category.NEW_DOCUMENT)
    assert "3 nouveaux documents ont été ajoutés" in message.body


def test_documents_hidden_from_the_patient_are_not_announced(runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    f.authorise(runtime, record_id, DOCTOR)
    submit(runtime, record_id, securityLabel=[{"coding": [{"system": VISIBILITY_SYSTEM, "code": "INVISIBLE_PATIENT"}]}])
    assert outbox(runtime, Category.NEW_DOCUMENT) == []


def test_the_insurers_reimbursement_lines_are_not_notified(runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    submit(
        runtime,
        record_id,
        Actor.insurer_feed(),
        type_code=None,
        type={"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.12", "code": "REMB"}]},
    )
    assert outbox(runtime) == []


def test_rolled_back_event_sends_nothing(runtime: Runtime, clock: FrozenClock) -> None:
    _, record_id = a_record(runtime)
    with pytest.raises(RuntimeError), unit_of_work(runtime.sessions) as session:
        assert notifications.notify_holder(
            session, record_id, Category.FIRST_ACCESS, {"professional": "X"}, clock.now()
        )
        raise RuntimeError("the event fails after its notification was queued")
    assert outbox(runtime) == []
    assert drain(runtime).sent == 0
    assert not (runtime.settings.data_dir / "outbox").exists()


def test_messages_take_only_the_parameters_of_their_category(runtime: Runtime, clock: FrozenClock) -> None:
    _, record_id = a_record(runtime)
    with pytest.raises(ValueError, match="title"), unit_of_work(runtime.sessions) as session:
        notifications.notify_holder(session, record_id, Category.NEW_DOCUMENT, {"title": "Sérologie VIH"}, clock.now())
    notify(runtime, record_id, Category.NEW_DOCUMENT, author="Dr A\r\nBcc: x@example.org")
    [message] = outbox(runtime)
    assert "\r" not in message.body and "par Dr A Bcc: x@example.org." in message.body


# ---------------------------------------------------------------- preferences and contacts


def test_holder_who_opted_out_of_new_document_emails_gets_none(runtime: Runtime, clock: FrozenClock) -> None:
    ins, record_id = a_record(runtime, phone=PHONE)
    with unit_of_work(runtime.sessions) as session:
        notifications.set_preference(session, Actor.patient(ins), record_id, Category.NEW_DOCUMENT, [], clock.now())
    notify(runtime, record_id, Category.NEW_DOCUMENT, author="Paul DURAND")
    assert outbox(runtime) == []
    notify(runtime, record_id, Category.CONSENT_CHANGE, change="authorised")  # other categories still come
    assert [m.category for m in outbox(runtime)] == ["consent-change"]


def test_a_holder_may_choose_sms_only(runtime: Runtime, clock: FrozenClock) -> None:
    ins, record_id = a_record(runtime, phone=PHONE)
    with unit_of_work(runtime.sessions) as session:
        notifications.set_preference(
            session, Actor.patient(ins), record_id, Category.FIRST_ACCESS, [ChannelKind.SMS], clock.now()
        )
        assert notifications.preferences_of(session, record_id)[Category.FIRST_ACCESS] == (ChannelKind.SMS,)
        assert notifications.preferences_of(session, record_id)[Category.NEW_DOCUMENT] is None
    notify(runtime, record_id, Category.FIRST_ACCESS, professional="Paul DURAND")
    [message] = outbox(runtime)
    assert (message.channel, message.address, message.subject) == ("sms", "+33612345678", None)
    assert message.body.startswith("DMP : pour la première fois, Paul DURAND a consulté votre dossier")


def test_by_default_email_goes_first_and_sms_reaches_those_without_email(runtime: Runtime) -> None:
    _, both = a_record(runtime, phone=PHONE)
    _, phone_only = a_record(runtime, email=None, phone=PHONE)
    notify(runtime, both, Category.NEW_DOCUMENT)
    notify(runtime, phone_only, Category.NEW_DOCUMENT)
    assert sorted((m.record_id == both, m.channel) for m in outbox(runtime)) == [(False, "sms"), (True, "email")]


def test_emergency_access_is_notified_on_every_channel_and_cannot_be_turned_off(
    runtime: Runtime, clock: FrozenClock
) -> None:
    ins, record_id = a_record(runtime, phone=PHONE)
    with pytest.raises(NotificationRequired), unit_of_work(runtime.sessions) as session:
        notifications.set_preference(session, Actor.patient(ins), record_id, Category.EMERGENCY_ACCESS, [], clock.now())
    notify(runtime, record_id, Category.EMERGENCY_ACCESS, professional="Dr Urgence", mode="bris-de-glace")
    assert sorted(m.channel for m in outbox(runtime)) == ["email", "sms"]
    assert "consulté en urgence par Dr Urgence (accès « bris de glace »)" in outbox(runtime)[0].body


def test_emergency_access_reaches_the_holder_even_on_a_channel_not_chosen(runtime: Runtime, clock: FrozenClock) -> None:
    ins, record_id = a_record(runtime)  # email only
    with unit_of_work(runtime.sessions) as session:
        notifications.set_preference(
            session, Actor.patient(ins), record_id, Category.EMERGENCY_ACCESS, [ChannelKind.SMS], clock.now()
        )
    notify(runtime, record_id, Category.EMERGENCY_ACCESS, mode="samu")
    assert [m.channel for m in outbox(runtime)] == ["email"]


def test_unverified_contacts_receive_nothing(runtime: Runtime) -> None:
    _, record_id = a_record(runtime, verified=False)
    notify(runtime, record_id, Category.EMERGENCY_ACCESS)
    assert outbox(runtime) == []


def test_contacts_are_validated_and_their_changes_journaled_without_the_address(
    runtime: Runtime, clock: FrozenClock
) -> None:
    _, record_id = a_record(runtime, email=None)
    with pytest.raises(InvalidContact), unit_of_work(runtime.sessions) as session:
        notifications.set_contact(session, f.OPERATOR, record_id, ChannelKind.SMS, "01 40 00 00 00", clock.now())
    with pytest.raises(InvalidContact), unit_of_work(runtime.sessions) as session:
        notifications.set_contact(session, f.OPERATOR, record_id, ChannelKind.EMAIL, "not an address", clock.now())
    with unit_of_work(runtime.sessions) as session:
        notifications.set_contact(session, f.OPERATOR, record_id, ChannelKind.EMAIL, "A.B@Example.ORG", clock.now())
        [contact] = notifications.contacts_of(session, record_id)
        assert contact.address == "A.B@example.org"
    from opendmp.journal.models import JournalEntry

    with runtime.sessions() as session:
        reasons = [
            r for (r,) in session.execute(select(JournalEntry.reason).where(JournalEntry.reason.like("contact:%")))
        ]
    assert reasons == ["contact:email:set;person=holder"]


def test_a_minors_legal_representatives_are_notified_at_their_own_contacts(
    runtime: Runtime, clock: FrozenClock
) -> None:
    ins, traits = f.minor(clock.now().date(), given="LÉA")
    parent, _ = f.person(family="MARTIN", given="SOPHIE")
    view = f.open_record(
        runtime,
        Actor.counter_agent("agent"),
        ins,
        traits,
        representatives=(records.RepresentativeIn(parent, "MARTIN", "SOPHIE"),),
    )
    [representative] = view.representatives
    with unit_of_work(runtime.sessions) as session:
        notifications.set_contact(
            session,
            f.OPERATOR,
            view.record.id,
            ChannelKind.EMAIL,
            "sophie@example.org",
            clock.now(),
            representative_id=representative.id,
        )
    notify(runtime, view.record.id, Category.NEW_DOCUMENT)
    [message] = outbox(runtime)
    assert (message.recipient_kind, message.recipient_ref) == ("representative", str(representative.id))
    assert "en tant que représentant légal" in message.body and "dossier médical partagé de Léa" in message.body
    # What is hidden from representatives (INVISIBLE_REPRESENTANTS_LEGAUX) is not told to them either.
    with unit_of_work(runtime.sessions) as session:
        assert (
            notifications.notify_holder(
                session, view.record.id, Category.NEW_DOCUMENT, {}, clock.now(), include_representatives=False
            )
            == []
        )


def test_the_medecin_traitant_is_notified_of_an_emergency_access(runtime: Runtime, clock: FrozenClock) -> None:
    _, record_id = a_record(runtime)
    with unit_of_work(runtime.sessions) as session:
        notifications.set_professional_contact(
            session, f.OPERATOR, "10000000003", "dr.generaliste@medecin.mssante.fr", clock.now()
        )
    with unit_of_work(runtime.sessions) as session:
        ids = notifications.notify_professional(
            session,
            "10000000003",
            Category.EMERGENCY_ACCESS,
            {"professional": "Dr Urgence", "mode": "bris-de-glace", "patient": "Claire MARTIN"},
            clock.now(),
            record_id=record_id,
        )
        assert len(ids) == 1
        assert (
            notifications.notify_professional(session, "10000000009", Category.EMERGENCY_ACCESS, {}, clock.now()) == []
        )
    [message] = outbox(runtime)
    assert (message.recipient_kind, message.recipient_ref) == ("professional", "10000000003")
    assert "En tant que médecin traitant" in message.body and "Claire MARTIN" in message.body


def test_nobody_is_notified_about_a_deceased_holder(runtime: Runtime, clock: FrozenClock) -> None:
    _, record_id = a_record(runtime)
    with unit_of_work(runtime.sessions) as session:
        records.declare_death(session, f.OPERATOR, record_id, clock.now().date(), clock.now())
    notify(runtime, record_id, Category.NEW_DOCUMENT)
    assert outbox(runtime) == []


def test_purging_a_record_forgets_its_contacts_and_unsent_messages(runtime: Runtime, clock: FrozenClock) -> None:
    ins, record_id = a_record(runtime, phone=PHONE)
    notify(runtime, record_id, Category.NEW_DOCUMENT)
    with unit_of_work(runtime.sessions) as session:
        records.request_deletion(session, Actor.patient(ins), record_id, clock.now())
    run_jobs(runtime.job_context(), clock.now(), ["purge"])
    assert outbox(runtime) == []
    with runtime.sessions() as session:
        assert notifications.contacts_of(session, record_id) == []


# ---------------------------------------------------------------- senders


def test_dev_sender_writes_eml_files_not_logs(runtime: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    _, record_id = a_record(runtime, phone=PHONE)
    notify(runtime, record_id, Category.EMERGENCY_ACCESS, professional="Dr Urgence")
    report = drain(runtime)
    assert report.sent == 2
    email_row, sms_row = outbox(runtime)
    folder = runtime.settings.data_dir / "outbox"
    eml = message_from_bytes((folder / f"{email_row.id}.eml").read_bytes(), policy=default)
    assert eml["To"] == EMAIL and eml["Subject"] == "Accès en urgence au DMP"
    assert eml["Message-ID"] == f"<{email_row.id}@opendmp.localhost>" and eml["Date"] is not None
    assert "consulté en urgence par Dr Urgence" in eml.get_body().get_content()  # type: ignore[union-attr]
    assert runtime.settings.public_base_url in eml.get_body().get_content()  # type: ignore[union-attr]
    sms = (folder / f"{sms_row.id}.sms").read_text()
    assert sms.startswith("To: +33612345678\n\nDMP : votre dossier médical partagé a été consulté en urgence")
    logs = capsys.readouterr()
    for secret in (EMAIL, "+33612345678", "Dr Urgence", "consulté"):
        assert secret not in logs.out + logs.err
    assert {m.status for m in outbox(runtime)} == {"sent"}


def test_smtp_sender_delivers_to_a_real_server(runtime: Runtime, settings: Settings, smtp_server: SmtpRecorder) -> None:
    _, record_id = a_record(runtime)
    f.authorise(runtime, record_id, DOCTOR)  # the holder hears of the authorisation, then of the document
    submit(runtime, record_id)
    assert drain(runtime, smtp_settings(settings, smtp_server)).sent == 2
    [received] = [m for m in smtp_server.messages if m["Subject"] == "Nouveau document dans le DMP"]
    [row] = outbox(runtime, Category.NEW_DOCUMENT)
    assert received["To"] == EMAIL and received["From"] == settings.notify_from
    assert received["Subject"] == "Nouveau document dans le DMP"
    assert received["Message-ID"] == f"<{row.id}@opendmp.localhost>"
    assert "ajouté à votre dossier médical partagé par Paul DURAND" in received.get_body().get_content()  # type: ignore[union-attr]
    assert row.status == "sent" and row.sent_at is not None


def test_smtp_sender_uses_starttls_and_logs_in(runtime: Runtime, settings: Settings, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder = SmtpRecorder(port=free_port())
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=(data.login, data.password) == (b"relay-user", b"relay-pass"))

    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=recorder.port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        from pydantic import SecretStr

        _, record_id = a_record(runtime)
        notify(runtime, record_id, Category.CONSENT_CHANGE, change="blocked")
        s = smtp_settings(
            settings,
            recorder,
            notify_smtp_security=SmtpSecurity.STARTTLS,
            notify_smtp_ca_file=cert,
            notify_smtp_user="relay-user",
            notify_smtp_password=SecretStr("relay-pass"),
        )
        assert drain(runtime, s).sent == 1
    finally:
        controller.stop()
    assert logins == [(b"relay-user", b"relay-pass")]
    assert "un professionnel a été bloqué" in recorder.messages[0].get_body().get_content()  # type: ignore[union-attr]


def test_a_recipient_the_relay_refuses_fails_at_once(
    runtime: Runtime, settings: Settings, smtp_server: SmtpRecorder
) -> None:
    _, record_id = a_record(runtime, email="nobody@example.org")
    smtp_server.refuse.add("nobody@example.org")
    notify(runtime, record_id, Category.NEW_DOCUMENT)
    report = drain(runtime, smtp_settings(settings, smtp_server))
    assert (report.sent, report.failed) == (0, 1)
    [row] = outbox(runtime)
    assert (row.status, row.attempts) == ("failed", 1) and "550" in (row.last_error or "")


def test_failed_sms_is_retried_with_backoff(
    runtime: Runtime, settings: Settings, clock: FrozenClock, sms_gateway: SmsGateway
) -> None:
    _, record_id = a_record(runtime, email=None, phone=PHONE)
    notify(runtime, record_id, Category.NEW_DOCUMENT, author="Paul DURAND")
    s = sms_settings(settings, sms_gateway, notify_retry_base_seconds=60)
    sms_gateway.fail_with = [503, 503]
    start = clock.now()
    assert drain(runtime, s, start).retried == 1
    [row] = outbox(runtime)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, start + timedelta(seconds=60))
    assert drain(runtime, s, start + timedelta(seconds=59)).retried == 0  # not due yet: nothing tried
    assert len(sms_gateway.requests) == 1
    assert drain(runtime, s, start + timedelta(seconds=60)).retried == 1
    [row] = outbox(runtime)
    assert (row.attempts, row.next_attempt_at) == (2, start + timedelta(seconds=60 + 120))  # doubled
    assert drain(runtime, s, start + timedelta(seconds=180)).sent == 1
    [row] = outbox(runtime)
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)
    headers, body = sms_gateway.requests[-1]
    assert body == {"to": "+33612345678", "text": body["text"]} and "Paul DURAND" in body["text"]
    assert headers["Authorization"] == "Bearer gateway-token" and headers["Idempotency-Key"] == str(row.id)
    assert len({h["Idempotency-Key"] for h, _ in sms_gateway.requests}) == 1  # the same message each time


def test_a_message_failing_every_attempt_is_marked_failed_and_listed_for_operators(
    runtime: Runtime, settings: Settings, clock: FrozenClock, sms_gateway: SmsGateway
) -> None:
    _, record_id = a_record(runtime, email=None, phone=PHONE)
    notify(runtime, record_id, Category.NEW_DOCUMENT)
    s = sms_settings(settings, sms_gateway, notify_max_attempts=3)
    sms_gateway.fail_with = [500] * 3
    at = clock.now()
    for _ in range(3):
        drain(runtime, s, at)
        at += timedelta(hours=1)
    [row] = outbox(runtime)
    assert (row.status, row.attempts) == ("failed", 3)
    assert drain(runtime, s, at + timedelta(days=1)).sent == 0  # given up: not tried again
    with runtime.sessions() as session:
        [failed] = notifications.failed_messages(session)
    assert failed.id == row.id and failed.address == "+336*****78" and failed.last_error == "SMS gateway answered 500"
    with unit_of_work(runtime.sessions) as session:
        notifications.retry_failed(session, row.id, at)
    assert drain(runtime, s, at).sent == 1


def test_a_gateway_refusing_a_message_is_not_retried(
    runtime: Runtime, settings: Settings, sms_gateway: SmsGateway
) -> None:
    _, record_id = a_record(runtime, email=None, phone=PHONE)
    notify(runtime, record_id, Category.NEW_DOCUMENT)
    sms_gateway.fail_with = [400]
    assert drain(runtime, sms_settings(settings, sms_gateway)).failed == 1
    assert [m.status for m in outbox(runtime)] == ["failed"]


def test_production_refuses_to_send_without_named_senders(settings: Settings) -> None:
    from opendmp.config import Environment
    from opendmp.notify.errors import SenderNotConfigured

    production = settings.model_copy(update={"env": Environment.PRODUCTION, "dev_mode": False})
    with pytest.raises(SenderNotConfigured):
        make_senders(production)
    with pytest.raises(SenderNotConfigured):
        make_senders(production.model_copy(update={"notify_email_sender": EmailSender.SMTP}))


# ---------------------------------------------------------------- the worker: crashes and concurrency


def _queue_messages(runtime: Runtime, count: int, at: datetime) -> list[uuid.UUID]:
    record_ids = [a_record(runtime)[1] for _ in range(count)]
    for record_id in record_ids:
        notify(runtime, record_id, Category.NEW_DOCUMENT, at=at)
    return [m.id for m in outbox(runtime)]


def _crash(settings: Settings, smtp: SmtpRecorder, failpoint: str) -> int:
    env = server_env(
        settings,
        OPENDMP_FAILPOINT=failpoint,
        OPENDMP_NOTIFY_EMAIL_SENDER="smtp",
        OPENDMP_NOTIFY_SMTP_HOST="127.0.0.1",
        OPENDMP_NOTIFY_SMTP_PORT=str(smtp.port),
        OPENDMP_NOTIFY_SMTP_SECURITY="none",
    )
    return subprocess.run(
        [OPENDMP, "notify", "send"], env=env, capture_output=True, timeout=120, check=False
    ).returncode


def test_crash_after_claim_sends_each_message_once(
    runtime: Runtime, settings: Settings, smtp_server: SmtpRecorder
) -> None:
    now = datetime.now(UTC)  # the crashing worker runs on the wall clock
    ids = _queue_messages(runtime, 5, now)
    assert _crash(settings, smtp_server, "notify.after-claim") == 137
    assert smtp_server.messages == []
    assert {m.status for m in outbox(runtime)} == {"sending"}  # claimed, nothing sent
    s = smtp_settings(settings, smtp_server)
    assert drain(runtime, s, now + timedelta(seconds=1)).sent == 0  # the lease still holds them
    # The lease runs from the crashed worker's own claim, seconds after `now` on a loaded machine.
    after_lease = max(m.next_attempt_at for m in outbox(runtime)) + timedelta(seconds=1)
    assert drain(runtime, s, after_lease).sent == 5
    assert drain(runtime, s, after_lease + timedelta(hours=1)).sent == 0
    assert sorted(smtp_server.message_ids()) == sorted(f"<{i}@opendmp.localhost>" for i in ids)  # each once, none lost


def test_crash_after_send_resends_only_that_message_with_the_same_message_id(
    runtime: Runtime, settings: Settings, smtp_server: SmtpRecorder
) -> None:
    now = datetime.now(UTC)
    ids = _queue_messages(runtime, 4, now)
    assert _crash(settings, smtp_server, "notify.after-send") == 137
    [first] = smtp_server.message_ids()  # accepted by the relay, not marked: the at-least-once window
    after_lease = max(m.next_attempt_at for m in outbox(runtime)) + timedelta(seconds=1)
    assert drain(runtime, smtp_settings(settings, smtp_server), after_lease).sent == 4
    delivered = smtp_server.message_ids()
    assert sorted(set(delivered)) == sorted(f"<{i}@opendmp.localhost>" for i in ids)
    assert len(delivered) == 5 and delivered.count(first) == 2  # the one duplicate carries the same Message-ID


def test_the_file_sender_writes_a_message_sent_twice_once(runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    notify(runtime, record_id, Category.NEW_DOCUMENT)
    drain(runtime)
    [row] = outbox(runtime)
    sender = make_senders(runtime.settings).email
    sender.send(worker._outgoing(row, runtime.settings.public_base_url))  # as if re-sent after a crash
    assert [p.name for p in (runtime.settings.data_dir / "outbox").iterdir()] == [f"{row.id}.eml"]


def test_two_workers_never_send_the_same_message(
    runtime: Runtime, settings: Settings, smtp_server: SmtpRecorder
) -> None:
    ids = _queue_messages(runtime, 12, runtime.clock.now())
    s = smtp_settings(settings, smtp_server)
    delivery = worker.Delivery.from_settings(s)
    small_batches = worker.Delivery(delivery.lease, delivery.max_attempts, delivery.retry_base, delivery.portal_url, 2)
    reports: list[worker.SendReport] = []

    def run() -> None:
        reports.append(worker.send_due(runtime.sessions, make_senders(s), runtime.clock, small_batches))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.sent for r in reports) == 12
    assert sorted(smtp_server.message_ids()) == sorted(f"<{i}@opendmp.localhost>" for i in ids)


# ---------------------------------------------------------------- job and command line


def test_the_notify_job_sends_due_messages(runtime: Runtime) -> None:
    _, record_id = a_record(runtime)
    notify(runtime, record_id, Category.NEW_DOCUMENT)
    [result] = run_jobs(runtime.job_context(), runtime.clock.now(), ["notify"])
    assert (result.name, result.done, result.failed) == ("notify", 1, 0)
    assert [m.status for m in outbox(runtime)] == ["sent"]


def test_operators_set_contacts_send_and_list_failures_from_the_command_line(
    runtime: Runtime, sms_gateway: SmsGateway
) -> None:
    _, record_id = a_record(runtime, email=None)
    env = {
        "OPENDMP_DATABASE_URL": runtime.settings.resolved_database_url,
        "OPENDMP_DATA_DIR": str(runtime.settings.data_dir),
        "OPENDMP_DEV_MODE": "true",
        "OPENDMP_ENV": "test",
        "OPENDMP_NOTIFY_SMS_SENDER": "http",
        "OPENDMP_NOTIFY_SMS_URL": sms_gateway.url,
        "OPENDMP_NOTIFY_SMS_TOKEN": "t",
    }

    def cli(*args: str) -> Any:
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)

    assert cli("notify", "contact", "set", str(record_id), "--phone", "07 00 00 00 01", "--email", EMAIL).exit_code == 0
    assert cli("notify", "contact", "set", str(record_id), "--phone", "123").exit_code == 2
    listed = cli("notify", "contact", "list", str(record_id)).stdout
    assert "holder sms +337*****01 verified" in listed and "holder email c***@example.org" in listed
    notify(runtime, record_id, Category.EMERGENCY_ACCESS, at=datetime.now(UTC))
    sms_gateway.fail_with = [403]
    result = cli("notify", "send")
    assert result.exit_code == 0 and "1 sent, 0 to retry, 1 failed" in result.stderr
    failed = cli("notify", "failed").stdout
    assert "emergency-access sms +337*****01 attempts=1 error=SMS gateway answered 403" in failed
    assert EMAIL not in failed and "07 00" not in failed


# ---------------------------------------------------------------- a certificate for STARTTLS


def _self_signed(folder: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "relay.pem", folder / "relay.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path
