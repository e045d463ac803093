"""access and consents

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 12:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import opendmp.kit.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("authorisation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("masked_access", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("revoked_by", sa.String(length=64), nullable=True))
    with op.batch_alter_table("authorisation", schema=None) as batch_op:
        batch_op.alter_column("masked_access", server_default=None)

    op.create_table(
        "professional_block",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("rpps", sa.String(length=11), nullable=False),
        sa.Column("blocked_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("blocked_by", sa.String(length=64), nullable=False),
        sa.Column("unblocked_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("unblocked_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_professional_block_record_id_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_professional_block")),
    )
    op.create_index("ix_professional_block_record_rpps", "professional_block", ["record_id", "rpps"])

    op.create_table(
        "consent_preferences",
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("medecin_traitant", sa.String(length=11), nullable=True),
        sa.Column("medecin_traitant_since", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("samu_allowed", sa.Boolean(), nullable=False),
        sa.Column("break_glass_allowed", sa.Boolean(), nullable=False),
        sa.Column("masked_in_emergency", sa.Boolean(), nullable=False),
        sa.Column("mask_new_documents", sa.Boolean(), nullable=False),
        sa.Column("default_window_days", sa.Integer(), nullable=True),
        sa.Column("updated_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_consent_preferences_record_id_record")),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_consent_preferences")),
    )

    op.create_table(
        "emergency_access",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("rpps", sa.String(length=11), nullable=False),
        sa.Column("profession", sa.String(length=4), nullable=True),
        sa.Column("organisation", sa.String(length=9), nullable=True),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("started_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("review_outcome", sa.String(length=20), nullable=True),
        sa.Column("review_note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_emergency_access_record_id_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_access")),
    )
    op.create_index("ix_emergency_access_record_expires", "emergency_access", ["record_id", "expires_at"])
    op.create_index("ix_emergency_access_reviewed", "emergency_access", ["reviewed_at"])

    op.create_table(
        "professional_first_access",
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("rpps", sa.String(length=11), nullable=False),
        sa.Column("first_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["record.id"], name=op.f("fk_professional_first_access_record_id_record")
        ),
        sa.PrimaryKeyConstraint("record_id", "rpps", name=op.f("pk_professional_first_access")),
    )
    op.create_table(
        "invisible_document_notice",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("noticed_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["document.id"], name=op.f("fk_invisible_document_notice_document_id_document")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["record.id"], name=op.f("fk_invisible_document_notice_record_id_record")
        ),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_invisible_document_notice")),
    )
    op.create_index(
        op.f("ix_invisible_document_notice_record_id"), "invisible_document_notice", ["record_id"], unique=False
    )

    version = op.create_table(
        "habilitation_matrix_version",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_habilitation_matrix_version")),
    )
    entry = op.create_table(
        "habilitation_matrix_entry",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("profession", sa.String(length=4), nullable=False),
        sa.Column("class_code", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("version", "profession", "class_code", name=op.f("pk_habilitation_matrix_entry")),
    )
    # Version 1: the default derived from the 2023 rules (decision 0013), as shipped.
    from opendmp.access.rules import default_matrix

    op.bulk_insert(
        version,
        [
            {
                "version": 1,
                "created_at": datetime(2026, 11, 22, tzinfo=UTC),
                "created_by": "migration",
                "note": "default from the 2023 rules (opendmp/data/habilitation_matrix.csv)",
                "digest": default_matrix().digest,
            }
        ],
    )
    op.bulk_insert(
        entry,
        [{"version": 1, "profession": p, "class_code": c} for p, c in sorted(default_matrix().allowed)],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_invisible_document_notice_record_id"), table_name="invisible_document_notice")
    op.drop_table("invisible_document_notice")
    op.drop_table("professional_first_access")
    op.drop_table("habilitation_matrix_entry")
    op.drop_table("habilitation_matrix_version")
    op.drop_index("ix_emergency_access_reviewed", table_name="emergency_access")
    op.drop_index("ix_emergency_access_record_expires", table_name="emergency_access")
    op.drop_table("emergency_access")
    op.drop_table("consent_preferences")
    op.drop_index("ix_professional_block_record_rpps", table_name="professional_block")
    op.drop_table("professional_block")
    with op.batch_alter_table("authorisation", schema=None) as batch_op:
        batch_op.drop_column("revoked_by")
        batch_op.drop_column("masked_access")
