"""The one journal writer. Each entry is appended in the transaction of the change (or read) it
records, and chained to the previous entry of its chain with SHA-256.

Each entry is a header and a payload (docs/api/contract.md repeats this so an auditor can check
it alone):

    payload_hash = SHA-256(canonical JSON of the PAYLOAD_FIELDS)
    hash         = SHA-256(canonical JSON of chain, seq, at, prev_hash, payload_hash)

canonical = keys sorted, separators "," and ":", UTF-8 (non-ASCII kept), `at` in ISO 8601 UTC
with microseconds (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), absent values as null, `seq` a number.
The chain is made of headers only, so the retention job can replace an old payload by its hash
(the payload columns become NULL, `payload_hash` stays) and every chain still verifies.
Entries written before revision 0005 have no `payload_hash`: their hash covers LEGACY_FIELDS.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from opendmp.identity.actor import Actor
from opendmp.journal.models import GENESIS_HASH, SYSTEM_CHAIN, JournalEntry, JournalHead
from opendmp.kit.ids import new_id

# In sorted order: the order of the canonical JSON object, and of _Payload's fields.
PAYLOAD_FIELDS = (
    "action",
    "actor_id",
    "actor_kind",
    "actor_organisation",
    "outcome",
    "purpose",
    "reason",
    "source_address",
    "target_id",
    "target_type",
)
HEADER_FIELDS = ("at", "chain", "payload_hash", "prev_hash", "seq")
# The single-hash form of the foundation (before revision 0005), still verified.
LEGACY_FIELDS = (
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


class _Payload(msgspec.Struct):
    """The payload as msgspec encodes it: the same bytes as canonical_json of the dict, without
    building one (audit verify hashes a few hundred thousand of these per second)."""

    action: str | None
    actor_id: str | None
    actor_kind: str | None
    actor_organisation: str | None
    outcome: str | None
    purpose: str | None
    reason: str | None
    source_address: str | None
    target_id: str | None
    target_type: str | None


def payload_hash(*values: str | None) -> str:
    """SHA-256 of the payload, given its values in PAYLOAD_FIELDS order."""
    return hashlib.sha256(_CANONICAL.encode(_Payload(*values))).hexdigest()


# The header's canonical JSON, written directly: every value in it is a number or a string that
# needs no escaping (hex digests, a hex record id or "system", digits of a timestamp). Callers
# with other values (a tampered row) use header_hash_checked.
_HEADER = '{"at":"%s","chain":"%s","payload_hash":"%s","prev_hash":"%s","seq":%d}'


def header_hash(chain: str, seq: int, at: str, prev_hash: str, payload: str) -> str:
    """The entry's hash from its header; `at` already in canonical text."""
    return hashlib.sha256((_HEADER % (at, chain, payload, prev_hash, seq)).encode()).hexdigest()


def _plain(text: str) -> bool:
    return text.isprintable() and '"' not in text and "\\" not in text


def header_hash_checked(chain: str, seq: int, at: str, prev_hash: str, payload: str) -> str:
    """header_hash for any values: the documented canonical_json when a value would need escaping."""
    if isinstance(seq, int) and all(_plain(v) for v in (chain, at, prev_hash, payload)):
        return header_hash(chain, seq, at, prev_hash, payload)
    fields = {"at": at, "chain": chain, "payload_hash": payload, "prev_hash": prev_hash, "seq": seq}
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def legacy_hash(fields: dict[str, Any]) -> str:
    """The hash of an entry written before revision 0005 (one hash over every field)."""
    payload = {name: fields[name] for name in LEGACY_FIELDS}
    payload["at"] = iso(payload["at"]) if isinstance(payload["at"], datetime) else payload["at"]
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def entry_hash(fields: dict[str, Any]) -> str:
    """The hash of an entry from its row, by the documented definition (slow; tests and tools)."""
    at = iso(fields["at"]) if isinstance(fields["at"], datetime) else fields["at"]
    payload = fields.get("payload_hash")
    if payload is None:
        return legacy_hash(fields)
    header = {
        "at": at,
        "chain": fields["chain"],
        "payload_hash": payload,
        "prev_hash": fields["prev_hash"],
        "seq": fields["seq"],
    }
    return hashlib.sha256(canonical_json(header)).hexdigest()


def entry_payload_hash(fields: dict[str, Any]) -> str:
    """The payload hash from a row's fields, by the documented definition."""
    return hashlib.sha256(canonical_json({name: fields[name] for name in PAYLOAD_FIELDS})).hexdigest()


@dataclass(frozen=True, slots=True)
class Event:
    """What happened, before it is placed in its chain. `purpose` says why the access happened
    ("care", "emergency", "patient-access", …) when the edge knows it."""

    action: str
    target_type: str
    target_id: str | None
    outcome: Outcome = Outcome.SUCCESS
    reason: str | None = None
    purpose: str | None = None


