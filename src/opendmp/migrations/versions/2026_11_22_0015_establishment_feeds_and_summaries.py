"""establishment batch feeds, VSM and DLU (issue 6)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22 21:00:00

feed_submission: the answer given to each ITI-65 bundle of a batch, by SubmissionSet unique id
(safe retries); clinical_summary: the sealed structured copy of each VSM and DLU version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendmp.kit.base

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_submission",
        sa.Column("unique_id", sa.String(length=128), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("organisation", sa.String(length=9), nullable=True),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("submitted_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_feed_submission_record_id_record")),
        sa.PrimaryKeyConstraint("unique_id", name=op.f("pk_feed_submission")),
    )
    op.create_index(op.f("ix_feed_submission_record_id"), "feed_submission", ["record_id"])
    op.create_table(
        "clinical_summary",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=3), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("author_rpps", sa.String(length=11), nullable=False),
        sa.Column("written_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("reminded_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_clinical_summary_record_id_record")),
        sa.ForeignKeyConstraint(
            ["document_id"], ["document.id"], name=op.f("fk_clinical_summary_document_id_document")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinical_summary")),
        sa.UniqueConstraint("document_id", name=op.f("uq_clinical_summary_document_id")),
    )
    op.create_index("ix_clinical_summary_record", "clinical_summary", ["record_id", "kind", "written_at"], unique=False)
    op.create_index("ix_clinical_summary_due", "clinical_summary", ["kind", "reminded_at", "written_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_clinical_summary_due", table_name="clinical_summary")
    op.drop_index("ix_clinical_summary_record", table_name="clinical_summary")
    op.drop_table("clinical_summary")
    op.drop_index(op.f("ix_feed_submission_record_id"), table_name="feed_submission")
    op.drop_table("feed_submission")
