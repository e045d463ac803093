"""Document content encryption: AES-256-GCM in verified segments, streamed in constant memory.

Blob format (version 1), all integers big-endian::

    header   = b"ODMPBLOB" (8 bytes) || version (1 byte, = 1) || segment size S (4 bytes, plaintext bytes)
    segment  = nonce (12 random bytes) || AES-256-GCM(data key, nonce, plaintext, aad) ciphertext || tag (16)
    blob     = header || segment 0 || segment 1 || ... || segment n-1

Every segment but the last holds exactly S plaintext bytes (S = 64 KiB by default); the last holds
0..S bytes, so empty content is one empty last segment. The associated data of segment i binds it
to its place and its document::

    aad = header || document id (16 bytes) || record id (16 bytes) || i (8 bytes) || last flag (1 byte)

A segment is verified before its plaintext is handed out, so readers never see unverified bytes.
Reordered, duplicated or swapped segments fail (index in the aad); a blob cut at a segment
boundary fails (its final segment was sealed with last flag 0); bytes after the last segment,
a changed header, another document's or record's blob, or a wrong key fail the same way. Every
failure raises `ContentIntegrityError`; the stream stops at the first bad segment.

Nonces are random: with one data key per record, the 2^32 messages a random-nonce GCM key may
seal stand for 256 TiB of content per record.

The SHA-256 (and the SHA-1 that XDS metadata carries) of the plain content are computed while
encrypting; read them from the `EncryptedStream` once it is exhausted.
"""

from __future__ import annotations

import hashlib
import os
import struct
import uuid
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opendmp.kit.errors import DomainError, ErrorKind

MAGIC = b"ODMPBLOB"
FORMAT_VERSION = 1
SEGMENT_SIZE = 64 * 1024
MAX_SEGMENT_SIZE = 16 * 1024 * 1024  # bounds what a forged header can make a reader buffer
NONCE_SIZE = 12
TAG_SIZE = 16
SEGMENT_OVERHEAD = NONCE_SIZE + TAG_SIZE
_HEADER = struct.Struct(">8sBI")
HEADER_SIZE = _HEADER.size


class ContentIntegrityError(DomainError):
    """Stored content failed verification: tampered, truncated, misplaced, or the wrong key.

    Kind CONFLICT: the stored bytes contradict what was written (no ErrorKind says "corrupt", and
    none should be added for one case). Edges must not treat it as the caller's fault: it means an
    operator has to look at the blob store. Part of the content may already have been streamed;
    the stream is then cut, never completed with unverified bytes.
    """

    kind = ErrorKind.CONFLICT


