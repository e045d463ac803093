"""Refusals before anyone is identified (bad bearer tokens, refused token requests, forged forms
and made-up session ids) count per source address: past the limit they answer 429 with
Retry-After and write nothing, so a flood cannot grow the system journal chain at will. A 401
says why in RFC 6750 terms."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from opendmp.app import create_app
from opendmp.auth.tokens import issue_token
from opendmp.config import Settings
from opendmp.identity.actor import Actor
from opendmp.journal.models import JournalEntry
from opendmp.kit.db import unit_of_work
from opendmp.runtime import Runtime

LIMIT = 5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"login_rate_limit": f"{LIMIT}/minute"})


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(runtime=runtime), base_url="https://testserver.local") as test_client:
        yield test_client


def journaled(runtime: Runtime, action: str) -> int:
    with unit_of_work(runtime.sessions) as db:
        return int(db.execute(select(func.count()).where(JournalEntry.action == action)).scalar_one())


def test_a_flood_of_bad_bearer_tokens_gets_429_and_at_most_the_limits_journal_entries(
    client: TestClient[Any], runtime: Runtime
) -> None:
    answers = [
        client.get("/fhir/Patient?identifier=x", headers={"Authorization": f"Bearer forged.token.{n}"})
        for n in range(3 * LIMIT)
    ]
    assert [a.status_code for a in answers] == [401] * LIMIT + [429] * (2 * LIMIT)
    assert all(int(a.headers["retry-after"]) >= 1 for a in answers[LIMIT:])
    assert answers[-1].json()["issue"][0]["code"] == "throttled"
    assert journaled(runtime, "auth:bearer") == LIMIT


def test_a_flood_of_refused_token_requests_gets_429_and_at_most_the_limits_journal_entries(
    client: TestClient[Any], runtime: Runtime
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": "not.a.jws",
        "act_for": "810000000002",
    }
    answers = [client.post("/oauth/token", data=form) for _ in range(3 * LIMIT)]
    assert [a.status_code for a in answers] == [401] * LIMIT + [429] * (2 * LIMIT)
    assert int(answers[-1].headers["retry-after"]) >= 1 and answers[-1].headers["cache-control"] == "no-store"
    assert journaled(runtime, "auth:token") == LIMIT


def test_a_flood_of_forged_forms_and_session_ids_gets_429_and_at_most_the_limits_journal_entries(
    client: TestClient[Any], runtime: Runtime
) -> None:
    forms = [client.post("/connexion", data={"csrf_token": "forged"}) for _ in range(2 * LIMIT)]
    assert [a.status_code for a in forms] == [403] * LIMIT + [429] * LIMIT
    sessions = []
    for n in range(2 * LIMIT):
        client.cookies.set("__Host-dmp_session", f"made-up-{n}", domain="testserver.local")
        sessions.append(client.get("/mon-dossier"))
    assert [a.status_code for a in sessions] == [401] * LIMIT + [429] * LIMIT
    assert "retry-after" in sessions[-1].headers
    assert journaled(runtime, "auth:csrf") == LIMIT and journaled(runtime, "auth:session") == LIMIT


def test_a_bad_or_expired_token_is_told_invalid_token_and_a_missing_one_only_bearer(
    client: TestClient[Any], runtime: Runtime
) -> None:
    expired = issue_token(runtime.keys, Actor.professional("10000000002", "10"), dev=True, now=time.time() - 86400)
    for token in ("forged.token.value", expired):
        answer = client.get("/fhir/Patient?identifier=x", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == 'Bearer realm="opendmp", error="invalid_token"'
    missing = client.get("/fhir/Patient?identifier=x")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == 'Bearer realm="opendmp"'
