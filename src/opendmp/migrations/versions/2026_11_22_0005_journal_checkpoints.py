"""journal checkpoints

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 12:00:00

Journal entries get a purpose and a payload hash (header and payload hashed apart, so retention
can drop old payloads and keep the chains verifiable); the payload columns become nullable for
that. Heads remember what the last checkpoint sealed; checkpoints and the heads they sealed get
their tables. Entries already written keep their single-hash form (verify still checks it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendmp.kit.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PAYLOAD = (
    ("actor_kind", 20),
    ("actor_id", 64),
    ("action", 50),
    ("target_type", 30),
    ("outcome", 10),
)


def upgrade() -> None:
    with op.batch_alter_table("journal_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("payload_hash", sa.String(length=64), nullable=True))
        for name, length in PAYLOAD:
            batch_op.alter_column(name, existing_type=sa.String(length=length), nullable=True)
        batch_op.create_index("ix_journal_entry_actor_id_at", ["actor_id", "at"], unique=False)

    with op.batch_alter_table("journal_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkpointed_seq", sa.BigInteger(), server_default="0", nullable=False))
    unsealed = sa.text("seq > checkpointed_seq")
    op.create_index(
        "ix_journal_head_unsealed",
        "journal_head",
        ["chain"],
        unique=False,
        postgresql_where=unsealed,
        sqlite_where=unsealed,
    )

    op.create_table(
        "journal_checkpoint",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("chains", sa.BigInteger(), nullable=False),
        sa.Column("changed", sa.BigInteger(), nullable=False),
        sa.Column("prev_digest", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=88), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_journal_checkpoint")),
    )
    op.create_table(
        "journal_checkpoint_head",
        sa.Column("checkpoint_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_seq"],
            ["journal_checkpoint.seq"],
            name=op.f("fk_journal_checkpoint_head_checkpoint_seq_journal_checkpoint"),
        ),
        sa.PrimaryKeyConstraint("checkpoint_seq", "position", name=op.f("pk_journal_checkpoint_head")),
    )
    with op.batch_alter_table("journal_checkpoint_head", schema=None) as batch_op:
        batch_op.create_index("ix_journal_checkpoint_head_chain_seq", ["chain", "seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("journal_checkpoint_head", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_checkpoint_head_chain_seq")
    op.drop_table("journal_checkpoint_head")
    op.drop_table("journal_checkpoint")
    op.drop_index("ix_journal_head_unsealed", table_name="journal_head")
    with op.batch_alter_table("journal_head", schema=None) as batch_op:
        batch_op.drop_column("checkpointed_seq")
    with op.batch_alter_table("journal_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_entry_actor_id_at")
        for name, length in PAYLOAD:
            batch_op.alter_column(name, existing_type=sa.String(length=length), nullable=False)
        batch_op.drop_column("payload_hash")
        batch_op.drop_column("purpose")
