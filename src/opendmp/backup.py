"""Encrypted backups and restores (docs/decisions/0030).

- The main database: SQLite through the online backup API (a consistent copy while the service
  runs), PostgreSQL through `pg_dump --format=custom` / `pg_restore --clean`.
- The key store (wrapped data keys and the deletion ledger): its own backup, `--keystore`, kept on
  a shorter retention than the database's, so a shredded record's key does not outlive it long in
  any copy.
- Every backup file is encrypted with AES-256-GCM under the backup key (OPENDMP_BACKUP_KEY or
  OPENDMP_BACKUP_KEY_FILE; generated once under the data directory outside production), in 1 MiB
  segments, each authenticated with the header, its number and whether it is the last, so a
  reordered, truncated or altered file is refused. Master and signing keys are never in a backup:
  they live only in the environment or key files, and the backup key must differ from the master key.
- A restore replays the deletion ledger before anything serves: the live key store's ledger is
  read first, the database (and the key store, if restored) is put back, then every record the
  ledger lists is erased again in the restored database (and its key destroyed again), so a record
  purged or shredded after the backup stays deleted.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.engine import make_url

from opendmp.config import Settings
from opendmp.kit.errors import DomainError, ErrorKind

MAGIC = b"OPENDMP-BACKUP-1\n"
SEGMENT = 1 << 20


class BackupError(DomainError):
    kind = ErrorKind.INVALID


class BackupKeyMissing(DomainError):
    kind = ErrorKind.INVALID


def backup_key(settings: Settings, master_key: bytes) -> bytes:
    """The 32-byte backup key: environment, key file, or (outside production) generated once."""
    raw_text = os.environ.get("OPENDMP_BACKUP_KEY")
    path = Path(os.environ["OPENDMP_BACKUP_KEY_FILE"]) if os.environ.get("OPENDMP_BACKUP_KEY_FILE") else None
    if raw_text:
        raw = base64.b64decode(raw_text)
    else:
        target = path or settings.keys_dir / "backup.key"
        if not target.exists():
            if settings.is_production or path is not None:
                raise BackupKeyMissing("the backup key is missing: set OPENDMP_BACKUP_KEY or OPENDMP_BACKUP_KEY_FILE")
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(base64.b64encode(os.urandom(32)) + b"\n")
        raw = base64.b64decode(target.read_bytes().strip())
    if len(raw) != 32:
        raise BackupKeyMissing("the backup key must be 32 bytes (base64)")
    if raw == master_key:
        raise BackupKeyMissing("the backup key must not be the master key")
    return raw


# ---------------------------------------------------------------- the encrypted file


def encrypt_file(source: Path, target: Path, key: bytes, header: dict[str, Any]) -> None:
    aead = AESGCM(key)
    head = json.dumps(header, sort_keys=True).encode()
    prefix = os.urandom(8)
    tmp = target.with_name(target.name + ".part")
    with source.open("rb") as plain, tmp.open("wb") as out:
        out.write(MAGIC + struct.pack(">I", len(head)) + head + prefix)
        number = 0
        chunk = plain.read(SEGMENT)
        while True:
            following = plain.read(SEGMENT)
            last = not following
            nonce = prefix + struct.pack(">I", number)
            sealed = aead.encrypt(nonce, chunk, head + struct.pack(">I?", number, last))
            out.write(struct.pack(">I", len(sealed)) + sealed)
            if last:
                break
            chunk, number = following, number + 1
    os.chmod(tmp, 0o600)
    tmp.replace(target)


def decrypt_file(source: Path, target: Path, key: bytes) -> dict[str, Any]:
    aead = AESGCM(key)
    with source.open("rb") as sealed_file, target.open("wb") as out:
        if sealed_file.read(len(MAGIC)) != MAGIC:
            raise BackupError(f"{source} is not an OpenDMP backup", field="backup")
        (length,) = struct.unpack(">I", sealed_file.read(4))
        head = sealed_file.read(length)
        header: dict[str, Any] = json.loads(head)
        prefix = sealed_file.read(8)
        number, last = 0, False
        while not last:
            size_bytes = sealed_file.read(4)
            if len(size_bytes) < 4:
                raise BackupError("the backup is truncated", field="backup")
            (size,) = struct.unpack(">I", size_bytes)
            sealed = sealed_file.read(size)
            nonce = prefix + struct.pack(">I", number)
            for last in (False, True):
                try:
                    out.write(aead.decrypt(nonce, sealed, head + struct.pack(">I?", number, last)))
                    break
                except InvalidTag:
                    continue
            else:
                raise BackupError("the backup does not decrypt: wrong backup key, or altered file", field="backup")
            number += 1
        if sealed_file.read(1):
            raise BackupError("data after the last segment: altered file", field="backup")
    return header


# ---------------------------------------------------------------- databases


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database:
        raise BackupError("an in-memory SQLite database has nothing to back up", field="database")
    return Path(database)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The libpq address without its password, and the environment that carries the password:
    a password in the arguments would be readable by every local user in `ps`."""
    parsed = make_url(url).set(drivername="postgresql")
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return parsed.set(password=None).render_as_string(hide_password=False), env


