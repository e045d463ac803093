"""The patient's login pages through the real app (routing, cookies, CSRF, statuses), on SQLite
and PostgreSQL: a patient activates, logs in with a one-time code and sees their record."""

from __future__ import annotations

import logging
import re
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import delete, select

from opendmp.app import create_app
from opendmp.auth.account_models import AuthSession, LoginThrottle, OneTimeCode, PatientAccount
from opendmp.config import Settings
from opendmp.identity.actor import Actor
from opendmp.identity.ins import Ins
from opendmp.identity.models import Patient
from opendmp.journal.models import JournalEntry
from opendmp.kit.db import unit_of_work
from opendmp.notify.models import OutboxMessage
from opendmp.runtime import Runtime
from opendmp.web.patient_pages import edge_of
from tests import factories as f
from tests.integration.test_notify import submit
from tests.integration.test_patient_login import a_record, issue, last_code

PASSWORD = "Canari-Mot-De-Passe-7319"  # distinctive: the canary test greps for it
SESSION = "__Host-dmp_session"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The per-address window is tested on its own; here it must not get in the way of the journeys.
    return settings.model_copy(update={"login_rate_limit": "10000/minute"})


@pytest.fixture
def web(runtime: Runtime) -> Iterator[TestClient[Any]]:
    # HTTPS, as outside development: the cookies are Secure and __Host- prefixed.
    with TestClient(app=create_app(runtime=runtime), base_url="https://testserver.local") as client:
        yield client


@contextmanager
def another_browser(web: TestClient[Any]) -> Iterator[None]:
    """The same app seen from a browser with its own (empty) cookie jar."""
    saved = list(web.cookies.jar)
    web.cookies.clear()
    try:
        yield
    finally:
        web.cookies.clear()
        for cookie in saved:
            web.cookies.jar.set_cookie(cookie)


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert found is not None, "the form carries a CSRF token"
    return found.group(1)


def post_form(web: TestClient[Any], path: str, fields: dict[str, str], page: str | None = None) -> Any:
    html = web.get(page or path).text
    return web.post(path, data={"csrf_token": csrf(html), **fields}, follow_redirects=False)


def birth_date(runtime: Runtime, record_id: uuid.UUID) -> str:
    with unit_of_work(runtime.sessions) as db:
        return db.get(Patient, record_id).birth_date.isoformat()  # type: ignore[union-attr]


def activate_in_browser(web: TestClient[Any], runtime: Runtime, ins: Ins, record_id: uuid.UUID) -> str:
    credentials = issue(runtime, record_id, edge_of_runtime(web).secrets)
    answer = post_form(
        web,
        "/activation",
        {
            "code": credentials.activation_code,
            "nir": ins.value,
            "date_naissance": birth_date(runtime, record_id),
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/activation/mot-de-passe"
    answer = post_form(web, "/activation/mot-de-passe", {"mot_de_passe": PASSWORD, "confirmation": PASSWORD})
    assert answer.headers["location"] == "/activation/contact"
    answer = post_form(web, "/activation/contact", {"canal": "sms", "adresse": "06 12 34 56 78"})
    assert answer.headers["location"] == "/activation/verification"
    answer = post_form(web, "/activation/verification", {"code": last_code(runtime, record_id)})
    assert answer.status_code == 200 and "Votre espace DMP est activé" in answer.text
    return credentials.login_id


def edge_of_runtime(web: TestClient[Any]) -> Any:
    class _Request:
        app = web.app

    return edge_of(_Request())  # type: ignore[arg-type]


def log_in(web: TestClient[Any], runtime: Runtime, login_id: str, record_id: uuid.UUID) -> Any:
    answer = post_form(web, "/connexion", {"identifiant": login_id, "mot_de_passe": PASSWORD})
    assert answer.status_code == 303 and answer.headers["location"] == "/connexion/code"
    answer = post_form(web, "/connexion/code", {"code": last_code(runtime, record_id)})
    assert answer.status_code == 303 and answer.headers["location"] == "/mon-dossier"
    return answer


def test_a_patient_activates_logs_in_with_a_one_time_code_and_sees_their_record(
    web: TestClient[Any], runtime: Runtime
) -> None:
    ins, record_id = a_record(runtime)
    doctor = Actor.professional("10000000002", "10")
    f.authorise(runtime, record_id, doctor)
    submit(runtime, record_id, doctor)
    login_id = activate_in_browser(web, runtime, ins, record_id)
    # The identifier is remembered on this device, and only it.
    assert web.cookies.get("__Host-dmp_identifiant") == login_id
    assert login_id[:5] in web.get("/connexion").text
    log_in(web, runtime, login_id, record_id)
    page = web.get("/mon-dossier")
    assert page.status_code == 200
    assert "votre dossier" in page.text and "1 document(s) au total." in page.text
    assert page.headers["cache-control"] == "no-store"


def test_pages_are_not_cached_and_cookies_are_secure_httponly_and_samesite(
    web: TestClient[Any], runtime: Runtime
) -> None:
    ins, record_id = a_record(runtime)
    activate_in_browser(web, runtime, ins, record_id)
    page = web.get("/connexion")
    assert page.headers["cache-control"] == "no-store"
    answer = post_form(web, "/connexion", {"identifiant": "x", "mot_de_passe": "y"})
    assert answer.headers["cache-control"] == "no-store"
    with unit_of_work(runtime.sessions) as db:
        login_id = db.execute(select(PatientAccount.login_id)).scalar_one()
    answer = post_form(web, "/connexion", {"identifiant": login_id, "mot_de_passe": PASSWORD})
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION))
    assert all(flag in cookie.lower() for flag in ("secure", "httponly", "samesite=lax", "path=/"))