def blob_size(plain_size: int, segment_size: int = SEGMENT_SIZE) -> int:
    """The size of the blob holding `plain_size` bytes of content."""
    segments = max(1, -(-plain_size // segment_size))
    return HEADER_SIZE + segments * SEGMENT_OVERHEAD + plain_size


def _aad(header: bytes, document_id: uuid.UUID, record_id: uuid.UUID, index: int, last: bool) -> bytes:
    return header + document_id.bytes + record_id.bytes + struct.pack(">QB", index, 1 if last else 0)


def _check_key(data_key: bytes) -> AESGCM:
    if len(data_key) != 32:
        raise ValueError("a data key is 32 bytes (AES-256)")
    return AESGCM(data_key)


class EncryptedStream(Iterator[bytes]):
    """The blob's bytes, header first then one piece per segment. Once exhausted, `size`,
    `sha256` and `sha1` describe the plain content (reading them earlier is a programming error)."""

    def __init__(
        self,
        data_key: bytes,
        document_id: uuid.UUID,
        record_id: uuid.UUID,
        chunks: Iterable[bytes],
        *,
        segment_size: int = SEGMENT_SIZE,
    ) -> None:
        if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
            raise ValueError(f"segment size must be between 1 and {MAX_SEGMENT_SIZE}")
        self._aead = _check_key(data_key)
        self._document_id = document_id
        self._record_id = record_id
        self._segment_size = segment_size
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1(usedforsecurity=False)  # XDS metadata names documents by SHA-1
        self._size = 0
        self._blob_size = 0
        self._done = False
        self._pieces = self._generate(iter(chunks))

    def __iter__(self) -> EncryptedStream:
        return self

    def __next__(self) -> bytes:
        piece = next(self._pieces)
        self._blob_size += len(piece)
        return piece

    def _seal(self, header: bytes, index: int, plain: bytes, last: bool) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        aad = _aad(header, self._document_id, self._record_id, index, last)
        return nonce + self._aead.encrypt(nonce, plain, aad)

    def _generate(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        size = self._segment_size
        header = _HEADER.pack(MAGIC, FORMAT_VERSION, size)
        yield header
        buffer = bytearray()
        index = 0
        for chunk in chunks:
            if not chunk:
                continue
            self._sha256.update(chunk)
            self._sha1.update(chunk)
            self._size += len(chunk)
            buffer += chunk
            # A segment is sealed as "not last" only once a byte beyond it is known to exist.
            while len(buffer) > size:
                plain = bytes(buffer[:size])
                del buffer[:size]  # CPython drops a bytearray's head without copying the rest
                yield self._seal(header, index, plain, last=False)
                index += 1
        yield self._seal(header, index, bytes(buffer), last=True)
        self._done = True

    def _finished(self) -> None:
        if not self._done:
            raise RuntimeError("the encrypted stream has not been consumed to its end yet")

    @property
    def size(self) -> int:
        """Plain content size in bytes."""
        self._finished()
        return self._size

    @property
    def sha256(self) -> str:
        """SHA-256 of the plain content, lowercase hex."""
        self._finished()
        return self._sha256.hexdigest()

    @property
    def sha1(self) -> str:
        """SHA-1 of the plain content, lowercase hex (the XDS `hash`)."""
        self._finished()
        return self._sha1.hexdigest()

    @property
    def blob_size(self) -> int:
        """Bytes of blob produced."""
        self._finished()
        return self._blob_size


def encrypt(
    data_key: bytes,
    document_id: uuid.UUID,
    record_id: uuid.UUID,
    chunks: Iterable[bytes],
    *,
    segment_size: int = SEGMENT_SIZE,
) -> EncryptedStream:
    """Encrypts content given in chunks of any size; iterate the result to get the blob."""
    return EncryptedStream(data_key, document_id, record_id, chunks, segment_size=segment_size)


def decrypt(
    data_key: bytes,
    document_id: uuid.UUID,
    record_id: uuid.UUID,
    blob_chunks: Iterable[bytes],
) -> Iterator[bytes]:
    """Yields the plain content one verified segment at a time (the empty last segment of empty
    content yields nothing). Raises ContentIntegrityError at the first segment that fails."""
    aead = _check_key(data_key)
    return _decrypt(aead, document_id, record_id, iter(blob_chunks))


def _decrypt(aead: AESGCM, document_id: uuid.UUID, record_id: uuid.UUID, chunks: Iterator[bytes]) -> Iterator[bytes]:
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) >= HEADER_SIZE:
            break
    if len(buffer) < HEADER_SIZE:
        raise ContentIntegrityError("the content blob is truncated: its header is incomplete")
    magic, version, segment_size = _HEADER.unpack_from(buffer)
    if magic != MAGIC:
        raise ContentIntegrityError("the content blob does not start with the OpenDMP blob header")
    if version != FORMAT_VERSION:
        raise ContentIntegrityError(f"the content blob has an unknown format version {version}")
    if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise ContentIntegrityError(f"the content blob header names an impossible segment size {segment_size}")
    header = bytes(buffer[:HEADER_SIZE])
    del buffer[:HEADER_SIZE]
    full = segment_size + SEGMENT_OVERHEAD
    index = 0

    def open_segment(sealed: bytes, last: bool) -> bytes:
        aad = _aad(header, document_id, record_id, index, last)
        try:
            return aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], aad)
        except InvalidTag:
            raise ContentIntegrityError(
                f"segment {index} of the content failed verification: the blob is tampered with, "
                "truncated, reordered, or not this document's content under this key"
            ) from None

    for chunk in chunks:
        buffer += chunk
        # More than a full segment buffered: the first one cannot be the last.
        while len(buffer) > full:
            sealed = bytes(buffer[:full])
            del buffer[:full]
            yield open_segment(sealed, last=False)
            index += 1
    while len(buffer) > full:  # everything arrived with the header
        sealed = bytes(buffer[:full])
        del buffer[:full]
        yield open_segment(sealed, last=False)
        index += 1
    if len(buffer) < SEGMENT_OVERHEAD:
        raise ContentIntegrityError(f"the content blob is truncated: segment {index} is incomplete")
    plain = open_segment(bytes(buffer), last=True)
    if plain:
        yield plain
