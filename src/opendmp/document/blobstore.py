"""Blob stores for encrypted document content: a local folder (default `$OPENDMP_DATA_DIR/blobs`)
or an S3-compatible bucket. They only ever see ciphertext (`document.crypto` blobs).

Write order: a blob is stored durably BEFORE the caller commits the metadata naming it (local:
temporary file, fsync, rename, fsync of the folder). A crash between the two leaves an orphan
blob, never metadata without content; `sweep_orphans` removes orphans once they are older than any
transaction could last.

Keys look like `<record_id>/<document_id>.<version>`: letters, digits, `.`, `_`, `-`, separated
by `/`, no part starting with a dot.
"""

from __future__ import annotations

import io
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from opendmp.config import Settings
from opendmp.kit.errors import DomainError, ErrorKind

CHUNK_SIZE = 64 * 1024
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]+(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*")
_PARTIAL_DIR = ".partial"


class BlobNotFound(DomainError):
    """No blob under this key. Kind NOT_FOUND; for a document whose metadata is committed it is an
    operator's problem (a lost blob), which the caller says in its own terms."""

    kind = ErrorKind.NOT_FOUND


def blob_key(record_id: object, document_id: object, version: int) -> str:
    return f"{record_id}/{document_id}.{version}"


def check_key(key: str) -> str:
    if len(key) > 500 or not _KEY.fullmatch(key):
        raise ValueError(f"not a valid blob key: {key!r}")
    return key


class BlobStore(Protocol):
    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        """Stores the blob durably (overwriting any blob of that key); returns the bytes written."""
        ...

    def get(self, key: str) -> Iterator[bytes]:
        """The blob in chunks; raises BlobNotFound at once when it does not exist."""
        ...

    def delete(self, key: str) -> None:
        """Removes the blob; no error when it does not exist."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        """Keys starting with `prefix`, with their last modification (UTC)."""
        ...


# ---------------------------------------------------------------- local folder


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """Files of mode 0600 under `root/<first two characters>/<key>`, folders of mode 0700; writes go
    to `root/.partial` first and are renamed into place once on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._partial = self.root / _PARTIAL_DIR
        self._ensure_dir(self._partial)

    def _path(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key

    def _ensure_dir(self, directory: Path) -> None:
        """Creates the missing folders, each made durable in its parent."""
        if directory.is_dir():
            return
        self._ensure_dir(directory.parent)
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            return
        _fsync_dir(directory.parent)

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        target = self._path(key)
        self._ensure_dir(target.parent)
        temporary = self._partial / f"{secrets.token_hex(16)}.tmp"
        written = 0
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)  # whatever the umask
                for chunk in chunks:
                    handle.write(chunk)
                    written += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return written

    def get(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(f"no blob {key}")
        return self._read(path, key)

    @staticmethod
    def _read(path: Path, key: str) -> Iterator[bytes]:
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {key}") from None
        with handle:
            while chunk := handle.read(CHUNK_SIZE):
                yield chunk

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(path.parent)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        if len(prefix) >= 2:
            shards = [self.root / prefix[:2]]
        else:
            shards = sorted(p for p in self.root.iterdir() if p.is_dir() and p.name != _PARTIAL_DIR)
        for shard in shards:
            for folder, dirs, files in os.walk(shard):
                dirs.sort()
                for name in sorted(files):
                    path = Path(folder) / name
                    key = path.relative_to(shard).as_posix()
                    if not key.startswith(prefix):
                        continue
                    try:
                        modified = path.stat().st_mtime
                    except FileNotFoundError:
                        continue  # deleted meanwhile
                    yield key, datetime.fromtimestamp(modified, UTC)

    def sweep_partials(self, older_than: timedelta, now: datetime) -> int:
        """Removes writes that never finished (the process died mid-write)."""
        removed = 0
        for path in self._partial.iterdir():
            try:
                modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except FileNotFoundError:
                continue
            if now - modified >= older_than:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


# ---------------------------------------------------------------- S3


class _ChunkReader(io.RawIOBase):
    """A read-only, non-seekable file over an iterator of chunks, for boto3's upload_fileobj: the
    bytes stay in memory (they are ciphertext anyway), nothing touches the disk."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""
        self.total = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int | None = -1) -> bytes:
        """Exactly `size` bytes unless the end comes first (S3 parts must be full)."""
        wanted = None if size is None or size < 0 else size
        pieces = [self._pending]
        held = len(self._pending)
        while wanted is None or held < wanted:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            pieces.append(chunk)
            held += len(chunk)
        data = b"".join(pieces)
        if wanted is not None and len(data) > wanted:
            data, self._pending = data[:wanted], data[wanted:]
        else:
            self._pending = b""
        self.total += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class S3BlobStore:
    """Blobs as objects of one bucket (optionally under a prefix). S3 acknowledges a PUT once the
    object is durable. Incomplete multipart uploads left by a crash are the bucket's lifecycle
    rule's to clean (AbortIncompleteMultipartUpload)."""

    def __init__(self, bucket: str, client: Any, *, prefix: str = "") -> None:
        from botocore.exceptions import ClientError  # type: ignore[import-untyped]

        self.bucket = bucket
        self._client = client
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client_error: type[Exception] = ClientError

    def _name(self, key: str) -> str:
        return self._prefix + check_key(key)

    def _is_missing(self, error: Exception) -> bool:
        code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
        return code in {"404", "NoSuchKey", "NotFound"}

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        reader = _ChunkReader(chunks)
        self._client.upload_fileobj(reader, self.bucket, self._name(key))
        return reader.total

    def get(self, key: str) -> Iterator[bytes]:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._name(key))
        except self._client_error as error:
            if self._is_missing(error):
                raise BlobNotFound(f"no blob {key}") from None
            raise
        return self._read(response["Body"])

    @staticmethod
    def _read(body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK_SIZE)
        finally:
            body.close()

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._name(key))
        except self._client_error as error:
            if self._is_missing(error):
                return False
            raise
        return True

    def list(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._prefix + prefix):
            for item in page.get("Contents", []):
                modified: datetime = item["LastModified"]
                yield str(item["Key"])[len(self._prefix) :], modified.astimezone(UTC)


