"""Signed checkpoints over the heads of every chain (ARCHITECTURE rule 7).

A checkpoint lists the heads that moved since the previous checkpoint and chains to it, so the
latest signed digest covers the heads of all chains without re-reading them every minute:

    digest = SHA-256(  "OpenDMP journal checkpoint v1\\n"
                       "seq=<n>\\n" "at=<YYYY-MM-DDTHH:MM:SS.ffffffZ>\\n" "chains=<count>\\n"
                       "prev=<previous digest, 64 zeros for the first>\\n"
                       then "<chain> <seq> <hash>\\n" per head, by ascending chain )
    signature = Ed25519(journal signing key, the 64 ASCII hex characters of digest)

`chains` counts every chain sealed so far. The signing key lives outside the database
(kit/keys.py); `key_id` is the first 16 hex digits of SHA-256 of the raw public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from opendmp.journal import repository as repo
from opendmp.journal.models import GENESIS_HASH
from opendmp.journal.service import iso
from opendmp.kit.db import unit_of_work
from opendmp.kit.logging import get_logger

log = get_logger("opendmp.journal")
MAGIC = b"OpenDMP journal checkpoint v1\n"
# Any constant shared by every process: checkpoints are taken one at a time on PostgreSQL.
_ADVISORY_LOCK = 0x0D3D_C0DE


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_from_base64(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip()))


def trusted_keys(signing_key: Ed25519PrivateKey, previous: str | None = None) -> dict[str, Ed25519PublicKey]:
    """The public keys `audit verify` trusts, by key id: the current signing key's and those of
    earlier keys (OPENDMP_JOURNAL_PREVIOUS_PUBLIC_KEYS), never keys found in the database."""
    keys = [signing_key.public_key()]
    for part in (previous or "").split(","):
        if part.strip():
            try:
                keys.append(public_key_from_base64(part))
            except (ValueError, binascii.Error) as error:
                raise ValueError("a previous journal public key is not 32 bytes of base64") from error
    return {key_id(key): key for key in keys}


def preamble(seq: int, at: str, chains: int, prev_digest: str) -> bytes:
    return MAGIC + f"seq={seq}\nat={at}\nchains={chains}\nprev={prev_digest}\n".encode()


def head_line(chain: str, seq: int, hash_: str) -> bytes:
    return f"{chain} {seq} {hash_}\n".encode()


def digest_of(seq: int, at: str, chains: int, prev_digest: str, heads: Iterable[tuple[str, int, str]]) -> str:
    hasher = hashlib.sha256(preamble(seq, at, chains, prev_digest))
    for chain, head_seq, head_hash in heads:
        hasher.update(head_line(chain, head_seq, head_hash))
    return hasher.hexdigest()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    at: datetime
    chains: int
    changed: int
    digest: str


def seal(session: Session, signing_key: Ed25519PrivateKey, now: datetime) -> Checkpoint:
    """Write the next checkpoint in the current transaction (the caller commits)."""
    if session.get_bind().dialect.name == "postgresql":
        # Two workers sealing at once would race for the same seq; SQLite's BEGIN IMMEDIATE
        # already serialises writers.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
    last = repo.last_checkpoint(session)
    seq, prev_digest, chains = (last[0] + 1, last[1], last[2]) if last else (1, GENESIS_HASH, 0)
    moved = sorted(repo.unsealed_heads(session))  # by chain, in code point order, as documented
    chains += sum(1 for _, _, _, sealed in moved if sealed == 0)
    heads = [(chain, head_seq, head_hash) for chain, head_seq, head_hash, _ in moved]
    at = now.astimezone(UTC)
    digest = digest_of(seq, iso(at), chains, prev_digest, heads)
    signature = signing_key.sign(digest.encode("ascii"))
    repo.insert_checkpoint(
        session,
        {
            "seq": seq,
            "at": at,
            "chains": chains,
            "changed": len(heads),
            "prev_digest": prev_digest,
            "digest": digest,
            "signature": base64.b64encode(signature).decode("ascii"),
            "key_id": key_id(signing_key.public_key()),
        },
        heads,
    )
    return Checkpoint(seq, at, chains, len(heads), digest)


def take_checkpoint(sessions: sessionmaker[Session], signing_key: Ed25519PrivateKey, now: datetime) -> Checkpoint:
    with unit_of_work(sessions) as session:
        return seal(session, signing_key, now)


class CheckpointTicker:
    """Seals the journal every `interval` seconds in a daemon thread of the served app; the
    first checkpoint comes one interval after start, and stop() ends the thread."""

    def __init__(self, tick: Callable[[], object], interval: float) -> None:
        self._tick = tick
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._interval <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="journal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._tick()
            except Exception as error:  # the next tick tries again; audit verify shows the gap
                log.error("journal checkpoint failed", error_type=type(error).__name__)
