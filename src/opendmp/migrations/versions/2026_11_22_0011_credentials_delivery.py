"""credentials delivery: how and when the current activation code reached its holder

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendmp.kit.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patient_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("delivered_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patient_account", schema=None) as batch_op:
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("delivery")