@contextlib.contextmanager
def _scratch(directory: Path) -> Iterator[Path]:
    """A private temporary file (mode 0600) in the service's own scratch directory (mode 0700,
    under the data directory), always removed. Never beside the backup: the plain dump would sit
    on the backup medium (often remote) if the process were killed before the `finally`."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    fd, name = tempfile.mkstemp(prefix=".opendmp-backup-", dir=directory)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def scratch_directory(settings: Settings) -> Path:
    return Path(settings.data_dir) / "scratch"


def _dump(url: str, into: Path) -> str:
    if url.startswith("sqlite"):
        source = sqlite3.connect(_sqlite_path(url))
        target = sqlite3.connect(into)
        try:
            source.backup(target)  # the online backup API: consistent while writers run
        finally:
            target.close()
            source.close()
        return "sqlite"
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed", field="database")
    address, env = _libpq(url)
    # No shell; the arguments are this service's own settings.
    subprocess.run(  # noqa: S603
        [pg_dump, "--format=custom", "--no-password", f"--file={into}", address],
        check=True,
        capture_output=True,
        env=env,
    )
    return "postgresql"


def _load(url: str, dump: Path, kind: str) -> None:
    if kind == "sqlite":
        if not url.startswith("sqlite"):
            raise BackupError("this backup is of a SQLite database", field="backup")
        source = sqlite3.connect(dump)
        target = sqlite3.connect(_sqlite_path(url))
        try:
            source.backup(target)  # page by page into the live file, under its lock
        finally:
            target.close()
            source.close()
        return
    if not url.startswith("postgresql"):
        raise BackupError("this backup is of a PostgreSQL database", field="backup")
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise BackupError("pg_restore is not installed", field="backup")
    options = ["--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--no-password"]
    address, env = _libpq(url)
    done = subprocess.run(  # noqa: S603 - no shell; the arguments are this service's own settings
        [pg_restore, *options, f"--dbname={address}", str(dump)],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {done.stderr.strip().splitlines()[-1:]}", field="backup")


@dataclass(frozen=True, slots=True)
class BackupMade:
    path: Path
    kind: str
    size: int


def take_backup(url: str, out: Path, key: bytes, *, what: str, now: datetime, scratch: Path) -> BackupMade:
    """Dump `url` (the database or the key store) into the private `scratch` directory and
    write it encrypted to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with _scratch(scratch) as plain:
        kind = _dump(url, plain)
        encrypt_file(plain, out, key, {"what": what, "kind": kind, "taken_at": now.isoformat()})
    return BackupMade(out, kind, out.stat().st_size)


# ---------------------------------------------------------------- restore


@dataclass(frozen=True, slots=True)
class Restored:
    taken_at: str
    records_erased_again: int
    keys_destroyed_again: int


