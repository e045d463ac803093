"""software clients

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendmp.kit.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "software_client",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisation.id"], name=op.f("fk_software_client_organisation_id_organisation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_software_client")),
    )
    op.create_index(op.f("ix_software_client_organisation_id"), "software_client", ["organisation_id"])
    op.create_table(
        "client_assertion_jti",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["software_client.id"], name=op.f("fk_client_assertion_jti_client_id_software_client")
        ),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_client_assertion_jti")),
    )


def downgrade() -> None:
    op.drop_table("client_assertion_jti")
    op.drop_index(op.f("ix_software_client_organisation_id"), table_name="software_client")
    op.drop_table("software_client")
