"""The SAMU regulator's role comes from the OpenID Connect login: a configurable claim of the ID
token (default `roles` holding `SAMU_REGULATEUR`) marks the session's professional, end to end
against the real provider (oidc-provider-mock). On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from opendmp.auth.account_models import AuthSession
from opendmp.auth.sessions import actor_from_json
from opendmp.identity.actor import Actor
from opendmp.kit.db import unit_of_work
from opendmp.runtime import Runtime
from tests import factories as f
from tests.oidc_provider import Provider
from tests.web.test_pro_login import FINESS, RPPS, clock, log_in, provider, settings, web

__all__ = ["clock", "provider", "settings", "web"]  # the login tests' fixtures, shared


def session_actor(runtime: Runtime) -> Actor:
    with unit_of_work(runtime.sessions) as db:
        row = db.execute(select(AuthSession).where(AuthSession.revoked_at.is_(None))).scalar_one()
        return actor_from_json(row.actor)


def a_doctor(runtime: Runtime, provider: Provider, subject: str, **claims: Any) -> str:
    f.add_organisation(runtime, FINESS, kind="health-centre", name="SAMU 75")
    f.add_professional(runtime, RPPS, "10", finess=FINESS, family="DURAND", given="Paul")
    provider.set_claims(subject, {"preferred_username": "8" + RPPS, **claims})
    return subject


@pytest.mark.parametrize("roles", [["SAMU_REGULATEUR", "OTHER"], "OTHER SAMU_REGULATEUR"], ids=["list", "string"])
def test_the_id_tokens_role_claim_makes_a_samu_regulator(
    web: TestClient[Any], runtime: Runtime, provider: Provider, roles: Any
) -> None:
    subject = a_doctor(runtime, provider, f"dr-samu-{type(roles).__name__}", roles=roles)
    assert log_in(web, provider, subject).status_code == 303
    actor = session_actor(runtime)
    assert actor.id == RPPS and actor.samu_regulator


def test_without_the_role_a_professional_is_no_samu_regulator(
    web: TestClient[Any], runtime: Runtime, provider: Provider
) -> None:
    subject = a_doctor(runtime, provider, "dr-not-samu", roles=["MEDECIN"])
    assert log_in(web, provider, subject).status_code == 303
    assert not session_actor(runtime).samu_regulator


def test_the_role_claim_and_value_are_configurable(runtime: Runtime, provider: Provider) -> None:
    from litestar.testing import TestClient as Client

    from opendmp.app import create_app
    from opendmp.runtime import build_runtime

    custom = build_runtime(
        runtime.settings.model_copy(update={"oidc_samu_claim": "fonctions", "oidc_samu_value": "regulateur"}),
        runtime.clock,
        pool_size=2,
    )
    try:
        subject = a_doctor(custom, provider, "dr-fonctions", fonctions=["regulateur"], roles=["SAMU_REGULATEUR"])
        with Client(app=create_app(runtime=custom), base_url="https://testserver.local") as browser:
            assert log_in(browser, provider, subject).status_code == 303
        assert session_actor(custom).samu_regulator
    finally:
        custom.close()
