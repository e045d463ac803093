"""The watched folder: an establishment drops ITI-65 bundle files (`*.json`, written under another
name then renamed, so that no half-written file is read) into a folder; each is filed through
the same service as the batch endpoint, then moved to `done/` or `failed/` beside its result
(`<name>.result.json`, a batch-response entry). A crash between the commit and the move leaves the
file in place: filed again at the next run, it gets the earlier answer back (idempotent)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from opendmp.auth.clients import get_client, list_clients
from opendmp.auth.models import ClientStatus
from opendmp.document.vault import Vault
from opendmp.establishment import service as feeds
from opendmp.fhir.mhd import ProvideBundle, parse_provide_bundle, result_entry
from opendmp.identity.actor import Actor, ActorKind
from opendmp.kit.errors import DomainError, InvalidInput, NotFound

DONE, FAILED = "done", "failed"
RESULT_SUFFIX = ".result.json"


class UnknownClient(NotFound):
    """No active software client by that id."""


@dataclass(frozen=True, slots=True)
class FeedingClient:
    """The software client the folder files for: its id, organisation and scopes."""

    client_id: str
    finess: str
    scopes: frozenset[str]

    @property
    def actor(self) -> Actor:
        """The client itself, for the batch permission (no professional yet)."""
        return Actor(ActorKind.SOFTWARE, self.client_id, organisation=self.finess, scopes=self.scopes)


def feeding_client(session: Session, actor: Actor, client_id: str | None, now: datetime) -> FeedingClient:
    """The named active client, or the only active one when none is named."""
    if client_id is None:
        active = [c for c in list_clients(session, actor, now) if c.status == ClientStatus.ACTIVE]
        if len(active) != 1:
            raise InvalidInput(f"{len(active)} active software clients: name one with --client", field="--client")
        client_id = str(active[0].id)
    found = get_client(session, client_id)
    if found is None or found[0].status != ClientStatus.ACTIVE:
        raise UnknownClient("no active software client with this id", field="--client")
    client, finess = found
    return FeedingClient(str(client.id), finess, frozenset(client.scopes.split()))


def acting_for(session: Session, client: FeedingClient, parsed: ProvideBundle, act_for: str | None) -> Actor:
    """The software acting for a professional of its organisation: the one named (--act-for), or
    else the first author of the bundle who works there (as a token's act_for is checked)."""
    candidates = [act_for] if act_for else parsed.author_rpps
    for rpps in candidates:
        profession = feeds.member_profession(session, rpps, client.finess)
        if profession is not None:
            return Actor.software(client.client_id, client.finess, rpps, profession, scopes=client.scopes)
    if act_for:
        raise InvalidInput("this professional does not work in the client's organisation", field="--act-for")
    raise InvalidInput(
        "no author of this bundle works in the client's organisation: name the professional with --act-for",
        field="DocumentReference.author",
    )


def pending_files(folder: Path) -> list[Path]:
    """Bundle files waiting, oldest name first; hidden and temporary files are being written."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix == ".json" and not p.name.startswith(".") and not p.name.endswith(RESULT_SUFFIX)
    )


def _read_bundle(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput(f"the file is not JSON: {error}", field="file") from error


def file_bundle(
    sessions: sessionmaker[Session],
    client: FeedingClient,
    path: Path,
    now: datetime,
    vault: Vault,
    *,
    max_size: int,
    act_for: str | None = None,
) -> feeds.BundleResult:
    """File one bundle file, write its result, move it to done/ or failed/."""
    try:
        bundle = _read_bundle(path)
        parsed = parse_provide_bundle(bundle)
        with sessions() as session:
            actor = acting_for(session, client, parsed, act_for)
    except DomainError as error:
        result = feeds.BundleResult(0, error=error)
    else:
        result = feeds.file_one(sessions, actor, 0, bundle, now, vault, max_size=max_size, parsed=parsed)
    target = path.parent / (DONE if result.ok else FAILED)
    target.mkdir(exist_ok=True)
    answer = path.name.removesuffix(".json") + RESULT_SUFFIX
    temporary = target / f".{answer}.tmp"
    temporary.write_text(json.dumps(result_entry(result), indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, target / answer)  # the result first: a moved bundle always has its answer
    os.replace(path, target / path.name)
    return result


def file_folder(
    sessions: sessionmaker[Session],
    client: FeedingClient,
    folder: Path,
    now: Callable[[], datetime],
    vault: Vault,
    *,
    max_size: int,
    act_for: str | None = None,
    on_file: Callable[[Path, feeds.BundleResult], None] | None = None,
    files: list[Path] | None = None,
) -> list[feeds.BundleResult]:
    """File every waiting bundle of the folder once (one journal entry sums the pass up)."""
    feeds.require_feeding(sessions, client.actor, now())
    results = []
    for path in pending_files(folder) if files is None else files:
        result = file_bundle(sessions, client, path, now(), vault, max_size=max_size, act_for=act_for)
        results.append(result)
        if on_file is not None:
            on_file(path, result)
    if results:
        feeds.journal_batch(sessions, client.actor, results, now())
    return results
