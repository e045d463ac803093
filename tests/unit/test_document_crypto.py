"""Document content encryption: segments verified before use, constant memory, any tampering fails."""

from __future__ import annotations

import hashlib
import itertools
import os
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opendmp.document.crypto import (
    HEADER_SIZE,
    SEGMENT_OVERHEAD,
    SEGMENT_SIZE,
    ContentIntegrityError,
    blob_size,
    decrypt,
    encrypt,
)
from opendmp.kit.errors import ErrorKind

KEY = bytes(range(32))
DOC = uuid.UUID("00000000-0000-4000-8000-000000000001")
RECORD = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
SMALL_SEGMENT = 16


def seal(content: bytes, *, segment_size: int = SEGMENT_SIZE, chunk: int = 1000) -> bytes:
    chunks = [content[i : i + chunk] for i in range(0, len(content), chunk)]
    return b"".join(encrypt(KEY, DOC, RECORD, chunks, segment_size=segment_size))


def open_blob(blob: bytes, *, key: bytes = KEY, doc: uuid.UUID = DOC, record: uuid.UUID = RECORD) -> bytes:
    return b"".join(decrypt(key, doc, record, [blob]))


def segments_of(blob: bytes, segment_size: int) -> list[bytes]:
    body, full = blob[HEADER_SIZE:], segment_size + SEGMENT_OVERHEAD
    return [body[i : i + full] for i in range(0, len(body), full)]


@pytest.mark.parametrize("size", [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE])
def test_content_round_trips_with_its_size_and_sha256(size: int) -> None:
    content = os.urandom(size)
    stream = encrypt(KEY, DOC, RECORD, [content])
    blob = b"".join(stream)
    assert open_blob(blob) == content
    assert stream.size == size
    assert stream.sha256 == hashlib.sha256(content).hexdigest()
    assert stream.sha1 == hashlib.sha1(content, usedforsecurity=False).hexdigest()
    assert stream.blob_size == len(blob) == blob_size(size)


def test_empty_content_is_one_empty_last_segment() -> None:
    blob = seal(b"")
    assert blob.startswith(b"ODMPBLOB\x01")
    assert len(blob) == HEADER_SIZE + SEGMENT_OVERHEAD
    assert open_blob(blob) == b""


def test_exactly_one_segment_of_content_is_a_single_last_segment() -> None:
    blob = seal(b"x" * SEGMENT_SIZE)
    assert len(blob) == HEADER_SIZE + SEGMENT_OVERHEAD + SEGMENT_SIZE


def test_the_same_content_never_encrypts_to_the_same_blob() -> None:
    assert seal(b"same content") != seal(b"same content")


def test_hashes_are_refused_before_the_stream_is_consumed() -> None:
    stream = encrypt(KEY, DOC, RECORD, [b"abc"])
    next(stream)
    with pytest.raises(RuntimeError):
        _ = stream.sha256