def restore(
    settings: Settings,
    runtime_factory: Any,
    source: Path,
    key: bytes,
    now: datetime,
    *,
    keystore_source: Path | None = None,
) -> Restored:
    """Put the database (and the key store, when given its backup) back, then replay the deletion
    ledger on both before anything serves. The service must be stopped."""
    from opendmp.document.keystore import KeyStore, default_keystore_url
    from opendmp.kit.keys import load_keyring

    keystore_url = settings.keystore_url or default_keystore_url(settings)
    live = KeyStore(keystore_url, load_keyring(settings))
    try:
        ledger = live.export_ledger()  # read before anything is overwritten
    finally:
        live.close()
    url = settings.admin_database_url or settings.resolved_database_url
    scratch = scratch_directory(settings)
    with _scratch(scratch) as plain:
        header = decrypt_file(source, plain, key)
        if header.get("what") != "database":
            raise BackupError("this is not a database backup (a key-store backup?)", field="backup")
        if keystore_source is not None:
            with _scratch(scratch) as keys_plain:
                keys_header = decrypt_file(keystore_source, keys_plain, key)
                if keys_header.get("what") != "keystore":
                    raise BackupError("--keystore: this is not a key-store backup", field="keystore")
                _load(keystore_url, keys_plain, str(keys_header["kind"]))
        _load(url, plain, str(header["kind"]))
    runtime = runtime_factory()
    try:
        keys_again = runtime.vault.keys.replay_deletion_ledger(ledger)
        erased = replay_erasures(runtime, [entry.record_id for entry in ledger], now)
    finally:
        runtime.close()
    return Restored(str(header.get("taken_at")), erased, keys_again)


def replay_erasures(runtime: Any, record_ids: list[uuid.UUID], now: datetime) -> int:
    """Erase again, in a restored database, every record the deletion ledger lists that the backup
    still held (purged after the backup was taken). Journaled on each record's chain."""
    from opendmp.identity.actor import Actor
    from opendmp.journal import service as journal
    from opendmp.kit.db import unit_of_work
    from opendmp.record.models import Record, RecordStatus
    from opendmp.record.service import erase_record_content

    erased = 0
    system = Actor.system("restore")
    for record_id in dict.fromkeys(record_ids):
        with unit_of_work(runtime.sessions) as session:
            record = session.execute(
                select(Record).where(Record.id == record_id).with_for_update()
            ).scalar_one_or_none()
            if record is None or record.status == RecordStatus.PURGED.value:
                continue
            record.status, record.purged_at, record.updated_at = RecordStatus.PURGED.value, now, now
            record.version += 1
            erase_record_content(session, record_id)
            journal.append(
                session,
                system,
                journal.Event("record:purge", "record", str(record_id), reason="replayed-from-deletion-ledger"),
                record_id=record_id,
                at=now,
            )
            erased += 1
    return erased


def verify_restored(runtime: Any, *, workers: int = 1) -> list[str]:
    """The restore drill's checks: every journal chain and checkpoint (as `opendmp audit verify`),
    and every stored document decrypted against its SHA-256. Returns the problems found."""
    from opendmp.document.verify import verify_contents
    from opendmp.journal.checkpoint import trusted_keys
    from opendmp.journal.repository import snapshot
    from opendmp.journal.retention import retention_cutoff
    from opendmp.journal.verify import Verification

    s = runtime.settings
    verification = Verification(
        keys=trusted_keys(runtime.keys.journal_signing_key, s.journal_previous_public_keys),
        redact_before=retention_cutoff(runtime.clock.now(), s.journal_retention_years),
    )
    problems: list[str] = []
    with snapshot(runtime.engine) as connection:
        problems += [
            str(p) for p in verification.run(connection, database_url=s.resolved_database_url, workers=workers)
        ]
    with runtime.sessions() as session:
        problems += list(verify_contents(session, runtime.vault))
    return problems
