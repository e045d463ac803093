"""patient logins: accounts, one-time codes, sessions, throttle, delegations

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendmp.kit.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("backoff_until", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "delegation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("delegate_ins_system", sa.String(length=40), nullable=False),
        sa.Column("delegate_ins_value", sa.String(length=15), nullable=False),
        sa.Column("delegate_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_delegation_record_id_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delegation")),
    )
    with op.batch_alter_table("delegation", schema=None) as batch_op:
        batch_op.create_index("ix_delegation_delegate", ["delegate_ins_system", "delegate_ins_value"], unique=False)
        batch_op.create_index(batch_op.f("ix_delegation_record_id"), ["record_id"], unique=False)

    op.create_table(
        "patient_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("login_id", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("password_changed_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("activation_digest", sa.String(length=64), nullable=True),
        sa.Column("activation_expires_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("card_serial", sa.String(length=20), nullable=True),
        sa.Column("second_factor", sa.String(length=10), nullable=False),
        sa.Column("totp_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("totp_last_counter", sa.Integer(), nullable=True),
        sa.Column("activated_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_patient_account_record_id_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_account")),
        sa.UniqueConstraint("activation_digest", name=op.f("uq_patient_account_activation_digest")),
        sa.UniqueConstraint("login_id", name=op.f("uq_patient_account_login_id")),
        sa.UniqueConstraint("record_id", name=op.f("uq_patient_account_record_id")),
    )
    op.create_table(
        "auth_session",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=15), nullable=False),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=30), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["patient_account.id"], name=op.f("fk_auth_session_account_id_patient_account")
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_auth_session")),
    )
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_session_account_id"), ["account_id"], unique=False)

    op.create_table(
        "one_time_code",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=True),
        sa.Column("created_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["patient_account.id"], name=op.f("fk_one_time_code_account_id_patient_account")
        ),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_one_time_code_record_id_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_code")),
    )
    with op.batch_alter_table("one_time_code", schema=None) as batch_op:
        batch_op.create_index("ix_one_time_code_account_purpose", ["account_id", "purpose"], unique=False)

    with op.batch_alter_table("legal_representative", schema=None) as batch_op:
        batch_op.create_index("ix_legal_representative_ins", ["ins_system", "ins_value"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("legal_representative", schema=None) as batch_op:
        batch_op.drop_index("ix_legal_representative_ins")

    with op.batch_alter_table("one_time_code", schema=None) as batch_op:
        batch_op.drop_index("ix_one_time_code_account_purpose")

    op.drop_table("one_time_code")
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_session_account_id"))

    op.drop_table("auth_session")
    op.drop_table("patient_account")
    with op.batch_alter_table("delegation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delegation_record_id"))
        batch_op.drop_index("ix_delegation_delegate")

    op.drop_table("delegation")
    op.drop_table("login_throttle")
