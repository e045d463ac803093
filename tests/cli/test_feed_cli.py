"""`opendmp feed folder DIR`: bundle files dropped in a folder are filed as the establishment's
software client, then moved to done/ or failed/ with their result."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from opendmp.document.models import Document
from opendmp.runtime import Runtime
from tests.cli.test_cli import cli  # noqa: F401 - the fixture
from tests.fhir.test_establishment_feeds import DOCTOR, HOSPITAL, PDF, hospital_with_patients, provide_bundle
from tests.integration.test_software_clients import client_key, jwks_of


def register_client(cli: Any, tmp_path: Path) -> str:  # noqa: F811
    keys = tmp_path / "jwks.json"
    keys.write_text(jwks_of(client_key()), encoding="utf-8")
    added = cli(
        "client", "add", "--finess", HOSPITAL, "--name", "DPI du CHU", "--jwks", str(keys),
        "--scope", "dmp:alimentation",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    return str(added.stdout.strip())


def documents(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(session.execute(select(func.count()).select_from(Document)).scalar_one())


def drop(folder: Path, name: str, content: Any) -> None:
    text = content if isinstance(content, str) else json.dumps(content)
    (folder / name).write_text(text, encoding="utf-8")


def test_the_folder_files_each_bundle_and_moves_it_with_its_result(
    cli: Any,  # noqa: F811
    runtime: Runtime,
    tmp_path: Path,
) -> None:
    (record_id,) = hospital_with_patients(runtime)
    client_id = register_client(cli, tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    drop(inbox, "01-good.json", provide_bundle(record_id, "urn:oid:1.2.250.1.998.1", [PDF], author=DOCTOR.id))
    drop(inbox, "02-broken.json", '{"resourceType": "Bundle", ')
    drop(inbox, "03-no-author.json", provide_bundle(record_id, "urn:oid:1.2.250.1.998.3", [PDF + b"3"]))
    drop(inbox, ".04-being-written.json", "{")
    result = cli("feed", "folder", str(inbox), "--once", "--client", client_id)
    assert result.exit_code == 1, result.stderr
    assert "1 filed, 2 failed" in result.stderr
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["01-good.json", "01-good.result.json"]
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == [
        "02-broken.json",
        "02-broken.result.json",
        "03-no-author.json",
        "03-no-author.result.json",
    ]
    good = json.loads((inbox / "done" / "01-good.result.json").read_text())
    assert good["response"]["status"] == "201 Created"
    assert good["resource"]["type"] == "transaction-response"
    broken = json.loads((inbox / "failed" / "02-broken.result.json").read_text())
    assert broken["response"]["status"] == "400"
    assert broken["response"]["outcome"]["issue"][0]["expression"] == ["file"]
    no_author = json.loads((inbox / "failed" / "03-no-author.result.json").read_text())
    assert no_author["response"]["outcome"]["issue"][0]["expression"] == ["DocumentReference.author"]
    assert [p.name for p in inbox.iterdir() if p.is_file()] == [".04-being-written.json"]
    assert documents(runtime) == 1


def test_a_bundle_left_in_place_by_a_crash_is_filed_again_without_a_duplicate(
    cli: Any,  # noqa: F811
    runtime: Runtime,
    tmp_path: Path,
) -> None:
    (record_id,) = hospital_with_patients(runtime)
    register_client(cli, tmp_path)  # the only active client: --client may be left out
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    bundle = provide_bundle(record_id, "urn:oid:1.2.250.1.998.10", [PDF, PDF + b"b"], author=DOCTOR.id)
    drop(inbox, "a.json", bundle)
    assert cli("feed", "folder", str(inbox), "--once").exit_code == 0
    drop(inbox, "a.json", bundle)  # committed, then the process died before moving the file
    again = cli("feed", "folder", str(inbox), "--once")
    assert again.exit_code == 0, again.stderr
    answer = json.loads((inbox / "done" / "a.result.json").read_text())
    assert answer["response"]["status"] == "200 OK"
    assert documents(runtime) == 2


def test_an_unknown_client_or_a_missing_folder_is_one_clear_line(
    cli: Any,  # noqa: F811
    runtime: Runtime,
    tmp_path: Path,
) -> None:
    hospital_with_patients(runtime)
    unknown = cli("feed", "folder", str(tmp_path), "--once", "--client", str(uuid.uuid4()))
    assert unknown.exit_code == 4 and "no active software client" in unknown.stderr
    none = cli("feed", "folder", str(tmp_path), "--once")
    assert none.exit_code == 2 and "name one with --client" in none.stderr
    missing = cli("feed", "folder", str(tmp_path / "nowhere"), "--once")
    assert missing.exit_code == 2 and "is not a folder" in missing.stderr
