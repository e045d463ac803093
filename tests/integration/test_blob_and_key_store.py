"""Key store and blob stores: per-record keys, crypto-shredding that survives a restore, rotation
while running, durable private blobs, no plain text on disk, orphan sweeping, S3 via moto."""

from __future__ import annotations

import base64
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opendmp.config import Settings
from opendmp.document.blobstore import (
    BlobNotFound,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    blob_key,
    make_blob_store,
    sweep_orphans,
)
from opendmp.document.crypto import ContentIntegrityError, decrypt, encrypt
from opendmp.document.keystore import (
    DataKeyMissing,
    KeyDestroyed,
    KeyStore,
    LedgerEntry,
    UnknownMasterKey,
    make_key_store,
)
from opendmp.kit.keys import Keyring, load_keyring, master_key_id

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
MASTER_A, MASTER_B, MASTER_C = (bytes([n]) * 32 for n in (1, 2, 3))
SENTINEL = b"PLAINTEXT-SENTINEL-Compte-rendu-operatoire-"


def keystore_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "keystore" / "keystore.sqlite3"


def open_store(path: Path, keyring: Keyring) -> KeyStore:
    return KeyStore(keystore_url(path), keyring)


def store_document(keys: KeyStore, blobs: BlobStore, record: uuid.UUID, content: bytes) -> tuple[str, uuid.UUID]:
    document = uuid.uuid4()
    key = blob_key(record, document, 1)
    stream = encrypt(keys.data_key_for(record, create=True), document, record, [content])
    blobs.put(key, stream)
    return key, document


def read_document(keys: KeyStore, blobs: BlobStore, record: uuid.UUID, document: uuid.UUID, key: str) -> bytes:
    return b"".join(decrypt(keys.data_key_for(record, create=False), document, record, blobs.get(key)))


# ---------------------------------------------------------------- key store


def test_a_record_keeps_one_data_key_and_records_do_not_share_keys(store_path: Path) -> None:
    store = open_store(store_path, Keyring.of(MASTER_A))
    first, second = uuid.uuid4(), uuid.uuid4()
    key = store.data_key_for(first, create=True)
    assert len(key) == 32
    assert store.data_key_for(first, create=False) == key == store.data_key_for(first, create=True)
    assert store.data_key_for(second, create=True) != key
    reopened = open_store(store_path, Keyring.of(MASTER_A))
    assert reopened.data_key_for(first, create=False) == key
    with pytest.raises(DataKeyMissing):
        reopened.data_key_for(uuid.uuid4(), create=False)
    store.close()
    reopened.close()


def test_concurrent_first_uses_of_a_record_agree_on_one_key(store_path: Path) -> None:
    store = open_store(store_path, Keyring.of(MASTER_A))
    record = uuid.uuid4()
    keys: list[bytes] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        keys.append(store.data_key_for(record, create=True))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    store.close()


def test_the_key_store_file_is_private_and_in_its_own_folder_by_default(tmp_path: Path) -> None:
    store = make_key_store(Settings(data_dir=tmp_path), Keyring.of(MASTER_A))
    store.data_key_for(uuid.uuid4(), create=True)
    path = tmp_path / "keystore" / "keystore.sqlite3"
    assert path.exists()
    assert path.stat().st_mode & 0o077 == 0
    assert (tmp_path / "keystore").stat().st_mode & 0o077 == 0
    store.close()


def test_destroying_a_data_key_makes_the_record_content_unreadable(tmp_path: Path, store_path: Path) -> None:
    keys, blobs = open_store(store_path, Keyring.of(MASTER_A)), LocalBlobStore(tmp_path / "blobs")
    record, other = uuid.uuid4(), uuid.uuid4()
    key, document = store_document(keys, blobs, record, b"compte rendu")
    other_key, other_document = store_document(keys, blobs, other, b"autre dossier")
    assert keys.destroy(record, "record closed and purged", NOW)
    assert not keys.destroy(record, "again", NOW)
    with pytest.raises(KeyDestroyed):
        read_document(keys, blobs, record, document, key)
    with pytest.raises(KeyDestroyed):
        keys.data_key_for(record, create=True)  # a shredded record never gets a new key
    with pytest.raises(KeyDestroyed):
        open_store(store_path, Keyring.of(MASTER_A)).data_key_for(record, create=False)  # another process
    assert read_document(keys, blobs, other, other_document, other_key) == b"autre dossier"
    assert keys.export_ledger() == [LedgerEntry(record, NOW, "record closed and purged")]
    keys.close()


