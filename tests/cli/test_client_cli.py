"""`opendmp client add|list|revoke`: operators register software clients and revoke them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opendmp.auth.tokens import TokenRefused
from opendmp.runtime import Runtime
from tests.cli.test_cli import cli  # noqa: F401 - the fixture
from tests.integration.test_software_clients import HOSPITAL, assertion, client_key, establishment, form, grant, jwks_of


def test_an_operator_adds_lists_and_revokes_a_client(cli: Any, runtime: Runtime, tmp_path: Path) -> None:  # noqa: F811
    establishment(runtime)
    key = client_key()
    keys_file = tmp_path / "jwks.json"
    keys_file.write_text(jwks_of(key), encoding="utf-8")
    added = cli(
        "client", "add", "--finess", HOSPITAL, "--name", "DPI du CHU", "--jwks", str(keys_file),
        "--scope", "dmp:alimentation", "--scope", "dmp:consultation",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    client_id = added.stdout.strip()  # the id alone on standard output, for scripts
    assert "registered" in added.stderr

    [listed] = json.loads(cli("client", "list", "--json").stdout)
    assert listed["id"] == client_id and listed["finess"] == HOSPITAL and listed["status"] == "active"
    assert listed["scopes"] == ["dmp:alimentation", "dmp:consultation"] and listed["key_ids"] == [key.kid]
    assert client_id in cli("client", "list").stdout

    token = grant(runtime, form(assertion(runtime, client_id, key))).access_token
    revoked = cli("client", "revoke", client_id)
    assert revoked.exit_code == 0, revoked.stderr
    assert json.loads(cli("client", "list", "--json").stdout)[0]["status"] == "revoked"
    with pytest.raises(TokenRefused):
        runtime.verifier.verify(token)


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (("--finess", "750000099"), 4, "no organisation"),
        (("--scope", "dmp:everything"), 2, "unknown scope"),
        (("--jwks", "private"), 2, "private key"),
        (("--jwks", "missing"), 2, "cannot read"),
    ],
)
def test_client_add_refuses_bad_input_with_one_clear_line(
    cli: Any,  # noqa: F811
    runtime: Runtime,
    tmp_path: Path,
    args: tuple[str, str],
    exit_code: int,
    message: str,
) -> None:
    establishment(runtime)
    key = client_key()
    (tmp_path / "public").write_text(jwks_of(key), encoding="utf-8")
    (tmp_path / "private").write_text(json.dumps({"keys": [key.as_dict(private=True)]}), encoding="utf-8")
    options = {"--finess": HOSPITAL, "--name": "LPS", "--jwks": "public", "--scope": "dmp:consultation"}
    options[args[0]] = args[1]
    options["--jwks"] = str(tmp_path / options["--jwks"])
    result = cli("client", "add", *[part for pair in options.items() for part in pair])
    assert result.exit_code == exit_code and result.stdout == ""
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert json.loads(cli("client", "list", "--json").stdout) == []


def test_revoking_an_unknown_client_is_a_clear_error(cli: Any) -> None:  # noqa: F811
    result = cli("client", "revoke", "00000000-0000-4000-8000-000000000000")
    assert result.exit_code == 4 and "no software client" in result.stderr
