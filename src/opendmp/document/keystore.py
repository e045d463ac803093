"""The key store: one AES-256 data key per record, wrapped (RFC 3394) by a master key, and the
deletion ledger. It is a database of its own (default a SQLite file under
$OPENDMP_DATA_DIR/keystore, or OPENDMP_KEYSTORE_URL), backed up on its own retention, never in
the main database's dumps; master keys never enter it (they come from the environment or a key
file, see `opendmp.kit.keys`).

- Crypto-shredding: `destroy` erases a record's wrapped key (SQLite runs with secure_delete and
  the WAL is truncated afterwards) and appends to the deletion ledger; the record's content is
  then unreadable everywhere, blob copies and main-database backups included.
- Restore: a key-store backup older than a destruction would bring the key back; after restoring
  one, replay the ledger exported from the live store (`export_ledger` before,
  `replay_deletion_ledger` after) so every key destroyed since is destroyed again.
- Rotation: `rotate` re-wraps every data key under the current master key, a small transaction
  at a time, while the service runs; each row names the master key id that wrapped it, so readers
  unwrap with whichever key the row names (keep old keys in OPENDMP_PREVIOUS_MASTER_KEYS until
  rotation is done everywhere).

No unwrapped data key is cached: a destruction takes effect at once in every process.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from sqlalchemy import (
    Column,
    Connection,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from opendmp.config import Settings
from opendmp.kit.base import NAMING_CONVENTION, UTCDateTime
from opendmp.kit.clock import Clock, SystemClock
from opendmp.kit.db import is_sqlite, make_engine
from opendmp.kit.errors import DomainError, ErrorKind
from opendmp.kit.keys import Keyring, MissingKey

DATA_KEY_SIZE = 32
ROTATION_BATCH = 100

metadata = MetaData(naming_convention=NAMING_CONVENTION)

data_key = Table(
    "data_key",
    metadata,
    Column("record_id", Uuid(), primary_key=True),
    Column("wrapped_key", LargeBinary(64), nullable=True),  # NULL once destroyed
    Column("master_key_id", String(32), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("wrapped_at", UTCDateTime(), nullable=True),  # last (re-)wrap, for rotation reports
    Column("destroyed_at", UTCDateTime(), nullable=True),
)

deletion_ledger = Table(
    "deletion_ledger",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("record_id", Uuid(), nullable=False, index=True),
    Column("destroyed_at", UTCDateTime(), nullable=False),
    Column("reason", String(500), nullable=False),
)


class KeyDestroyed(DomainError):
    """The record's data key was destroyed: its content is gone for good.

    Kind NOT_FOUND: the content no longer exists for anyone, which every edge already answers
    (a FHIR edge may prefer 410 Gone for it)."""

    kind = ErrorKind.NOT_FOUND


class DataKeyMissing(DomainError):
    """No data key for the record (asked without `create`): it never had content, or the key store
    was restored from a backup older than the record's first document."""

    kind = ErrorKind.NOT_FOUND


class UnknownMasterKey(MissingKey):
    """A wrapped key names a master key this process does not have, or does not unwrap under it.
    A configuration fault (like a missing key at start), not a domain error."""


@dataclass(frozen=True)
class LedgerEntry:
    record_id: uuid.UUID
    destroyed_at: datetime
    reason: str


def default_keystore_url(settings: Settings) -> str:
    if settings.keystore_url:
        return settings.keystore_url
    return f"sqlite:///{(settings.data_dir / 'keystore' / 'keystore.sqlite3').resolve()}"


def make_key_store(settings: Settings, keyring: Keyring, clock: Clock | None = None) -> KeyStore:
    return KeyStore(default_keystore_url(settings), keyring, clock=clock)


