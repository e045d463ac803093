"""OpenID Connect logins: staff accounts, pending logins, sessions of staff accounts

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendmp.kit.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("organisation", sa.String(length=9), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("disabled_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("disabled_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_account")),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_staff_account_issuer_subject")),
        sa.UniqueConstraint("name", name=op.f("uq_staff_account_name")),
    )
    op.create_table(
        "oidc_pending_login",
        sa.Column("state_digest", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("browser", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("created_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state_digest", name=op.f("pk_oidc_pending_login")),
    )
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staff_account_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_auth_session_staff_account_id"), ["staff_account_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_auth_session_staff_account_id_staff_account"), "staff_account", ["staff_account_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_auth_session_staff_account_id_staff_account"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_auth_session_staff_account_id"))
        batch_op.drop_column("staff_account_id")
    op.drop_table("oidc_pending_login")
    op.drop_table("staff_account")
