"""Professionals, counter agents and operators log in through OpenID Connect, end to end against a
real provider (oidc-provider-mock, in a thread): the portal's button → the provider's page → the
callback with a code → a server-side session → the landing page. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import html
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest
from litestar.testing import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from opendmp.app import create_app
from opendmp.auth import staff
from opendmp.auth.account_models import AuthSession
from opendmp.auth.staff_models import PendingLogin, StaffRole
from opendmp.config import Settings
from opendmp.identity.actor import Actor
from opendmp.journal.models import SYSTEM_CHAIN, JournalEntry
from opendmp.kit.clock import FrozenClock
from opendmp.kit.db import unit_of_work
from opendmp.runtime import Runtime
from opendmp.web.pro_pages import oidc_edge_of
from tests import factories as f
from tests.integration.test_patient_login import a_record
from tests.oidc_provider import Provider, callback_path, query_of, running_provider
from tests.web.test_patient_pages import another_browser, csrf

RPPS = "10000000123"
FINESS = "750000001"
OPERATOR = Actor.operator("cli:test")


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        yield running


@pytest.fixture
def clock() -> FrozenClock:
    # The provider stamps its tokens with the real time: the platform's clock must agree.
    return FrozenClock(datetime.now(UTC))


@pytest.fixture
def settings(settings: Settings, provider: Provider) -> Settings:
    return settings.model_copy(
        update={
            "login_rate_limit": "10000/minute",
            "oidc_issuer": provider.issuer,
            "oidc_client_id": "opendmp-test",
            "oidc_client_secret": SecretStr("client-secret-for-tests"),
            "oidc_scopes": "openid profile",  # the mock releases preferred_username with "profile"
            "oidc_redirect_uri": "https://testserver.local/connexion/pro/retour",
        }
    )


@pytest.fixture
def web(runtime: Runtime) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(runtime=runtime), base_url="https://testserver.local") as client:
        yield client


@pytest.fixture
def doctor(runtime: Runtime, provider: Provider) -> str:
    """A doctor of the directory, working in a pharmacy-less world's first organisation; the
    provider knows them as subject `dr-durand` with 8 + RPPS in preferred_username."""
    f.add_organisation(runtime, FINESS, kind="health-centre", name="Centre de santé")
    f.add_professional(runtime, RPPS, "10", finess=FINESS, family="DURAND", given="Paul")
    provider.set_claims("dr-durand", {"preferred_username": "8" + RPPS, "family_name": "DURAND"})
    return "dr-durand"


def start(web: TestClient[Any], path: str = "/connexion/pro") -> str:
    """Press the login button: the answer sends the browser to the provider."""
    page = web.get(path)
    assert page.status_code == 200
    answer = web.post(path, data={"csrf_token": csrf(page.text)}, follow_redirects=False)
    assert answer.status_code == 303
    return str(answer.headers["location"])


def log_in(web: TestClient[Any], provider: Provider, subject: str, path: str = "/connexion/pro") -> Any:
    back = provider.authorize(start(web, path), subject)
    return web.get(callback_path(back), follow_redirects=False)


def refusals(runtime: Runtime) -> list[str | None]:
    with unit_of_work(runtime.sessions) as db:
        rows = db.execute(
            select(JournalEntry).where(JournalEntry.action == "auth:login", JournalEntry.outcome == "failure")
        ).scalars()
        return [row.reason for row in rows]


def test_a_professional_logs_in_through_the_provider_and_lands_on_their_page(
    web: TestClient[Any], runtime: Runtime, provider: Provider, doctor: str
) -> None:
    authorization = start(web)
    asked = query_of(authorization)
    assert authorization.startswith(provider.issuer + "/oauth2/authorize?")
    assert asked["response_type"] == "code" and asked["client_id"] == "opendmp-test"
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["state"] and asked["nonce"] and asked["state"] != asked["nonce"]
    before = web.cookies.get("__Host-dmp_session")

    answer = web.get(callback_path(provider.authorize(authorization, doctor)), follow_redirects=False)

    assert answer.status_code == 303 and answer.headers["location"] == "/pro"
    session_id = web.cookies.get("__Host-dmp_session")
    assert session_id and session_id != before
    home = web.get("/pro")
    assert home.status_code == 200 and home.headers["cache-control"] == "no-store"
    assert "Paul DURAND" in home.text and RPPS in home.text and FINESS in home.text
    with unit_of_work(runtime.sessions) as db:
        row = db.execute(select(AuthSession).where(AuthSession.revoked_at.is_(None))).scalar_one()
        assert row.actor_kind == "professional" and row.stage == "authenticated"
        assert db.execute(select(PendingLogin)).first() is None  # the state is spent
        logins = db.execute(select(JournalEntry).where(JournalEntry.action == "auth:login")).scalars().all()
    assert [(e.actor_kind, e.actor_id, e.outcome) for e in logins] == [("professional", RPPS, "success")]


def test_the_landing_page_finds_a_patient_by_ins_through_the_policy(
    web: TestClient[Any], runtime: Runtime, provider: Provider, doctor: str
) -> None:
    ins, _ = a_record(runtime)
    log_in(web, provider, doctor)
    page = web.get("/pro")

    found = web.post(
        "/pro",
        data={"csrf_token": csrf(page.text), "ins": ins.value, "systeme": ins.system.value},
        follow_redirects=False,
    )
    nobody = f.make_nir(order=999)
    missing = web.post("/pro", data={"csrf_token": csrf(page.text), "ins": nobody, "systeme": ins.system.value})
    malformed = web.post("/pro", data={"csrf_token": csrf(page.text), "ins": "123", "systeme": ins.system.value})
    forged = web.post("/pro", data={"csrf_token": "forged", "ins": ins.value, "systeme": ins.system.value})

    # Found: on to the record's page, by its random id; the INS travels in the body only.
    assert found.status_code == 303 and found.headers["location"].startswith("/pro/dossier/")
    assert ins.value not in found.headers["location"]
    assert missing.status_code == 200 and "Aucun DMP accessible" in missing.text
    assert malformed.status_code == 400 and "Un NIR a 13 caractères, ou 15 avec sa clé" in malformed.text
    assert forged.status_code == 403
    with unit_of_work(runtime.sessions) as db:
        lookups = db.execute(select(JournalEntry).where(JournalEntry.action == "record:lookup")).scalars().all()
    assert [e.actor_id for e in lookups] == [RPPS]


def test_an_rpps_unknown_to_the_directory_is_refused_and_journaled(
    web: TestClient[Any], runtime: Runtime, provider: Provider
) -> None:
    provider.set_claims("dr-inconnu", {"preferred_username": "810000000999"})

    answer = log_in(web, provider, "dr-inconnu")

    assert answer.status_code == 403 and "Connexion refusée" in answer.text
    assert web.get("/pro").status_code == 401
    assert refusals(runtime) == ["unknown-rpps"]
    with unit_of_work(runtime.sessions) as db:
        entry = db.execute(select(JournalEntry).where(JournalEntry.action == "auth:login")).scalar_one()
    assert entry.chain == SYSTEM_CHAIN and entry.target_id == "10000000999"


def test_an_identity_without_a_national_identifier_is_refused(
    web: TestClient[Any], runtime: Runtime, provider: Provider
) -> None:
    provider.set_claims("someone", {"preferred_username": "someone@example.org"})
    assert log_in(web, provider, "someone").status_code == 403
    assert refusals(runtime) == ["no-national-id"]


def test_a_callback_whose_state_was_not_issued_here_is_refused(
    web: TestClient[Any], runtime: Runtime, provider: Provider, doctor: str
) -> None:
    back = query_of(provider.authorize(start(web), doctor))

    wrong_state = web.get("/connexion/pro/retour?" + urlencode({"code": back["code"], "state": "x" * 43}))

    assert wrong_state.status_code == 400
    assert web.get("/pro").status_code == 401
    assert refusals(runtime) == ["state-unknown"]


def test_a_callback_in_another_browser_is_refused(
    web: TestClient[Any], runtime: Runtime, provider: Provider, doctor: str
) -> None:
    """Login CSRF: an attacker's own code and state, planted in the victim's browser, fail."""
    back = provider.authorize(start(web), doctor)
    with another_browser(web):
        answer = web.get(callback_path(back), follow_redirects=False)
        assert answer.status_code == 400 and "__Host-dmp_session" not in answer.cookies
    assert refusals(runtime) == ["browser-mismatch"]
    assert web.get(callback_path(back), follow_redirects=False).status_code == 400  # and the state is spent


def test_an_id_token_for_another_nonce_is_refused(
    web: TestClient[Any], runtime: Runtime, provider: Provider, doctor: str
) -> None:
    """A code obtained with another authorization request (another nonce) does not log in."""
    authorization = urlsplit(start(web))
    params = query_of(authorization.geturl()) | {"nonce": "a-nonce-this-login-did-not-choose"}
    tampered = urlunsplit(authorization._replace(query=urlencode(params)))

    answer = web.get(callback_path(provider.authorize(tampered, doctor)), follow_redirects=False)

    assert answer.status_code == 401
    assert refusals(runtime) == ["id-token-nonce"]


def test_a_replayed_callback_or_code_is_refused(
    web: TestClient[Any], runtime: Runtime, provider: Provider, doctor: str
) -> None:
    back = provider.authorize(start(web), doctor)
    assert web.get(callback_path(back), follow_redirects=False).status_code == 303

    replayed = web.get(callback_path(back), follow_redirects=False)
    fresh_state = query_of(start(web))["state"]
    old_code = web.get(
        "/connexion/pro/retour?" + urlencode({"code": query_of(back)["code"], "state": fresh_state}),
        follow_redirects=False,
    )

    assert replayed.status_code == 400
    assert old_code.status_code == 401  # the provider refuses a code used once
    assert refusals(runtime) == ["state-unknown", "code-refused"]


def test_an_id_token_from_another_issuer_is_refused(
    web: TestClient[Any], runtime: Runtime, provider: Provider, doctor: str
) -> None:
    """The same provider reached under another name signs its tokens as another issuer (its `iss`
    follows the host asked): a valid signature does not make up for the wrong `iss`."""
    authorization = start(web)
    rp = oidc_edge_of(_request(web)).parties["professional"]
    known = rp.discovery()
    other = known.token_endpoint.replace("127.0.0.1", "localhost")
    rp._discovery = (time.monotonic(), dataclasses.replace(known, token_endpoint=other))

    answer = web.get(callback_path(provider.authorize(authorization, doctor)), follow_redirects=False)

    assert answer.status_code == 401
    assert refusals(runtime) == ["id-token-iss"]


def _request(web: TestClient[Any]) -> Any:
    class _Request:
        app = web.app

    return _Request()


def add_staff(runtime: Runtime, provider: Provider, name: str, role: StaffRole, finess: str | None = None) -> None:
    with unit_of_work(runtime.sessions) as db:
        staff.add_staff(
            db, OPERATOR, staff.StaffIn(name, f"sub-{name}", provider.issuer, role, finess), runtime.clock.now()
        )


def test_an_operator_lands_on_the_operator_page_which_a_professional_cannot_open(
    web: TestClient[Any], runtime: Runtime, provider: Provider, doctor: str
) -> None:
    add_staff(runtime, provider, "alice", StaffRole.OPERATOR)

    answer = log_in(web, provider, "sub-alice", "/connexion/agent")

    assert answer.status_code == 303 and answer.headers["location"] == "/operateur"
    page = web.get("/operateur")
    assert page.status_code == 200 and "Accès d&#39;urgence à examiner : 0" in page.text
    assert web.get("/pro").status_code == 403  # another profile's page
    with another_browser(web):
        log_in(web, provider, doctor)
        assert web.get("/operateur").status_code == 403
    with unit_of_work(runtime.sessions) as db:
        denied = db.execute(select(JournalEntry).where(JournalEntry.outcome == "denied")).scalars().all()
    assert [(e.actor_id, e.action) for e in denied] == [(RPPS, "emergency:review")]


def test_a_counter_agent_lands_on_the_counter_page_with_their_office(
    web: TestClient[Any], runtime: Runtime, provider: Provider
) -> None:
    f.add_organisation(runtime, "750000099", kind="insurer-office", name="CPAM de Paris")
    add_staff(runtime, provider, "bob", StaffRole.COUNTER_AGENT, "750000099")

    answer = log_in(web, provider, "sub-bob", "/connexion/agent")

    assert answer.headers["location"] == "/guichet"
    assert "750000099" in web.get("/guichet").text


def test_a_professional_subject_without_a_staff_account_cannot_log_in_as_staff(
    web: TestClient[Any], runtime: Runtime, provider: Provider, doctor: str
) -> None:
    assert log_in(web, provider, doctor, "/connexion/agent").status_code == 403
    assert refusals(runtime) == ["unknown-subject"]


def test_disabling_an_operator_ends_their_sessions_and_their_logins(
    web: TestClient[Any], runtime: Runtime, provider: Provider
) -> None:
    add_staff(runtime, provider, "carol", StaffRole.OPERATOR)
    log_in(web, provider, "sub-carol", "/connexion/agent")
    assert web.get("/operateur").status_code == 200

    with unit_of_work(runtime.sessions) as db:
        _, ended = staff.disable_staff(db, OPERATOR, "carol", runtime.clock.now())

    assert ended == 1
    assert web.get("/operateur").status_code == 401
    assert log_in(web, provider, "sub-carol", "/connexion/agent").status_code == 403
    assert refusals(runtime) == ["account-disabled"]


def test_logout_revokes_the_session_and_ends_the_providers_session(
    web: TestClient[Any], runtime: Runtime, provider: Provider, doctor: str
) -> None:
    log_in(web, provider, doctor)
    page = web.get("/pro")

    answer = web.post("/deconnexion/pro", data={"csrf_token": csrf(page.text)}, follow_redirects=False)

    # The answer sends the browser on to the provider (a refresh and a link, not a redirect that
    # the form's CSP form-action would block).
    assert answer.status_code == 200
    found = re.search(r'<a id="fin-session" href="([^"]+)"', answer.text)
    assert found is not None and f'content="0;url={found.group(1)}"' in answer.text
    end_session = html.unescape(found.group(1))
    assert end_session.startswith(provider.issuer + "/oauth2/end_session?")
    assert query_of(end_session)["client_id"] == "opendmp-test"
    assert web.get("/pro").status_code == 401
    with unit_of_work(runtime.sessions) as db:
        row = db.execute(select(AuthSession)).scalar_one()
    assert row.revoked_reason == "logout"


def test_without_a_configured_provider_the_login_page_says_so(runtime: Runtime, settings: Settings) -> None:
    bare = dataclasses.replace(runtime, settings=settings.model_copy(update={"oidc_issuer": None}))
    with TestClient(app=create_app(runtime=bare), base_url="https://testserver.local") as client:
        assert client.get("/connexion/pro").status_code == 503