class KeyStore:
    """Thread-safe: every call runs in its own short transaction on a pooled connection."""

    def __init__(self, url: str, keyring: Keyring, *, clock: Clock | None = None, pool_size: int = 5) -> None:
        self._keyring = keyring
        self._clock = clock or SystemClock()
        self._sqlite = is_sqlite(url)
        if self._sqlite:
            _prepare_sqlite_file(url)
        self._engine = make_engine(url, pool_size=pool_size)
        if self._sqlite:
            event.listen(self._engine, "connect", _secure_delete)
        self._schema_lock = threading.Lock()
        self._schema_ready = False

    def close(self) -> None:
        self._engine.dispose()

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self._schema_lock:
            if not self._schema_ready:
                metadata.create_all(self._engine)
                self._schema_ready = True

    # ------------------------------------------------------------ data keys

    def data_key_for(self, record_id: uuid.UUID, *, create: bool) -> bytes:
        """The record's data key; with `create`, made on first use. Raises KeyDestroyed once the
        record was shredded (even with `create`: a shredded record gets no new key)."""
        self._ensure_schema()
        for _attempt in range(3):
            try:
                with self._engine.begin() as conn:
                    row = conn.execute(
                        select(data_key.c.wrapped_key, data_key.c.master_key_id, data_key.c.destroyed_at).where(
                            data_key.c.record_id == record_id
                        )
                    ).first()
                    if row is not None:
                        if row.destroyed_at is not None or row.wrapped_key is None:
                            raise KeyDestroyed(f"the content of record {record_id} was destroyed")
                        return self._unwrap(record_id, row.master_key_id, row.wrapped_key)
                    if not create:
                        raise DataKeyMissing(f"record {record_id} has no data key")
                    key = os.urandom(DATA_KEY_SIZE)
                    now = self._clock.now()
                    conn.execute(
                        insert(data_key).values(
                            record_id=record_id,
                            wrapped_key=aes_key_wrap(self._keyring.current_key, key),
                            master_key_id=self._keyring.current_id,
                            created_at=now,
                            wrapped_at=now,
                        )
                    )
                    return key
            except IntegrityError:
                continue  # another process created it first (PostgreSQL): read theirs
        raise RuntimeError(f"could not create the data key of record {record_id}")

    def data_keys_for(self, record_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, bytes]:
        """The data keys of many records, made for those that have none, in one transaction (a
        feed touches thousands of records per batch: one round trip and one fsync, not one per
        record). A shredded record raises KeyDestroyed, as in data_key_for."""
        self._ensure_schema()
        ids = list(dict.fromkeys(record_ids))
        for _attempt in range(3):
            try:
                with self._engine.begin() as conn:
                    found: dict[uuid.UUID, bytes] = {}
                    for start in range(0, len(ids), 5000):
                        rows = conn.execute(
                            select(
                                data_key.c.record_id,
                                data_key.c.wrapped_key,
                                data_key.c.master_key_id,
                                data_key.c.destroyed_at,
                            ).where(data_key.c.record_id.in_(ids[start : start + 5000]))
                        )
                        for row in rows:
                            if row.destroyed_at is not None or row.wrapped_key is None:
                                raise KeyDestroyed(f"the content of record {row.record_id} was destroyed")
                            found[row.record_id] = self._unwrap(row.record_id, row.master_key_id, row.wrapped_key)
                    missing = [record_id for record_id in ids if record_id not in found]
                    if missing:
                        now = self._clock.now()
                        made = {record_id: os.urandom(DATA_KEY_SIZE) for record_id in missing}
                        conn.execute(
                            insert(data_key),
                            [
                                {
                                    "record_id": record_id,
                                    "wrapped_key": aes_key_wrap(self._keyring.current_key, key),
                                    "master_key_id": self._keyring.current_id,
                                    "created_at": now,
                                    "wrapped_at": now,
                                }
                                for record_id, key in made.items()
                            ],
                        )
                        found.update(made)
                    return found
            except IntegrityError:
                continue  # another process created one of them first (PostgreSQL): read again
        raise RuntimeError("could not create the data keys of a batch of records")

    def _unwrap(self, record_id: uuid.UUID, key_id: str, wrapped: bytes) -> bytes:
        master = self._keyring.keys.get(key_id)
        if master is None:
            raise UnknownMasterKey(
                f"the data key of record {record_id} is wrapped by master key id {key_id}, which this process "
                f"does not have (it has {', '.join(sorted(self._keyring.keys))}): set OPENDMP_MASTER_KEY to the "
                "right key, or keep the old one in OPENDMP_PREVIOUS_MASTER_KEYS until rotation is done"
            )
        try:
            return aes_key_unwrap(master, wrapped)
        except InvalidUnwrap:
            raise UnknownMasterKey(
                f"the data key of record {record_id} does not unwrap under master key id {key_id}: "
                "the key store or the master key is corrupt"
            ) from None

    def ping(self) -> None:
        """One cheap read of the key store (readiness): raises if it cannot be read."""
        self._ensure_schema()
        with self._engine.connect() as conn:
            conn.execute(select(data_key.c.master_key_id).limit(1)).first()

    def check_keyring(self) -> None:
        """Fails at start, not at the first read, when a wrapping master key is missing."""
        self._ensure_schema()
        with self._engine.begin() as conn:
            used = set(
                conn.execute(select(data_key.c.master_key_id).where(data_key.c.master_key_id.is_not(None)).distinct())
                .scalars()
                .all()
            )
        missing = sorted(used - set(self._keyring.keys))
        if missing:
            raise UnknownMasterKey(
                f"the key store holds data keys wrapped by master key id(s) {', '.join(missing)}, which this "
                f"process does not have (it has {', '.join(sorted(self._keyring.keys))})"
            )

    # ------------------------------------------------------------ shredding

    def destroy(self, record_id: uuid.UUID, reason: str, now: datetime) -> bool:
        """Shreds the record's content: erases its wrapped key and appends to the deletion ledger.
        False when it was already destroyed."""
        self._ensure_schema()
        with self._engine.begin() as conn:
            destroyed = self._destroy(conn, record_id, reason, now)
        if destroyed:
            self._purge_wal()
        return destroyed

    def _destroy(self, conn: Connection, record_id: uuid.UUID, reason: str, at: datetime) -> bool:
        row = conn.execute(select(data_key.c.destroyed_at).where(data_key.c.record_id == record_id)).first()
        if row is not None and row.destroyed_at is not None:
            return False
        if row is None:
            # A tombstone: the record can never get a key again (e.g. a restore predating it).
            conn.execute(insert(data_key).values(record_id=record_id, created_at=at, destroyed_at=at))
        else:
            conn.execute(
                update(data_key)
                .where(data_key.c.record_id == record_id)
                .values(wrapped_key=None, master_key_id=None, destroyed_at=at)
            )
        conn.execute(insert(deletion_ledger).values(record_id=record_id, destroyed_at=at, reason=reason))
        return True

    def _purge_wal(self) -> None:
        """Moves the erased page into the database file and empties the WAL, where the old page
        image (with the wrapped key) would otherwise linger. Best effort: readers may delay it."""
        if not self._sqlite:
            return
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.close()
        finally:
            raw.close()

    def export_ledger(self) -> list[LedgerEntry]:
        self._ensure_schema()
        with self._engine.begin() as conn:
            rows = conn.execute(
                select(deletion_ledger.c.record_id, deletion_ledger.c.destroyed_at, deletion_ledger.c.reason).order_by(
                    deletion_ledger.c.id
                )
            ).all()
        return [LedgerEntry(row.record_id, row.destroyed_at, row.reason) for row in rows]

    def replay_deletion_ledger(self, ledger_rows: Iterable[LedgerEntry]) -> int:
        """After restoring an older key-store backup: destroys again every key the ledger lists
        (and copies the entries this store's ledger lacks). Returns how many keys it destroyed."""
        self._ensure_schema()
        destroyed = 0
        for entry in ledger_rows:
            with self._engine.begin() as conn:
                if self._destroy(conn, entry.record_id, entry.reason, entry.destroyed_at):
                    destroyed += 1
                    continue
                known = conn.execute(
                    select(deletion_ledger.c.id).where(deletion_ledger.c.record_id == entry.record_id).limit(1)
                ).first()
                if known is None:
                    conn.execute(
                        insert(deletion_ledger).values(
                            record_id=entry.record_id, destroyed_at=entry.destroyed_at, reason=entry.reason
                        )
                    )
        if destroyed:
            self._purge_wal()
        return destroyed

    # ------------------------------------------------------------ rotation

    def rotate(self, now: datetime) -> int:
        """Re-wraps every data key not under the current master key; returns how many it did.
        Small transactions, each row updated only if still wrapped as read, so it runs beside
        readers, writers and destructions in other processes."""
        self._ensure_schema()
        current = self._keyring.current_id
        total = 0
        while True:
            with self._engine.begin() as conn:
                rows = conn.execute(
                    select(data_key.c.record_id, data_key.c.wrapped_key, data_key.c.master_key_id)
                    .where(data_key.c.wrapped_key.is_not(None), data_key.c.master_key_id != current)
                    .order_by(data_key.c.record_id)
                    .limit(ROTATION_BATCH)
                ).all()
                if not rows:
                    return total
                for row in rows:
                    key = self._unwrap(row.record_id, row.master_key_id, row.wrapped_key)
                    result = conn.execute(
                        update(data_key)
                        .where(
                            data_key.c.record_id == row.record_id,
                            data_key.c.master_key_id == row.master_key_id,
                            data_key.c.wrapped_key.is_not(None),
                        )
                        .values(
                            wrapped_key=aes_key_wrap(self._keyring.current_key, key),
                            master_key_id=current,
                            wrapped_at=now,
                        )
                    )
                    total += result.rowcount


def _prepare_sqlite_file(url: str) -> None:
    """The key store file and its folder are private (SQLite gives its WAL the file's mode)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)


def _secure_delete(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
