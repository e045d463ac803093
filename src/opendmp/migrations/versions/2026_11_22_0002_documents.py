"""documents

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 16:04:07.098416
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendmp.kit.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("logical_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("meta_version", sa.Integer(), nullable=False),
        sa.Column("unique_id", sa.String(length=128), nullable=False),
        sa.Column("set_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("type_code", sa.String(length=20), nullable=False),
        sa.Column("type_system", sa.String(length=40), nullable=False),
        sa.Column("class_code", sa.String(length=60), nullable=False),
        sa.Column("format_code", sa.String(length=200), nullable=True),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sha1", sa.String(length=40), nullable=False),
        sa.Column("created_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("service_start", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("service_stop", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("confidentiality", sa.String(length=10), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("masked_from_professionals", sa.Boolean(), nullable=False),
        sa.Column("invisible_to_patient", sa.Boolean(), nullable=False),
        sa.Column("invisible_to_representatives", sa.Boolean(), nullable=False),
        sa.Column("legal_authenticator", sa.String(length=20), nullable=True),
        sa.Column("submitted_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_by_kind", sa.String(length=20), nullable=False),
        sa.Column("submitted_by", sa.String(length=64), nullable=False),
        sa.Column("submitted_by_organisation", sa.String(length=9), nullable=True),
        sa.Column("submission_set_id", sa.Uuid(), nullable=True),
        sa.Column("replaces_id", sa.Uuid(), nullable=True),
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("updated_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_document_record_id_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document")),
    )
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.create_index("ix_document_record_date", ["record_id", "submitted_at"], unique=False)
        batch_op.create_index("ix_document_record_logical", ["record_id", "logical_id"], unique=False)

    op.create_table(
        "document_lookup",
        sa.Column("unique_id", sa.String(length=128), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_document_lookup_record_id_record")),
        sa.PrimaryKeyConstraint("unique_id", name=op.f("pk_document_lookup")),
    )
    op.create_table(
        "submission_set",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("unique_id", sa.String(length=128), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=True),
        sa.Column("submitted_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_submission_set_record_id_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission_set")),
    )
    with op.batch_alter_table("submission_set", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submission_set_record_id"), ["record_id"], unique=False)

    op.create_table(
        "document_author",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("rpps", sa.String(length=11), nullable=True),
        sa.Column("finess", sa.String(length=9), nullable=True),
        sa.Column("display", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["document_id"], ["document.id"], name=op.f("fk_document_author_document_id_document")),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_document_author_record_id_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_author")),
    )
    with op.batch_alter_table("document_author", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_document_author_document_id"), ["document_id"], unique=False)
        batch_op.create_index("ix_document_author_rpps", ["record_id", "rpps"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("document_author", schema=None) as batch_op:
        batch_op.drop_index("ix_document_author_rpps")
        batch_op.drop_index(batch_op.f("ix_document_author_document_id"))

    op.drop_table("document_author")
    with op.batch_alter_table("submission_set", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submission_set_record_id"))

    op.drop_table("submission_set")
    op.drop_table("document_lookup")
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_index("ix_document_record_logical")
        batch_op.drop_index("ix_document_record_date")

    op.drop_table("document")
