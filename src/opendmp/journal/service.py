"""The one journal writer. Each entry is appended in the transaction of the change (or read) it
records, and chained to the previous entry of its chain with SHA-256.

entry.hash = SHA-256(canonical JSON of the fields listed in HASHED_FIELDS, prev_hash included),
canonical = keys sorted, separators "," and ":", UTF-8, `at` in ISO 8601 UTC with microseconds,
absent values as null. docs/api/contract.md repeats this so an auditor can check it alone.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from opendmp.identity.actor import Actor
from opendmp.journal.models import GENESIS_HASH, SYSTEM_CHAIN, JournalEntry, JournalHead
from opendmp.kit.ids import new_id

HASHED_FIELDS = (
    "chain",
    "seq",
    "at",
    "actor_kind",
    "actor_id",
    "actor_organisation",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "reason",
    "source_address",
    "prev_hash",
)


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILURE = "failure"


def chain_of(record_id: uuid.UUID | None) -> str:
    return record_id.hex if record_id is not None else SYSTEM_CHAIN


def iso(at: datetime) -> str:
    """YYYY-MM-DDTHH:MM:SS.ffffffZ, always with microseconds."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


# msgspec with sorted keys writes exactly what json.dumps(sort_keys=True, separators=(",", ":"),
# ensure_ascii=False) writes (tests/unit/test_journal_hash.py proves it), about seven times faster.
_CANONICAL = msgspec.json.Encoder(order="sorted")


def canonical_json(payload: dict[str, Any]) -> bytes:
    return _CANONICAL.encode(payload)


def entry_hash(fields: dict[str, Any]) -> str:
    payload = {name: fields[name] for name in HASHED_FIELDS}
    payload["at"] = iso(payload["at"]) if isinstance(payload["at"], datetime) else payload["at"]
    return hashlib.sha256(canonical_json(payload)).hexdigest()


@dataclass(frozen=True, slots=True)
class Event:
    """What happened, before it is placed in its chain."""

    action: str
    target_type: str
    target_id: str | None
    outcome: Outcome = Outcome.SUCCESS
    reason: str | None = None


def build_entry(chain: str, seq: int, prev_hash: str, at: datetime, actor: Actor, event: Event) -> dict[str, Any]:
    """The row of one entry, hash included. Pure: the bulk seeder uses it too."""
    fields: dict[str, Any] = {
        "id": new_id(),
        "chain": chain,
        "seq": seq,
        # Truncated to microseconds already; both databases keep exactly that.
        "at": at.astimezone(UTC),
        "actor_kind": actor.kind.value,
        "actor_id": actor.id,
        "actor_organisation": actor.organisation,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "outcome": event.outcome.value,
        "reason": event.reason,
        "source_address": actor.source_address,
        "prev_hash": prev_hash,
    }
    fields["hash"] = entry_hash(fields)
    return fields


def append(session: Session, actor: Actor, event: Event, *, record_id: uuid.UUID | None, at: datetime) -> JournalEntry:
    """Append one entry to the record's chain (or the system chain) in the current transaction."""
    chain = chain_of(record_id)
    head = session.execute(select(JournalHead).where(JournalHead.chain == chain).with_for_update()).scalar_one_or_none()
    if head is None:
        head = JournalHead(chain=chain, seq=0, hash=GENESIS_HASH)
        session.add(head)
    fields = build_entry(chain, head.seq + 1, head.hash, at, actor, event)
    entry = JournalEntry(**fields)
    session.add(entry)
    head.seq = fields["seq"]
    head.hash = fields["hash"]
    return entry


def entries_of(session: Session, record_id: uuid.UUID | None) -> list[JournalEntry]:
    chain = chain_of(record_id)
    return list(
        session.execute(select(JournalEntry).where(JournalEntry.chain == chain).order_by(JournalEntry.seq)).scalars()
    )


@dataclass(frozen=True, slots=True)
class ChainBreak:
    chain: str
    seq: int
    problem: str


def _as_fields(entry: JournalEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in (*HASHED_FIELDS, "hash")}


def verify_chain(entries: Iterable[dict[str, Any]]) -> Iterator[ChainBreak]:
    """Check one chain in seq order: numbering without gaps, links, and each entry's own hash."""
    expected_prev, expected_seq = GENESIS_HASH, 1
    for fields in entries:
        chain, seq = fields["chain"], fields["seq"]
        if seq != expected_seq:
            yield ChainBreak(chain, seq, f"sequence gap: expected {expected_seq}")
        if fields["prev_hash"] != expected_prev:
            yield ChainBreak(chain, seq, "link broken: prev_hash differs from the previous entry's hash")
        if entry_hash(fields) != fields["hash"]:
            yield ChainBreak(chain, seq, "entry altered: its hash does not match its content")
        expected_prev, expected_seq = fields["hash"], seq + 1


def verify_all(session: Session) -> Iterator[ChainBreak]:
    """Verify every chain against its head (a truncated chain is caught by the head)."""
    heads = {h.chain: h for h in session.execute(select(JournalHead)).scalars()}
    current: str | None = None
    batch: list[dict[str, Any]] = []

    def finish(chain: str, rows: list[dict[str, Any]]) -> Iterator[ChainBreak]:
        yield from verify_chain(rows)
        head = heads.pop(chain, None)
        last = rows[-1] if rows else None
        if head is None:
            yield ChainBreak(chain, 0, "chain has no head")
        elif last is None or head.seq != last["seq"] or head.hash != last["hash"]:
            yield ChainBreak(chain, head.seq, "chain truncated: head does not match the last entry")

    stmt = select(JournalEntry).order_by(JournalEntry.chain, JournalEntry.seq)
    for entry in session.execute(stmt.execution_options(yield_per=5000)).scalars():
        if entry.chain != current:
            if current is not None:
                yield from finish(current, batch)
            current, batch = entry.chain, []
        batch.append(_as_fields(entry))
        session.expunge(entry)
    if current is not None:
        yield from finish(current, batch)
    for chain, head in heads.items():
        yield ChainBreak(chain, head.seq, "chain head without entries")
