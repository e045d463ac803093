"""A logged-in patient's account pages through the real app, on SQLite and PostgreSQL: a TOTP
app replaces the code sent at login once its first code is confirmed; the holder delegates
reading their record to a caregiver and takes it back; both are journaled."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from opendmp.app import create_app
from opendmp.auth.account_models import Delegation, PatientAccount
from opendmp.config import Settings
from opendmp.identity.ins import Ins
from opendmp.journal.models import JournalEntry
from opendmp.journal.service import chain_of
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.notify.models import OutboxMessage
from opendmp.runtime import Runtime
from tests.integration.test_patient_login import a_record
from tests.web.test_patient_pages import PASSWORD, activate_in_browser, another_browser, csrf, log_in, post_form


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"login_rate_limit": "10000/minute"})


@pytest.fixture
def web(runtime: Runtime) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(runtime=runtime), base_url="https://testserver.local") as client:
        yield client


def logged_in(web: TestClient[Any], runtime: Runtime, order: int | None = None) -> tuple[Ins, uuid.UUID, str]:
    ins, record_id = a_record(runtime, order)
    login_id = activate_in_browser(web, runtime, ins, record_id)
    log_in(web, runtime, login_id, record_id)
    return ins, record_id, login_id


def journaled(runtime: Runtime, action: str) -> list[JournalEntry]:
    with unit_of_work(runtime.sessions) as db:
        return list(db.execute(select(JournalEntry).where(JournalEntry.action == action)).scalars())


def outbox_size(runtime: Runtime) -> int:
    with unit_of_work(runtime.sessions) as db:
        return int(db.execute(select(func.count()).select_from(OutboxMessage)).scalar_one())


def enrol_totp(web: TestClient[Any]) -> pyotp.TOTP:
    page = post_form(web, "/mon-compte/application", {"mot_de_passe": PASSWORD})
    assert page.status_code == 200, page.text
    secret = re.search(r'<code id="secret">([A-Z2-7-]+)</code>', page.text)
    uri = re.search(r'<code id="otpauth"[^>]*>([^<]+)</code>', page.text)
    assert secret is not None and uri is not None
    seed = secret.group(1).replace("-", "")
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{1,4})+", secret.group(1))  # grouped by four
    assert uri.group(1).startswith("otpauth://totp/") and f"secret={seed}" in uri.group(1)
    return pyotp.TOTP(seed)


def test_a_confirmed_totp_app_replaces_the_code_sent_at_login(
    web: TestClient[Any], runtime: Runtime, clock: FrozenClock
) -> None:
    _, record_id, login_id = logged_in(web, runtime)
    totp = enrol_totp(web)
    answer = post_form(
        web, "/mon-compte/application/confirmer", {"code": totp.at(clock.now())}, page="/mon-compte/application"
    )
    assert answer.status_code == 200 and "Votre application est enregistrée" in answer.text
    assert [e.reason for e in journaled(runtime, "auth:totp")] == ["enrolled"]
    post_form(web, "/deconnexion", {}, page="/mon-dossier")
    clock.advance(timedelta(seconds=30))  # a TOTP code works once: the next login takes the next one
    sent = outbox_size(runtime)
    answer = post_form(web, "/connexion", {"identifiant": login_id, "mot_de_passe": PASSWORD})
    assert answer.headers["location"] == "/connexion/code"
    assert outbox_size(runtime) == sent  # nothing sent: the app gives the code
    answer = post_form(web, "/connexion/code", {"code": totp.at(clock.now())})
    assert answer.status_code == 303 and answer.headers["location"] == "/mon-dossier"
    assert record_id is not None


def test_a_totp_app_counts_only_once_its_first_code_is_confirmed(
    web: TestClient[Any], runtime: Runtime, clock: FrozenClock
) -> None:
    logged_in(web, runtime)
    totp = enrol_totp(web)
    wrong = f"{(int(totp.at(clock.now())) + 1) % 1_000_000:06d}"
    answer = post_form(web, "/mon-compte/application/confirmer", {"code": wrong}, page="/mon-compte/application")
    assert answer.status_code == 401
    with unit_of_work(runtime.sessions) as db:
        assert db.execute(select(PatientAccount.second_factor)).scalar_one() == "sms"
    assert [e.reason for e in journaled(runtime, "auth:login")][-1] == "wrong-code"


def test_a_new_totp_secret_is_shown_only_after_the_password_is_typed_again(
    web: TestClient[Any], runtime: Runtime
) -> None:
    logged_in(web, runtime)
    for typed in ({}, {"mot_de_passe": "pas-le-bon-mot-de-passe"}):
        answer = post_form(web, "/mon-compte/application", typed)
        assert answer.status_code == 401 and "Mot de passe incorrect" in answer.text
        assert 'id="secret"' not in answer.text
    with unit_of_work(runtime.sessions) as db:
        account = db.execute(select(PatientAccount)).scalar_one()
        assert (account.totp_sealed, account.second_factor) == (None, "sms")
    assert [e.reason for e in journaled(runtime, "auth:totp")] == ["wrong-password", "wrong-password"]
    enrol_totp(web)  # with the password, the secret is shown


def test_account_pages_need_a_session(web: TestClient[Any]) -> None:
    for path in ("/mon-compte/application", "/mon-compte/delegations"):
        assert web.get(path).status_code == 401


def test_account_forms_without_csrf_token_are_refused(web: TestClient[Any], runtime: Runtime) -> None:
    logged_in(web, runtime)
    for path in ("/mon-compte/application", "/mon-compte/delegations", "/mon-compte/delegations/retirer"):
        assert web.post(path, data={"csrf_token": "forged"}).status_code == 403


def test_the_holder_delegates_to_a_caregiver_and_takes_it_back(web: TestClient[Any], runtime: Runtime) -> None:
    helper_ins, helper_record, helper_login = logged_in(web, runtime, order=201)
    post_form(web, "/deconnexion", {}, page="/mon-dossier")
    with another_browser(web):
        _, record_id, _ = logged_in(web, runtime, order=202)
        page = web.get("/mon-compte/delegations")
        assert page.status_code == 200 and "Aucune délégation" in page.text
        answer = web.post(
            "/mon-compte/delegations",
            data={"csrf_token": csrf(page.text), "dossier": str(record_id), "nir": helper_ins.value, "nom": "Aide"},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        assert "AIDE" in web.get("/mon-compte/delegations").text
    assert [e.chain for e in journaled(runtime, "delegation:grant")] == [chain_of(record_id)]
    # The caregiver, with their own login, now reads the holder's record.
    log_in(web, runtime, helper_login, helper_record)
    assert "délégation" in web.get("/mon-dossier").text
    post_form(web, "/deconnexion", {}, page="/mon-dossier")
    with another_browser(web):
        log_in(web, runtime, _login_of(runtime, record_id), record_id)
        page = web.get("/mon-compte/delegations")
        delegation = re.search(r'name="delegation" value="([^"]+)"', page.text)
        assert delegation is not None
        answer = web.post(
            "/mon-compte/delegations/retirer",
            data={"csrf_token": csrf(page.text), "dossier": str(record_id), "delegation": delegation.group(1)},
            follow_redirects=False,
        )
        assert answer.status_code == 303
    assert [e.chain for e in journaled(runtime, "delegation:revoke")] == [chain_of(record_id)]
    log_in(web, runtime, helper_login, helper_record)
    assert "délégation" not in web.get("/mon-dossier").text


def _login_of(runtime: Runtime, record_id: uuid.UUID) -> str:
    with unit_of_work(runtime.sessions) as db:
        return db.execute(select(PatientAccount.login_id).where(PatientAccount.record_id == record_id)).scalar_one()


def test_a_caregivers_nir_with_a_wrong_key_is_refused(web: TestClient[Any], runtime: Runtime) -> None:
    helper_ins, _ = a_record(runtime, order=203)
    _, record_id, _ = logged_in(web, runtime, order=204)
    wrong_key = helper_ins.value[:13] + f"{(int(helper_ins.value[13:]) % 97) + 1:02d}"
    page = web.get("/mon-compte/delegations")
    answer = web.post(
        "/mon-compte/delegations",
        data={"csrf_token": csrf(page.text), "dossier": str(record_id), "nir": wrong_key, "nom": "Aide"},
    )
    assert answer.status_code == 400 and "clé comprise" in answer.text
    with unit_of_work(runtime.sessions) as db:
        assert db.execute(select(Delegation)).first() is None