def test_a_destroyed_wrapped_key_leaves_no_trace_in_the_key_store_files(store_path: Path) -> None:
    store = open_store(store_path, Keyring.of(MASTER_A))
    record = uuid.uuid4()
    store.data_key_for(record, create=True)
    with sqlite3.connect(store_path) as raw:
        (wrapped,) = raw.execute("SELECT wrapped_key FROM data_key").fetchone()
    raw.close()
    store.destroy(record, "purge", NOW)
    for path in store_path.parent.iterdir():
        assert wrapped not in path.read_bytes(), path.name
    store.close()


def test_replaying_the_ledger_after_restoring_an_older_key_store_destroys_the_keys_again(
    tmp_path: Path, store_path: Path
) -> None:
    keys, blobs = open_store(store_path, Keyring.of(MASTER_A)), LocalBlobStore(tmp_path / "blobs")
    shredded, kept = uuid.uuid4(), uuid.uuid4()
    key, document = store_document(keys, blobs, shredded, b"to be shredded")
    store_document(keys, blobs, kept, b"kept")
    backup_path = tmp_path / "backup.sqlite3"
    with sqlite3.connect(store_path) as live, sqlite3.connect(backup_path) as backup:
        live.backup(backup)  # the nightly backup, taken while the service runs
    live.close()
    backup.close()
    keys.destroy(shredded, "patient request", NOW)
    never_stored = uuid.uuid4()  # destroyed after the backup, before it ever had a key
    keys.destroy(never_stored, "closed empty", NOW)
    ledger = keys.export_ledger()  # kept apart, on its own retention
    keys.close()

    for suffix in ("", "-wal", "-shm"):
        Path(f"{store_path}{suffix}").unlink(missing_ok=True)
    backup_path.rename(store_path)
    restored = open_store(store_path, Keyring.of(MASTER_A))
    assert read_document(restored, blobs, shredded, document, key) == b"to be shredded"  # the danger

    assert restored.replay_deletion_ledger(ledger) == 2
    with pytest.raises(KeyDestroyed):
        read_document(restored, blobs, shredded, document, key)
    with pytest.raises(KeyDestroyed):
        restored.data_key_for(never_stored, create=True)
    assert restored.data_key_for(kept, create=False)
    assert restored.export_ledger() == ledger
    assert restored.replay_deletion_ledger(ledger) == 0  # idempotent
    restored.close()


def test_rotation_rewraps_every_key_under_the_new_master_key_and_old_content_still_decrypts(
    tmp_path: Path, store_path: Path
) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    old = open_store(store_path, Keyring.of(MASTER_A))
    records = [uuid.uuid4() for _ in range(250)]  # more than one rotation batch
    stored = {}
    for record in records[:3]:
        stored[record] = store_document(old, blobs, record, f"document of {record}".encode())
    for record in records[3:]:
        old.data_key_for(record, create=True)
    old.destroy(records[-1], "purge", NOW)

    rotating = open_store(store_path, Keyring.of(MASTER_B, (MASTER_A,)))
    reader_with_old_key_only = open_store(store_path, Keyring.of(MASTER_A))
    record0 = records[0]
    key0, document0 = stored[record0]
    assert read_document(reader_with_old_key_only, blobs, record0, document0, key0)  # before rotation
    assert rotating.rotate(NOW) == 249
    assert rotating.rotate(NOW) == 0
    with sqlite3.connect(store_path) as raw:
        ids = {row[0] for row in raw.execute("SELECT master_key_id FROM data_key WHERE wrapped_key IS NOT NULL")}
    raw.close()
    assert ids == {master_key_id(MASTER_B)}

    new_only = open_store(store_path, Keyring.of(MASTER_B))
    new_only.check_keyring()
    for record, (key, document) in stored.items():
        assert read_document(new_only, blobs, record, document, key) == f"document of {record}".encode()
    with pytest.raises(UnknownMasterKey, match=master_key_id(MASTER_B)):
        reader_with_old_key_only.data_key_for(record0, create=False)
    for store in (old, rotating, reader_with_old_key_only, new_only):
        store.close()


