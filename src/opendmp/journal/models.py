"""Journal tables; their layout is documented for auditors in docs/api/contract.md."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, column
from sqlalchemy.orm import Mapped, mapped_column

from opendmp.kit.base import Base
from opendmp.kit.ids import new_id

SYSTEM_CHAIN = "system"
GENESIS_HASH = "0" * 64


class JournalEntry(Base):
    """One entry: a header (chain, seq, at, prev_hash, payload_hash) chained by `hash`, and a
    payload (who did what to what, why) that retention may later replace by its hash."""

    __tablename__ = "journal_entry"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # The record id (as 32 hex digits) for a record's chain, or "system".
    chain: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
    # The payload: all of it is NULL once the retention job has redacted the entry.
    actor_kind: Mapped[str | None] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_organisation: Mapped[str | None] = mapped_column(String(9))
    action: Mapped[str | None] = mapped_column(String(50))
    target_type: Mapped[str | None] = mapped_column(String(30))
    target_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(200))
    purpose: Mapped[str | None] = mapped_column(String(30))
    source_address: Mapped[str | None] = mapped_column(String(45))
    # SHA-256 of the payload's canonical JSON; NULL only for entries written before revision 0005.
    payload_hash: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class JournalHead(Base):
    """The last entry of each chain: appending locks this row, so each chain stays a line.
    `checkpointed_seq` is the entry last sealed by a checkpoint: heads ahead of it are the next
    checkpoint's work (a partial index keeps finding them cheap)."""

    __tablename__ = "journal_head"

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    checkpointed_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class JournalCheckpoint(Base):
    """A signed seal over the heads of every chain. Each checkpoint lists the heads that moved
    since the previous one and chains to it by `prev_digest`, so the latest one covers all."""

    __tablename__ = "journal_checkpoint"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    chains: Mapped[int] = mapped_column(BigInteger)  # chains sealed so far, all checkpoints together
    changed: Mapped[int] = mapped_column(BigInteger)  # heads listed in this checkpoint
    prev_digest: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(88))  # Ed25519, base64
    key_id: Mapped[str] = mapped_column(String(16))


class JournalCheckpointHead(Base):
    """The heads a checkpoint sealed, in the order they were hashed (`position`)."""

    __tablename__ = "journal_checkpoint_head"

    checkpoint_seq: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("journal_checkpoint.seq"), primary_key=True, autoincrement=False
    )
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chain: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


Index("ix_journal_entry_chain_at", JournalEntry.chain, JournalEntry.at)
# Operators' forensics (`opendmp audit by-actor`), the one query across records.
Index("ix_journal_entry_actor_id_at", JournalEntry.actor_id, JournalEntry.at)
_UNSEALED = column("seq") > column("checkpointed_seq")
Index(
    "ix_journal_head_unsealed",
    JournalHead.chain,
    postgresql_where=_UNSEALED,
    sqlite_where=_UNSEALED,
)
Index("ix_journal_checkpoint_head_chain_seq", JournalCheckpointHead.chain, JournalCheckpointHead.seq)