def _plain_chunks(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    block = hashlib.sha256(b"seed").digest() * (chunk // 32)
    for offset in range(0, total, chunk):
        yield block[: min(chunk, total - offset)]


def test_twenty_megabytes_stream_through_encryption_and_decryption_in_constant_memory(tmp_path: Path) -> None:
    total = 20 * 1024 * 1024
    blob_path = tmp_path / "blob"
    expected = hashlib.sha256()
    for piece in _plain_chunks(total):
        expected.update(piece)

    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        stream = encrypt(KEY, DOC, RECORD, _plain_chunks(total))
        with blob_path.open("wb") as sink:
            for piece in stream:
                sink.write(piece)
        encrypt_peak = tracemalloc.get_traced_memory()[1] - baseline

        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        digest, size = hashlib.sha256(), 0

        def blob_chunks() -> Iterator[bytes]:
            with blob_path.open("rb") as source:
                while chunk := source.read(64 * 1024):
                    yield chunk

        for plain in decrypt(KEY, DOC, RECORD, blob_chunks()):
            digest.update(plain)
            size += len(plain)
        decrypt_peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()

    assert stream.size == size == total
    assert stream.sha256 == digest.hexdigest() == expected.hexdigest()
    assert blob_path.stat().st_size == blob_size(total)
    assert encrypt_peak < 2 * 1024 * 1024, encrypt_peak
    assert decrypt_peak < 2 * 1024 * 1024, decrypt_peak


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=150, deadline=None)
@given(data=st.data(), content=st.binary(max_size=3000), segment_size=st.integers(1, 700))
def test_any_content_in_any_chunking_round_trips(data: st.DataObject, content: bytes, segment_size: int) -> None:
    stream = encrypt(KEY, DOC, RECORD, data.draw(chunked(content)), segment_size=segment_size)
    blob = b"".join(stream)
    plain = list(decrypt(KEY, DOC, RECORD, data.draw(chunked(blob))))
    assert b"".join(plain) == content
    assert stream.sha256 == hashlib.sha256(content).hexdigest()
    assert all(0 < len(piece) <= segment_size for piece in plain)


def test_every_single_byte_flip_is_detected() -> None:
    blob = seal(bytes(range(50)), segment_size=SMALL_SEGMENT)
    assert len(segments_of(blob, SMALL_SEGMENT)) == 4
    for position in range(len(blob)):
        for mask in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[position] ^= mask
            with pytest.raises(ContentIntegrityError):
                open_blob(bytes(tampered))


def test_a_flip_in_a_default_size_blob_is_detected() -> None:
    blob = bytearray(seal(os.urandom(3 * SEGMENT_SIZE + 5)))
    for position in (HEADER_SIZE + 20, len(blob) // 2, len(blob) - 1):
        tampered = bytearray(blob)
        tampered[position] ^= 0xFF
        with pytest.raises(ContentIntegrityError):
            open_blob(bytes(tampered))


def test_truncation_anywhere_is_detected_at_boundaries_and_mid_segment() -> None:
    blob = seal(bytes(range(64)), segment_size=SMALL_SEGMENT)  # four full segments
    boundaries = {HEADER_SIZE + i * (SMALL_SEGMENT + SEGMENT_OVERHEAD) for i in range(1, 4)}
    assert boundaries < set(range(len(blob)))
    for length in range(len(blob)):
        with pytest.raises(ContentIntegrityError):
            open_blob(blob[:length])


def test_trailing_bytes_after_the_last_segment_are_detected() -> None:
    blob = seal(b"content", segment_size=SMALL_SEGMENT)
    for extra in (b"\x00", os.urandom(SEGMENT_OVERHEAD), blob[HEADER_SIZE:]):
        with pytest.raises(ContentIntegrityError):
            open_blob(blob + extra)


def test_swapped_duplicated_or_dropped_segments_are_detected() -> None:
    blob = seal(bytes(range(60)), segment_size=SMALL_SEGMENT)
    header, parts = blob[:HEADER_SIZE], segments_of(blob, SMALL_SEGMENT)
    for reordered in (
        [parts[1], parts[0], *parts[2:]],
        [parts[0], parts[0], *parts[1:]],
        [parts[0], *parts[2:]],
        [*parts[:-1], parts[-1], parts[-1]],
    ):
        with pytest.raises(ContentIntegrityError):
            open_blob(header + b"".join(reordered))


def test_a_blob_opened_for_another_document_record_or_key_is_refused() -> None:
    blob = seal(b"a document of record aa")
    for wrong in ({"doc": uuid.uuid4()}, {"record": uuid.uuid4()}, {"key": os.urandom(32)}):
        with pytest.raises(ContentIntegrityError):
            open_blob(blob, **wrong)  # type: ignore[arg-type]


def test_a_foreign_or_damaged_header_is_refused_clearly() -> None:
    blob = seal(b"content")
    with pytest.raises(ContentIntegrityError, match="header"):
        open_blob(b"%PDF-1.7" + blob[8:])
    with pytest.raises(ContentIntegrityError, match="version"):
        open_blob(blob[:8] + b"\x02" + blob[9:])
    with pytest.raises(ContentIntegrityError, match="segment size"):
        open_blob(blob[:9] + b"\xff\xff\xff\xff" + blob[13:])
    with pytest.raises(ContentIntegrityError, match="truncated"):
        open_blob(blob[:5])


def test_segments_before_a_tampered_one_are_the_only_bytes_handed_out() -> None:
    content = bytes(range(64))
    blob = bytearray(seal(content, segment_size=SMALL_SEGMENT))
    blob[HEADER_SIZE + 2 * (SMALL_SEGMENT + SEGMENT_OVERHEAD) + 15] ^= 1  # inside segment 2
    received = []
    with pytest.raises(ContentIntegrityError, match="segment 2"):
        for piece in decrypt(KEY, DOC, RECORD, [bytes(blob)]):
            received.append(piece)
    assert b"".join(received) == content[: 2 * SMALL_SEGMENT]


def test_an_integrity_failure_is_a_conflict_with_a_clear_message() -> None:
    error = ContentIntegrityError("x")
    assert error.kind is ErrorKind.CONFLICT
    with pytest.raises(ContentIntegrityError, match="failed verification"):
        open_blob(seal(b"content"), record=uuid.uuid4())