def build_entry(chain: str, seq: int, prev_hash: str, at: datetime, actor: Actor, event: Event) -> dict[str, Any]:
    """The row of one entry, hashes included. Pure: the bulk seeder uses it too."""
    at = at.astimezone(UTC)  # truncated to microseconds already; both databases keep exactly that
    digest = payload_hash(
        event.action,
        actor.id,
        actor.kind.value,
        actor.organisation,
        event.outcome.value,
        event.purpose,
        event.reason,
        actor.source_address,
        event.target_id,
        event.target_type,
    )
    return {
        "id": new_id(),
        "chain": chain,
        "seq": seq,
        "at": at,
        "actor_kind": actor.kind.value,
        "actor_id": actor.id,
        "actor_organisation": actor.organisation,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "outcome": event.outcome.value,
        "reason": event.reason,
        "purpose": event.purpose,
        "source_address": actor.source_address,
        "payload_hash": digest,
        "prev_hash": prev_hash,
        "hash": header_hash_checked(chain, seq, iso(at), prev_hash, digest),
    }


_LOCK_HEAD = (
    select(JournalHead.seq, JournalHead.hash).where(JournalHead.chain == bindparam("head_chain")).with_for_update()
)
_MOVE_HEAD = (
    update(JournalHead)
    .where(JournalHead.chain == bindparam("head_chain"))
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_INSERT_ENTRY = insert(JournalEntry)
_INSERT_HEAD = insert(JournalHead)


def append(
    session: Session, actor: Actor, event: Event, *, record_id: uuid.UUID | None, at: datetime
) -> dict[str, Any]:
    """Append one entry to the record's chain (or the system chain) in the current transaction;
    the entry's row is returned. Three Core statements on the session's connection (lock the
    head, insert the entry, move the head): this runs on every request."""
    chain = chain_of(record_id)
    connection = session.connection()
    head = connection.execute(_LOCK_HEAD, {"head_chain": chain}).first()
    seq, prev = (head[0] + 1, head[1]) if head is not None else (1, GENESIS_HASH)
    fields = build_entry(chain, seq, prev, at, actor, event)
    connection.execute(_INSERT_ENTRY, fields)
    if head is None:
        connection.execute(_INSERT_HEAD, {"chain": chain, "seq": seq, "hash": fields["hash"], "checkpointed_seq": 0})
    else:
        connection.execute(_MOVE_HEAD, {"head_chain": chain, "new_seq": seq, "new_hash": fields["hash"]})
    return fields


def entries_of(session: Session, record_id: uuid.UUID | None) -> list[JournalEntry]:
    chain = chain_of(record_id)
    return list(
        session.execute(select(JournalEntry).where(JournalEntry.chain == chain).order_by(JournalEntry.seq)).scalars()
    )


def append_many(
    session: Session,
    actor: Actor,
    events: list[tuple[uuid.UUID, Event]],
    *,
    at: datetime,
    insert: Callable[[list[dict[str, Any]]], None] | None = None,
) -> list[dict[str, Any]]:
    """Append one entry to each of many records' chains (a feed's batch: one entry per record),
    the same chaining as `append` in one round trip per step: lock the heads, insert the entries,
    insert or move the heads. At most one event per record. `insert` writes the entry rows when
    the caller has a faster way than an executemany (the reimbursement feed's COPY)."""
    if not events:
        return []
    chains = [chain_of(record_id) for record_id, _ in events]
    if len(set(chains)) != len(chains):
        raise ValueError("append_many takes at most one event per record")
    connection = session.connection()
    heads: dict[str, tuple[int, str]] = {}
    for start in range(0, len(chains), 5000):  # bounded IN lists on both databases
        part = chains[start : start + 5000]
        rows = connection.execute(
            select(JournalHead.chain, JournalHead.seq, JournalHead.hash)
            .where(JournalHead.chain.in_(part))
            .with_for_update()
        )
        heads.update({chain: (seq, prev) for chain, seq, prev in rows})
    entries, new_heads, moved = [], [], []
    for chain, (_, event) in zip(chains, events, strict=True):
        seq, prev = heads.get(chain, (0, GENESIS_HASH))
        fields = build_entry(chain, seq + 1, prev, at, actor, event)
        entries.append(fields)
        if chain in heads:
            moved.append({"head_chain": chain, "new_seq": seq + 1, "new_hash": fields["hash"]})
        else:
            new_heads.append({"chain": chain, "seq": seq + 1, "hash": fields["hash"], "checkpointed_seq": 0})
    if insert is not None:
        insert(entries)  # the caller's bulk path (COPY, the driver's executemany): same rows
    else:
        connection.execute(_INSERT_ENTRY, entries)
    if new_heads:
        connection.execute(_INSERT_HEAD, new_heads)
    if moved:
        connection.execute(_MOVE_HEAD, moved)
    return entries