def test_a_key_store_opened_with_the_wrong_master_key_fails_clearly(store_path: Path) -> None:
    store = open_store(store_path, Keyring.of(MASTER_A))
    record = uuid.uuid4()
    store.data_key_for(record, create=True)
    wrong = open_store(store_path, Keyring.of(MASTER_C))
    with pytest.raises(UnknownMasterKey, match=f"master key id {master_key_id(MASTER_A)}.*OPENDMP_MASTER_KEY"):
        wrong.data_key_for(record, create=False)
    with pytest.raises(UnknownMasterKey, match=master_key_id(MASTER_A)):
        wrong.check_keyring()
    with sqlite3.connect(store_path) as raw:  # the id matches but the wrapped bytes do not unwrap
        raw.execute("UPDATE data_key SET wrapped_key = ?", (os.urandom(40),))
    raw.close()
    with pytest.raises(UnknownMasterKey, match="does not unwrap"):
        store.data_key_for(record, create=False)
    store.close()
    wrong.close()


def test_the_keyring_takes_previous_master_keys_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encode = base64.b64encode
    monkeypatch.setenv("OPENDMP_MASTER_KEY", encode(MASTER_B).decode())
    monkeypatch.setenv("OPENDMP_PREVIOUS_MASTER_KEYS", f"{encode(MASTER_A).decode()}, {encode(MASTER_C).decode()}")
    keyring = load_keyring(Settings(data_dir=tmp_path))
    assert keyring.current_key == MASTER_B and keyring.current_id == master_key_id(MASTER_B)
    assert dict(keyring.keys) == {master_key_id(k): k for k in (MASTER_A, MASTER_B, MASTER_C)}
    assert not (tmp_path / "keys").exists()


# ---------------------------------------------------------------- local blob store


