"""`opendmp audit verify`: every chain, every checkpoint, and the checkpoints against the chains.

1. Checkpoints, in order: numbering without gaps, each linked to the previous digest, each digest
   recomputed from the heads it lists, each signature checked with a trusted public key.
2. Entries, chain by chain, in one pass over the (chain, seq) index, merged with the heads table
   and with the sealed heads (both read in chain order): numbering, links, payload and entry
   hashes; every head a checkpoint sealed must still be in its chain with the same hash (a
   truncation below a checkpoint is caught even when the head row was rewritten to match), and
   each chain must end at its head row (entries after the last checkpoint are covered by their
   chain and head).

Rows are read as plain tuples, streamed, and hashed with hashlib; verification reads one
snapshot (repository.snapshot) so that it can run while the service writes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import multiprocessing
import re
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from opendmp.journal import repository as repo
from opendmp.journal.checkpoint import head_line, preamble
from opendmp.journal.models import GENESIS_HASH
from opendmp.journal.service import (
    _CANONICAL,
    _HEADER,
    LEGACY_FIELDS,
    _Payload,
    header_hash_checked,
    iso,
    legacy_hash,
)

CHECKPOINTS = "checkpoints"
_CHAIN_NAME = re.compile(r"[0-9a-f]{32}|system").fullmatch
_HEX64 = re.compile(r"[0-9a-f]{64}").fullmatch
_sha256 = hashlib.sha256


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """A problem, named by chain and position (`seq`), or by checkpoint number."""

    chain: str
    seq: int
    problem: str

    def __str__(self) -> str:
        if self.chain == CHECKPOINTS:
            return f"checkpoint {self.seq}: {self.problem}"
        return f"chain {self.chain} entry {self.seq}: {self.problem}"


@dataclass
class Verification:
    """One run of the verification; counters are filled as it goes."""

    keys: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)
    # Payloads may only be missing (redacted by retention) on entries older than this.
    redact_before: datetime | None = None
    entries: int = 0
    chains: int = 0
    redacted: int = 0
    checkpoints: int = 0
    last_checkpoint_at: str | None = None

    last_checkpoint: int = 0
    sealed_chains: int = 0  # what the last checkpoint says

    unreported: int = 0  # problems found by worker processes beyond those they sent back

    def run(self, connection: Connection, *, database_url: str | None = None, workers: int = 1) -> Iterator[ChainBreak]:
        """Every problem, checkpoints first, then chain by chain. With `workers` > 1 (and the
        database's URL), ranges of chains are checked by as many processes, each in its own
        snapshot (consistent chain by chain, which is what each check needs)."""
        yield from self._checkpoints(connection)
        counted = _Counter()
        if workers > 1 and database_url is not None:
            yield from self._chains_in_parallel(connection, database_url, workers, counted)
        else:
            yield from self._chains(connection, self.last_checkpoint, counted)
        if self.last_checkpoint and counted.value != self.sealed_chains:
            yield ChainBreak(
                CHECKPOINTS,
                self.last_checkpoint,
                f"says {self.sealed_chains} chains were sealed, but the checkpoints list {counted.value}",
            )

    def _chains_in_parallel(
        self, connection: Connection, database_url: str, workers: int, counted: _Counter
    ) -> Iterator[ChainBreak]:
        bounds = chain_ranges(workers)
        jobs = [(database_url, self.last_checkpoint, self.redact_before, low, high) for low, high in bounds[1:]]
        context = multiprocessing.get_context("spawn")  # never fork a process holding connections
        with ProcessPoolExecutor(max_workers=len(jobs), mp_context=context) as pool:
            futures = [pool.submit(_verify_range, job) for job in jobs]
            low, high = bounds[0]
            yield from self._chains(connection, self.last_checkpoint, counted, low, high)  # this process's share
            for future in futures:
                result = future.result()
                yield from result.problems
                self.unreported += result.total - len(result.problems)
                self.entries += result.entries
                self.chains += result.chains
                self.redacted += result.redacted
                counted.value += result.sealed_chains

    # ------------------------------------------------------------ checkpoints

    def _checkpoints(self, connection: Connection) -> Iterator[ChainBreak]:
        heads = iter(repo.sealed_heads_by_checkpoint(connection))
        pending = next(heads, None)
        expected_seq, expected_prev = 1, GENESIS_HASH
        for seq, at, chains, changed, prev_digest, digest, signature, key in repo.checkpoints(connection):
            while pending is not None and pending[0] < seq:
                yield ChainBreak(CHECKPOINTS, pending[0], "sealed heads without their checkpoint")
                pending = next(heads, None)
            if seq != expected_seq:
                yield ChainBreak(CHECKPOINTS, seq, f"numbering gap: expected checkpoint {expected_seq}")
            if prev_digest != expected_prev:
                yield ChainBreak(CHECKPOINTS, seq, "link broken: prev_digest differs from the previous digest")
            hasher = _sha256(preamble(seq, at, chains, prev_digest))
            listed = 0
            while pending is not None and pending[0] == seq:
                _, position, chain, head_seq, head_hash = pending
                if position != listed:
                    yield ChainBreak(CHECKPOINTS, seq, f"sealed head at position {listed} is missing")
                    listed = position
                hasher.update(head_line(chain, head_seq, head_hash))
                listed += 1
                pending = next(heads, None)
            if listed != changed:
                yield ChainBreak(CHECKPOINTS, seq, f"lists {listed} heads, says {changed}")
            if hasher.hexdigest() != digest:
                yield ChainBreak(CHECKPOINTS, seq, "altered: its digest does not match its content")
            problem = self._signature_problem(digest, signature, key)
            if problem:
                yield ChainBreak(CHECKPOINTS, seq, problem)
            expected_seq, expected_prev = seq + 1, digest
            self.checkpoints += 1
            self.last_checkpoint = seq
            self.sealed_chains = chains
            self.last_checkpoint_at = at
        while pending is not None:
            yield ChainBreak(CHECKPOINTS, pending[0], "sealed heads without their checkpoint")
            pending = next(heads, None)

    def _signature_problem(self, digest: str, signature: str, key: str) -> str | None:
        public = self.keys.get(key)
        if public is None:
            return f"signed with key {key}, which is not a trusted journal key"
        try:
            public.verify(base64.b64decode(signature, validate=True), digest.encode("ascii"))
        except (InvalidSignature, binascii.Error, ValueError, UnicodeEncodeError):
            return "signature invalid"
        return None

    # ------------------------------------------------------------ chains

    def _chains(
        self,
        connection: Connection,
        sealed_up_to: int,
        counted: _Counter,
        low: str | None = None,
        high: str | None = None,
    ) -> Iterator[ChainBreak]:
        """The chains from `low` (included) to `high` (excluded), all of them by default."""
        heads = _Cursor(iter(repo.stream_heads(connection, low, high)))
        sealed_rows = repo.sealed_heads_by_chain(connection, sealed_up_to, low, high) if sealed_up_to else ()
        sealed = _Cursor(iter(sealed_rows))
        redact_before = iso(self.redact_before) if self.redact_before else None
        encode, payload_of, template = _CANONICAL.encode, _Payload, _HEADER

        current: str | None = None
        head: tuple[Any, ...] | None = None
        seals: dict[int, tuple[str, int]] = {}
        expected_seq, expected_prev, prev_plain = 1, GENESIS_HASH, True
        new_form_seen = False
        entries = redacted = 0

        for part in repo.stream_entries(connection, low, high):
            entries += len(part)
            for row in part:
                chain, seq, at, prev, stored, payload_digest = row[0], row[1], row[2], row[3], row[4], row[5]
                if chain != current:
                    if current is not None:
                        yield from _finish(current, head, seals, expected_seq - 1, expected_prev)
                    current = chain
                    yield from heads.skip_before(chain, "chain head without entries")
                    head = heads.take(chain)
                    yield from _missing_sealed_chains(sealed, chain, counted)
                    seals = {s: (h, cp) for _, s, h, cp in sealed.take_all(chain)}
                    if seals:
                        counted.value += 1
                    if not _CHAIN_NAME(chain):
                        yield ChainBreak(chain, seq, "not a chain name (a record id in hex, or system)")
                    expected_seq, expected_prev, prev_plain, new_form_seen = 1, GENESIS_HASH, True, False
                    self.chains += 1
                if seq != expected_seq:
                    yield ChainBreak(chain, seq, f"sequence gap: expected entry {expected_seq}")
                    if type(seq) is not int:  # only a hand-edited SQLite row can hold text here
                        seq = expected_seq
                if prev != expected_prev:
                    yield ChainBreak(chain, seq, "link broken: prev_hash differs from the previous entry's hash")
                    link_plain = False
                else:
                    link_plain = prev_plain
                if payload_digest is None:
                    problem = _legacy_problem(row, new_form_seen)
                    if problem:
                        yield ChainBreak(chain, seq, problem)
                    computed = None
                else:
                    new_form_seen = True
                    if row[6] is None and all(value is None for value in row[7:16]):
                        redacted += 1
                        payload_plain = bool(_HEX64(payload_digest))
                        if redact_before is not None and at >= redact_before:
                            yield ChainBreak(chain, seq, "payload removed before the retention period ended")
                    elif _sha256(encode(payload_of(*row[6:16]))).hexdigest() == payload_digest:
                        payload_plain = True
                    else:
                        payload_plain = False
                        yield ChainBreak(chain, seq, "entry altered: its payload does not match its payload_hash")
                    if link_plain and payload_plain and at.isprintable() and '"' not in at and "\\" not in at:
                        # header_hash, inlined: this line runs once per entry
                        computed = _sha256((template % (at, chain, payload_digest, prev, seq)).encode()).hexdigest()
                    else:
                        computed = header_hash_checked(chain, seq, at, prev, payload_digest)
                    if computed != stored:
                        yield ChainBreak(chain, seq, "entry altered: its hash does not match its header")
                if seals:
                    sealed_head = seals.pop(seq, None)
                    if sealed_head is not None and sealed_head[0] != stored:
                        yield ChainBreak(chain, seq, f"differs from the head sealed by checkpoint {sealed_head[1]}")
                prev_plain = computed == stored
                expected_prev, expected_seq = stored, seq + 1
        if current is not None:
            yield from _finish(current, head, seals, expected_seq - 1, expected_prev)
        yield from heads.skip_before(None, "chain head without entries")
        yield from _missing_sealed_chains(sealed, None, counted)
        self.entries += entries
        self.redacted += redacted


class _Counter:
    value = 0


def chain_ranges(parts: int) -> list[tuple[str | None, str | None]]:
    """`parts` ranges of chain names of about the same size (record ids are random), the last
    one open-ended (it holds "system")."""
    cuts = [f"{256 * i // parts:02x}" for i in range(1, parts)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


@dataclass(frozen=True, slots=True)
class _RangeResult:
    problems: list[ChainBreak]
    total: int
    entries: int
    chains: int
    redacted: int
    sealed_chains: int


_PROBLEMS_PER_WORKER = 1000


def _verify_range(job: tuple[str, int, datetime | None, str | None, str | None]) -> _RangeResult:
    """A worker process's share: the chains of one range, in a snapshot of its own."""
    from opendmp.kit.db import make_engine

    database_url, sealed_up_to, redact_before, low, high = job
    engine = make_engine(database_url, pool_size=1)
    try:
        verification = Verification(redact_before=redact_before)
        counted = _Counter()
        problems: list[ChainBreak] = []
        total = 0
        with repo.snapshot(engine) as connection:
            for problem in verification._chains(connection, sealed_up_to, counted, low, high):
                total += 1
                if len(problems) < _PROBLEMS_PER_WORKER:
                    problems.append(problem)
        return _RangeResult(
            problems, total, verification.entries, verification.chains, verification.redacted, counted.value
        )
    finally:
        engine.dispose()


class _Cursor:
    """A sorted stream of rows whose first column is the chain, read alongside the entries."""

    def __init__(self, rows: Iterator[Any]) -> None:
        self._rows = rows
        self.row: Any = next(rows, None)

    def skip_before(self, chain: str | None, problem: str) -> Iterator[ChainBreak]:
        while self.row is not None and (chain is None or self.row[0] < chain):
            yield ChainBreak(self.row[0], self.row[1], problem)
            self.row = next(self._rows, None)

    def take(self, chain: str) -> Any:
        row = self.row
        if row is not None and row[0] == chain:
            self.row = next(self._rows, None)
            return row
        return None

    def take_all(self, chain: str) -> list[Any]:
        rows = []
        while self.row is not None and self.row[0] == chain:
            rows.append(self.row)
            self.row = next(self._rows, None)
        return rows


def _missing_sealed_chains(sealed: _Cursor, chain: str | None, counted: _Counter) -> Iterator[ChainBreak]:
    """Chains a checkpoint sealed that have no entry left: deleted."""
    while sealed.row is not None and (chain is None or sealed.row[0] < chain):
        gone = sealed.take_all(sealed.row[0])
        counted.value += 1
        last = gone[-1]
        yield ChainBreak(last[0], last[1], f"chain deleted: checkpoint {last[3]} sealed it up to this entry")


def _finish(
    chain: str, head: Any, seals: dict[int, tuple[str, int]], last_seq: int, last_hash: str
) -> Iterator[ChainBreak]:
    for seq, (_, checkpoint) in sorted(seals.items()):
        yield ChainBreak(
            chain, seq, f"missing: checkpoint {checkpoint} sealed this entry (chain truncated or renumbered)"
        )
    if head is None:
        yield ChainBreak(chain, last_seq, "chain has no head")
    elif head[1] != last_seq or head[2] != last_hash:
        yield ChainBreak(chain, head[1], "chain truncated: head does not match the last entry")


def _legacy_problem(row: Any, new_form_seen: bool) -> str | None:
    """An entry written before revision 0005 (one hash over every field)."""
    if new_form_seen:
        return "entry altered: an entry of the pre-0005 form after entries of the current form"
    if row[6] is None:
        return "entry altered: payload missing and no payload_hash to prove it"
    values = dict(zip(("chain", "seq", "at", "prev_hash"), row[:4], strict=True))
    values.update(zip(("action", "actor_id", "actor_kind", "actor_organisation", "outcome"), row[6:11], strict=True))
    values.update(zip(("reason", "source_address", "target_id", "target_type"), row[12:16], strict=True))
    if row[11] is not None:
        return "entry altered: a purpose on an entry of the pre-0005 form"
    if legacy_hash({name: values[name] for name in LEGACY_FIELDS}) != row[4]:
        return "entry altered: its hash does not match its content"
    return None


def verify_all(
    source: Session | Connection,
    *,
    keys: Mapping[str, Ed25519PublicKey] | None = None,
    redact_before: datetime | None = None,
) -> Iterator[ChainBreak]:
    """Every problem of the journal, in chain order (checkpoints first)."""
    connection = source.connection() if isinstance(source, Session) else source
    yield from Verification(keys=dict(keys or {}), redact_before=redact_before).run(connection)
