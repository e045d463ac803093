"""patient content: expression libre, advance directives, vaccinations (issue 6)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22 21:00:00

One table of the patient's content items, sealed under the record's data key (decision 0022).
Advance directives' PDFs are documents (EXPPAT_3); their answers are items here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opendmp.kit.base import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient_content",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_by_kind", sa.String(length=20), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_patient_content_record_id_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_content")),
    )
    op.create_index("ix_patient_content_record_kind", "patient_content", ["record_id", "kind", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_patient_content_record_kind", table_name="patient_content")
    op.drop_table("patient_content")