def test_local_blobs_put_get_list_and_delete(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    record = uuid.uuid4()
    key = blob_key(record, uuid.uuid4(), 1)
    assert not blobs.exists(key)
    assert blobs.put(key, [b"abc", b"", b"def"]) == 6
    assert blobs.exists(key)
    assert b"".join(blobs.get(key)) == b"abcdef"
    assert blobs.put(key, [b"xyz"]) == 3  # a retried write replaces
    assert b"".join(blobs.get(key)) == b"xyz"
    other = blob_key(uuid.uuid4(), uuid.uuid4(), 2)
    blobs.put(other, [os.urandom(200_000)])
    assert [k for k, _ in blobs.list(str(record))] == [key]
    listed = dict(blobs.list())
    assert set(listed) == {key, other}
    assert all(abs(modified - datetime.now(UTC)) < timedelta(minutes=1) for modified in listed.values())
    blobs.delete(key)
    blobs.delete(key)
    assert not blobs.exists(key)
    with pytest.raises(BlobNotFound):
        blobs.get(key)
    with pytest.raises(ValueError):
        blobs.put("../escape", [b"x"])


def test_local_blobs_are_private_files(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    old_umask = os.umask(0o022)
    try:
        blobs.put(blob_key(uuid.uuid4(), uuid.uuid4(), 1), [b"ciphertext"])
    finally:
        os.umask(old_umask)
    files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    folders = [p for p in (tmp_path / "blobs").rglob("*") if p.is_dir()]
    assert len(files) == 1
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in files)
    assert all(p.stat().st_mode & 0o077 == 0 for p in folders)


def test_a_failed_write_leaves_neither_a_blob_nor_a_partial_file(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    key = blob_key(uuid.uuid4(), uuid.uuid4(), 1)

    def failing() -> Iterator[bytes]:
        yield b"first part"
        raise OSError("client went away")

    with pytest.raises(OSError, match="went away"):
        blobs.put(key, failing())
    assert not blobs.exists(key)
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []


def test_no_plain_text_of_a_document_lands_anywhere_under_the_data_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    keys = make_key_store(settings, Keyring.of(MASTER_A))
    blobs = make_blob_store(settings)
    record = uuid.uuid4()
    content = SENTINEL * 5000  # about 215 KB, several segments
    key, document = store_document(keys, blobs, record, content)
    data_key = keys.data_key_for(record, create=False)
    assert read_document(keys, blobs, record, document, key) == content
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.parent.parent.parent.name == "blobs" for p in files)
    for path in files:
        raw = path.read_bytes()
        assert SENTINEL[:16] not in raw, path
        assert data_key not in raw, path
    keys.close()


def test_the_sweeper_deletes_only_old_blobs_whose_transaction_never_committed(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    record = uuid.uuid4()
    committed_old, orphan_old, orphan_new = (blob_key(record, uuid.uuid4(), 1) for _ in range(3))
    for key in (committed_old, orphan_old, orphan_new):
        blobs.put(key, [b"ciphertext"])
    an_hour_ago = (NOW - timedelta(hours=1)).timestamp()
    for key in (committed_old, orphan_old):
        path = tmp_path / "blobs" / key[:2] / key
        os.utime(path, (an_hour_ago, an_hour_ago))
    partial = tmp_path / "blobs" / ".partial" / "dead.tmp"
    partial.write_bytes(b"half a blob")
    os.utime(partial, (an_hour_ago, an_hour_ago))
    os.utime(tmp_path / "blobs" / orphan_new[:2] / orphan_new, (NOW.timestamp(), NOW.timestamp()))

    asked: list[str] = []

    def is_committed(key: str) -> bool:
        asked.append(key)
        return key == committed_old

    removed = sweep_orphans(blobs, is_committed, older_than=timedelta(minutes=15), now=NOW)
    assert removed == 2  # the orphan blob and the unfinished write
    assert blobs.exists(committed_old) and blobs.exists(orphan_new)
    assert not blobs.exists(orphan_old) and not partial.exists()
    assert orphan_new not in asked  # too young to judge


def test_the_blob_store_is_chosen_by_its_url(tmp_path: Path) -> None:
    default = make_blob_store(Settings(data_dir=tmp_path))
    assert isinstance(default, LocalBlobStore) and default.root == (tmp_path / "blobs").resolve()
    folder = make_blob_store(Settings(data_dir=tmp_path, blob_url=f"file://{tmp_path}/elsewhere"))
    assert isinstance(folder, LocalBlobStore) and folder.root == (tmp_path / "elsewhere").resolve()
    with pytest.raises(ValueError, match="scheme"):
        make_blob_store(Settings(data_dir=tmp_path, blob_url="ftp://host/x"))


# ---------------------------------------------------------------- S3 (a real moto server)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"opendmp-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto_endpoint)
    client.create_bucket(Bucket=bucket)
    return bucket, client


def test_s3_blobs_round_trip_an_encrypted_document_in_parts(s3: tuple[str, Any], store_path: Path) -> None:
    bucket, client = s3
    blobs = S3BlobStore(bucket, client, prefix="documents")
    keys = open_store(store_path, Keyring.of(MASTER_A))
    record = uuid.uuid4()
    content = os.urandom(9 * 1024 * 1024)  # above boto3's multipart threshold
    key, document = store_document(keys, blobs, record, content)
    assert blobs.exists(key) and not blobs.exists(blob_key(record, uuid.uuid4(), 1))
    assert read_document(keys, blobs, record, document, key) == content
    assert [k for k, _ in blobs.list(str(record))] == [key]
    (stored,) = client.list_objects_v2(Bucket=bucket)["Contents"]
    assert stored["Key"] == f"documents/{key}"
    tampered = bytearray(client.get_object(Bucket=bucket, Key=f"documents/{key}")["Body"].read())
    tampered[-1] ^= 1
    blobs.put(key, [bytes(tampered)])
    with pytest.raises(ContentIntegrityError):
        read_document(keys, blobs, record, document, key)
    blobs.delete(key)
    with pytest.raises(BlobNotFound):
        blobs.get(key)
    keys.close()


def test_s3_orphans_are_swept_and_committed_blobs_kept(s3: tuple[str, Any]) -> None:
    bucket, client = s3
    blobs = S3BlobStore(bucket, client)
    record = uuid.uuid4()
    committed, orphan = blob_key(record, uuid.uuid4(), 1), blob_key(record, uuid.uuid4(), 1)
    assert blobs.put(committed, [b"a" * 10, b"b" * 5]) == 15
    blobs.put(orphan, [b"c"])
    later = datetime.now(UTC) + timedelta(hours=1)
    assert sweep_orphans(blobs, lambda key: key == committed, timedelta(minutes=15), now=datetime.now(UTC)) == 0
    assert sweep_orphans(blobs, lambda key: key == committed, timedelta(minutes=15), now=later) == 1
    assert blobs.exists(committed) and not blobs.exists(orphan)


def test_an_s3_url_selects_the_s3_store_at_the_configured_endpoint(s3: tuple[str, Any], moto_endpoint: str) -> None:
    bucket, _client = s3
    store = make_blob_store(Settings(blob_url=f"s3://{bucket}/tenant-a", s3_endpoint_url=moto_endpoint))
    assert isinstance(store, S3BlobStore)
    key = blob_key(uuid.uuid4(), uuid.uuid4(), 1)
    store.put(key, [b"ciphertext"])
    assert b"".join(store.get(key)) == b"ciphertext"
