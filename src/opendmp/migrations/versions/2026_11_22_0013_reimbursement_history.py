"""reimbursement history: claim lines per record, parked claims (issue 6, feed)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 21:00:00

Sealed claim batches per record, the claim-id index (idempotence), parked claims for NIRs
without a record (decision 0020, 0021).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendmp.kit.base

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reimbursement_batch",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("first_care", sa.Date(), nullable=False),
        sa.Column("last_care", sa.Date(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_reimbursement_batch_record_id_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reimbursement_batch")),
    )
    with op.batch_alter_table("reimbursement_batch", schema=None) as batch_op:
        batch_op.create_index("ix_reimbursement_batch_record", ["record_id", "last_care"], unique=False)
    op.create_table(
        "reimbursement_claim",
        sa.Column("claim_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=True),
        sa.Column("parked_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("pk_reimbursement_claim")),
    )
    with op.batch_alter_table("reimbursement_claim", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reimbursement_claim_parked_id"), ["parked_id"], unique=False)
    op.create_table(
        "reimbursement_parked",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("nir_digest", sa.String(length=64), nullable=False),
        sa.Column("received_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("first_care", sa.Date(), nullable=False),
        sa.Column("last_care", sa.Date(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reimbursement_parked")),
    )
    with op.batch_alter_table("reimbursement_parked", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reimbursement_parked_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_reimbursement_parked_nir_digest"), ["nir_digest"], unique=False)


def downgrade() -> None:
    op.drop_table("reimbursement_parked")
    op.drop_table("reimbursement_claim")
    op.drop_table("reimbursement_batch")