def test_form_without_csrf_token_is_refused(web: TestClient[Any], runtime: Runtime) -> None:
    web.get("/connexion")
    for data in ({"identifiant": "ABCDE23456", "mot_de_passe": PASSWORD}, {"csrf_token": "forged", "identifiant": "x"}):
        answer = web.post("/connexion", data=data, follow_redirects=False)
        assert answer.status_code == 403 and "Formulaire expiré" in answer.text
    # A token from another browser (bound to its own pre-session cookie) does not pass either.
    with another_browser(web):
        stolen = csrf(web.get("/connexion").text)
    assert web.post("/connexion", data={"csrf_token": stolen, "identifiant": "x"}).status_code == 403
    with unit_of_work(runtime.sessions) as db:
        refusals = db.execute(select(JournalEntry).where(JournalEntry.action == "auth:csrf")).scalars().all()
    assert len(refusals) == 3 and {r.outcome for r in refusals} == {"failure"}


def test_session_id_rotates_on_login(web: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    login_id = activate_in_browser(web, runtime, ins, record_id)
    planted = "attacker-chosen-session-id-0123456789abcdef"
    web.cookies.set(SESSION, planted, domain="testserver.local")
    answer = post_form(web, "/connexion", {"identifiant": login_id, "mot_de_passe": PASSWORD})
    second_factor = web.cookies.get(SESSION)
    assert second_factor not in (None, planted)
    post_form(web, "/connexion/code", {"code": last_code(runtime, record_id)})
    logged_in = web.cookies.get(SESSION)
    assert logged_in not in (None, planted, second_factor)
    assert web.get("/mon-dossier").status_code == 200
    # Neither the planted id nor the pre-login one opens anything; presenting them is journaled.
    for stale in (planted, second_factor):
        with another_browser(web):
            web.cookies.set(SESSION, stale or "", domain="testserver.local")
            assert web.get("/mon-dossier").status_code == 401
    with unit_of_work(runtime.sessions) as db:
        reasons = db.execute(select(JournalEntry.reason).where(JournalEntry.action == "auth:session")).scalars().all()
    assert sorted(reasons) == ["revoked", "unknown"]
    assert answer.status_code == 303


def test_logout_revokes_the_session_server_side(web: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    login_id = activate_in_browser(web, runtime, ins, record_id)
    log_in(web, runtime, login_id, record_id)
    token = web.cookies.get(SESSION)
    answer = post_form(web, "/deconnexion", {}, page="/mon-dossier")
    assert answer.status_code == 200 and "déconnecté" in answer.text
    # The browser forgot it; a copy of the cookie is worth nothing either.
    with another_browser(web):
        web.cookies.set(SESSION, token or "", domain="testserver.local")
        assert web.get("/mon-dossier").status_code == 401
    with unit_of_work(runtime.sessions) as db:
        assert db.execute(select(AuthSession.revoked_reason).where(AuthSession.revoked_reason == "logout")).scalar_one()


def test_unknown_and_known_identifiers_answer_alike(web: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    login_id = activate_in_browser(web, runtime, ins, record_id)
    secrets = edge_of_runtime(web).secrets
    dummy_checks = 0

    def counted() -> None:
        nonlocal dummy_checks
        dummy_checks += 1

    secrets.on_dummy_check = counted
    unknown = "ZZZZZ-ZZZZZ" if login_id != "ZZZZZZZZZZ" else "YYYYY-YYYYY"
    known = f"{login_id[:5]}-{login_id[5:]}"
    html = web.get("/connexion").text
    token = csrf(html)

    def attempt(identifier: str) -> tuple[int, str, float]:
        started = time.perf_counter()
        answer = web.post("/connexion", data={"csrf_token": token, "identifiant": identifier, "mot_de_passe": "wrong"})
        elapsed = time.perf_counter() - started
        return answer.status_code, answer.text.replace(identifier, "<id>"), elapsed

    known_answer, unknown_answer = attempt(known), attempt(unknown)
    assert known_answer[:2] == unknown_answer[:2] and known_answer[0] == 401
    assert dummy_checks == 1  # the unknown identifier cost an Argon2id check too
    # Timing: medians of interleaved attempts (each subject stays under the backoff threshold by
    # clearing it between rounds), with a generous margin for a loaded machine.
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    for _ in range(8):
        with unit_of_work(runtime.sessions) as db:
            db.execute(delete(LoginThrottle))
        for name, identifier in (("known", known), ("unknown", unknown)):
            times[name].append(attempt(identifier)[2])
    ratio = statistics.median(times["known"]) / statistics.median(times["unknown"])
    assert 0.33 < ratio < 3.0


def test_wrong_codes_back_off_with_429_and_retry_after(web: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    login_id = activate_in_browser(web, runtime, ins, record_id)
    post_form(web, "/connexion", {"identifiant": login_id, "mot_de_passe": PASSWORD})
    token = csrf(web.get("/connexion/code").text)
    statuses = [web.post("/connexion/code", data={"csrf_token": token, "code": "000000"}).status_code for _ in range(7)]
    real = last_code(runtime, record_id)
    if real == "000000":
        pytest.skip("the random code happened to be 000000")
    assert statuses == [401] * 5 + [429, 429]
    answer = web.post("/connexion/code", data={"csrf_token": token, "code": real})
    assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 1
    assert "Trop de tentatives" in answer.text


def test_too_many_requests_from_one_address_answer_429(runtime: Runtime, settings: Settings) -> None:
    runtime.settings = settings.model_copy(update={"login_rate_limit": "3/minute"})
    with TestClient(app=create_app(runtime=runtime), base_url="https://testserver.local") as web:
        token = csrf(web.get("/connexion").text)
        statuses = [
            web.post(
                "/connexion", data={"csrf_token": token, "identifiant": "ABCDE23456", "mot_de_passe": "x"}
            ).status_code
            for _ in range(4)
        ]
    assert statuses == [401, 401, 401, 429]


def test_no_secret_reaches_logs_journal_or_outbox_metadata(
    web: TestClient[Any], runtime: Runtime, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    ins, record_id = a_record(runtime)
    login_id = activate_in_browser(web, runtime, ins, record_id)
    post_form(web, "/connexion", {"identifiant": login_id, "mot_de_passe": "Canari-Faux-Mot-4411"})
    log_in(web, runtime, login_id, record_id)
    session_id = web.cookies.get(SESSION)
    with unit_of_work(runtime.sessions) as db:
        codes = [
            re.search(r"\b(\d{6})\b", b).group(1)  # type: ignore[union-attr]
            for b in db.execute(select(OutboxMessage.body).where(OutboxMessage.category.like("auth-code-%"))).scalars()
        ]
        activation = db.execute(select(JournalEntry)).scalars().all()
        journal_text = " ".join(
            str([e.actor_id, e.actor_kind, e.action, e.target_id, e.target_type, e.reason, e.purpose, e.source_address])
            for e in activation
        )
        outbox_meta = " ".join(
            str(
                [
                    m.category,
                    m.recipient_kind,
                    m.recipient_ref,
                    m.channel,
                    m.address,
                    m.subject,
                    m.last_error,
                    m.claimed_by,
                ]
            )
            for m in db.execute(select(OutboxMessage)).scalars()
        )
        stored_codes = " ".join(f"{c.digest} {c.address}" for c in db.execute(select(OneTimeCode)).scalars())
    captured = capsys.readouterr()
    logs = caplog.text + captured.out + captured.err
    canaries = [PASSWORD, "Canari-Faux-Mot-4411", session_id or "missing", *codes]
    assert len(codes) >= 2
    for canary in canaries:
        for where, text in (
            ("logs", logs),
            ("journal", journal_text),
            ("outbox metadata", outbox_meta),
            ("stored codes", stored_codes),
        ):
            assert canary not in text, f"a secret reached the {where}"
    assert "auth:login" in journal_text  # the journal did record the logins, without their secrets


def _recovery_answers(web: TestClient[Any], identifier: str, attempts: int) -> list[tuple[int, str]]:
    """The whole password recovery from a fresh browser: the request, the code page, then
    `attempts` wrong codes each with a too-short password; each answer's status and body (CSRF
    tokens and the identifier blanked, the two things that differ by construction)."""

    def seen(answer: Any) -> tuple[int, str]:
        body = re.sub(r'name="csrf_token" value="[^"]*"', "", answer.text).replace(identifier, "<id>")
        return answer.status_code, body + answer.headers.get("location", "")

    with another_browser(web):
        answers = [seen(post_form(web, "/mot-de-passe-oublie", {"identifiant": identifier}))]
        page = web.get("/mot-de-passe-oublie/code")
        answers.append(seen(page))
        for _ in range(attempts):
            fields = {"csrf_token": csrf(page.text), "code": "000000", "nouveau": "court"}
            answers.append(seen(web.post("/mot-de-passe-oublie/code", data=fields)))
    return answers


def test_password_recovery_answers_known_and_unknown_identifiers_alike(web: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    login_id = activate_in_browser(web, runtime, ins, record_id)
    unknown = "ZZZZZZZZZZ" if login_id != "ZZZZZZZZZZ" else "YYYYYYYYYY"
    known_answers = _recovery_answers(web, login_id, 7)
    if last_code(runtime, record_id) == "000000":
        pytest.skip("the random code happened to be 000000")
    unknown_answers = _recovery_answers(web, unknown, 7)
    assert known_answers == unknown_answers
    statuses = [status for status, _ in known_answers]
    # The code is judged before the password's length, and both back off after five failures.
    assert statuses == [303, 200] + [401] * 5 + [429, 429]
    assert "code incorrect" in known_answers[2][1] and "mot de passe doit compter" not in known_answers[2][1]


def test_recovery_codes_sent_to_one_identifier_are_capped_per_hour(web: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    login_id = activate_in_browser(web, runtime, ins, record_id)
    unknown = "ZZZZZZZZZZ" if login_id != "ZZZZZZZZZZ" else "YYYYYYYYYY"
    for identifier in (login_id, unknown):
        statuses = [_recovery_answers(web, identifier, 0)[0][0] for _ in range(4)]
        assert statuses == [303, 303, 303, 429]
    with unit_of_work(runtime.sessions) as db:
        sent = db.execute(select(OutboxMessage).where(OutboxMessage.category == "auth-code-recovery")).scalars().all()
    assert len(sent) == 3


def test_an_attacker_who_knows_the_identifier_does_not_lock_the_holders_known_device(
    web: TestClient[Any], runtime: Runtime
) -> None:
    ins, record_id = a_record(runtime)
    login_id = activate_in_browser(web, runtime, ins, record_id)
    log_in(web, runtime, login_id, record_id)  # this browser becomes a known device of the account
    assert web.cookies.get("__Host-dmp_appareil")
    post_form(web, "/deconnexion", {}, page="/mon-dossier")
    with another_browser(web):
        token = csrf(web.get("/connexion").text)
        statuses = [
            web.post(
                "/connexion", data={"csrf_token": token, "identifiant": login_id, "mot_de_passe": "devine-123456"}
            ).status_code
            for _ in range(20)
        ]
    assert statuses == [401] * 5 + [429] * 15
    # The holder, on their known device, logs in as usual (password, then the code).
    log_in(web, runtime, login_id, record_id)
    assert web.get("/mon-dossier").status_code == 200
    # Any other device, even with the right password, still waits; so does a forged mark.
    with another_browser(web):
        assert post_form(web, "/connexion", {"identifiant": login_id, "mot_de_passe": PASSWORD}).status_code == 429
        web.cookies.set("__Host-dmp_appareil", "forged.0123abcd", domain="testserver.local")
        assert post_form(web, "/connexion", {"identifiant": login_id, "mot_de_passe": PASSWORD}).status_code == 429


def test_a_known_device_backs_off_on_its_own_failures(web: TestClient[Any], runtime: Runtime) -> None:
    ins, record_id = a_record(runtime)
    login_id = activate_in_browser(web, runtime, ins, record_id)
    log_in(web, runtime, login_id, record_id)
    post_form(web, "/deconnexion", {}, page="/mon-dossier")
    token = csrf(web.get("/connexion").text)
    statuses = [
        web.post(
            "/connexion", data={"csrf_token": token, "identifiant": login_id, "mot_de_passe": "devine-123456"}
        ).status_code
        for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429]


def test_forms_refuse_bodies_over_16_kib_with_413(web: TestClient[Any], runtime: Runtime) -> None:
    token = csrf(web.get("/connexion").text)
    padding = "x" * (100 * 1024)
    for path in ("/connexion", "/activation", "/mot-de-passe-oublie", "/identifiant-oublie"):
        answer = web.post(path, data={"csrf_token": token, "identifiant": padding})
        assert answer.status_code == 413, path
    # A form of ordinary size still gets through to its checks.
    assert web.post("/connexion", data={"csrf_token": token, "identifiant": "ABCDE23456"}).status_code == 401
    with unit_of_work(runtime.sessions) as db:
        assert db.execute(select(JournalEntry).where(JournalEntry.reason == "unknown-identifier")).first()
