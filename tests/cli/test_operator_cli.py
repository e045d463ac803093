"""`opendmp operator add|list|disable`: the accounts of counter agents and operators, who log in
through OpenID Connect; disabling one ends its sessions at once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from opendmp.auth import sessions as login_sessions
from opendmp.auth.account_models import AuthSession, SessionStage
from opendmp.auth.hashing import SystemRandom
from opendmp.auth.staff_models import StaffAccount
from opendmp.identity.actor import Actor
from opendmp.kit.db import unit_of_work
from opendmp.runtime import Runtime
from tests import factories as f
from tests.cli.test_cli import cli  # noqa: F401 - the fixture

ISSUER = "https://staff-idp.example.org"


def test_an_operator_adds_lists_and_disables_staff_accounts(cli: Any, runtime: Runtime) -> None:  # noqa: F811
    f.add_organisation(runtime, "750000099", kind="insurer-office", name="CPAM de Paris")
    env = {"OPENDMP_OIDC_ISSUER": ISSUER}

    operator = cli("operator", "add", "alice", "--subject", "sub-alice", **env)
    agent = cli(
        "operator", "add", "bob", "--subject", "sub-bob", "--role", "counter-agent", "--finess", "750000099", **env
    )

    assert operator.exit_code == 0 and agent.exit_code == 0, operator.stderr + agent.stderr
    listed = {a["name"]: a for a in json.loads(cli("operator", "list", "--json").stdout)}
    assert listed["alice"] | {"id": "", "created_at": ""} == {
        "id": "",
        "name": "alice",
        "role": "operator",
        "status": "active",
        "finess": None,
        "issuer": ISSUER,
        "subject": "sub-alice",
        "created_at": "",
        "disabled_at": None,
    }
    assert (listed["bob"]["role"], listed["bob"]["finess"]) == ("counter-agent", "750000099")

    with unit_of_work(runtime.sessions) as db:
        account = db.execute(select(StaffAccount).where(StaffAccount.name == "alice")).scalar_one()
        login_sessions.start(
            db,
            Actor.operator("alice"),
            SessionStage.AUTHENTICATED,
            runtime.clock.now(),
            login_sessions.SessionPolicy.from_settings(runtime.settings),
            SystemRandom(),
            staff_account_id=account.id,
        )
    disabled = cli("operator", "disable", "alice")

    assert disabled.exit_code == 0 and "1 session(s) ended" in disabled.stderr
    assert json.loads(cli("operator", "list", "--json").stdout)[0]["status"] == "disabled"
    with unit_of_work(runtime.sessions) as db:
        assert db.execute(select(AuthSession.revoked_reason)).scalar_one() == "account-disabled"


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (("carol", "--subject", "s", "--role", "admin"), 2, "operator or counter-agent"),
        (("carol", "--subject", "s", "--role", "counter-agent"), 2, "FINESS"),
        (("carol", "--subject", "s", "--role", "counter-agent", "--finess", "750000098"), 2, "no organisation"),
        (("Carol Smith", "--subject", "s"), 2, "a name has"),
    ],
)
def test_operator_add_refuses_bad_input_with_one_clear_line(
    cli: Any,  # noqa: F811
    args: tuple[str, ...],
    exit_code: int,
    message: str,
) -> None:
    result = cli("operator", "add", *args, OPENDMP_OIDC_ISSUER=ISSUER)
    assert result.exit_code == exit_code and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_same_subject_at_the_same_provider_cannot_have_two_accounts(cli: Any) -> None:  # noqa: F811
    assert cli("operator", "add", "dave", "--subject", "same", OPENDMP_OIDC_ISSUER=ISSUER).exit_code == 0
    again = cli("operator", "add", "erin", "--subject", "same", OPENDMP_OIDC_ISSUER=ISSUER)
    assert again.exit_code != 0 and "already" in again.stderr


def test_disabling_an_unknown_account_is_a_clear_error(cli: Any) -> None:  # noqa: F811
    result = cli("operator", "disable", "nobody")
    assert result.exit_code != 0 and "no staff account" in result.stderr
