"""document exams

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 16:21:30.733593
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendmp.kit.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_exam",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("code_system", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("performed_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["document.id"], name=op.f("fk_document_exam_document_id_document")),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_document_exam_record_id_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_exam")),
    )
    with op.batch_alter_table("document_exam", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_document_exam_document_id"), ["document_id"], unique=False)
        batch_op.create_index(
            "ix_document_exam_lookup", ["record_id", "code_system", "code", "performed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("document_exam", schema=None) as batch_op:
        batch_op.drop_index("ix_document_exam_lookup")
        batch_op.drop_index(batch_op.f("ix_document_exam_document_id"))

    op.drop_table("document_exam")