# ---------------------------------------------------------------- choosing, sweeping


def make_blob_store(settings: Settings) -> BlobStore:
    """OPENDMP_BLOB_URL: `file:///path`, `s3://bucket[/prefix]` (with OPENDMP_S3_ENDPOINT_URL for
    a store other than AWS; credentials the usual boto3 way), default `$OPENDMP_DATA_DIR/blobs`."""
    if not settings.blob_url:
        return LocalBlobStore(settings.data_dir / "blobs")
    parts = urlsplit(settings.blob_url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError("OPENDMP_BLOB_URL: a file URL names a local folder (file:///path)")
        return LocalBlobStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError("OPENDMP_BLOB_URL: an s3 URL names its bucket (s3://bucket/prefix)")
        import boto3  # type: ignore[import-untyped]

        client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
        return S3BlobStore(parts.netloc, client, prefix=unquote(parts.path))
    raise ValueError(f"OPENDMP_BLOB_URL: unknown scheme {parts.scheme!r} (file:// or s3://)")


def sweep_orphans(store: BlobStore, is_committed: Callable[[str], bool], older_than: timedelta, now: datetime) -> int:
    """Deletes blobs older than `older_than` whose key `is_committed` does not know: writes whose
    metadata transaction never committed. `older_than` must exceed the longest transaction, or a
    blob still being committed could go. Returns how many it deleted (unfinished local writes
    included)."""
    removed = 0
    for key, modified in store.list(""):
        if now - modified >= older_than and not is_committed(key):
            store.delete(key)
            removed += 1
    if isinstance(store, LocalBlobStore):
        removed += store.sweep_partials(older_than, now)
    return removed
