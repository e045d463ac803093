"""stats counters: records opened and documents added per day, maintained with each event

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 20:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_opening_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("region", sa.String(length=3), nullable=False),
        sa.Column("department", sa.String(length=3), nullable=False),
        sa.Column("organisation_kind", sa.String(length=30), nullable=False),
        sa.Column("stripe", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "channel", "region", "department", "organisation_kind", "stripe", name=op.f("pk_stats_opening_day")
        ),
    )
    op.create_table(
        "stats_document_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("class_code", sa.String(length=60), nullable=False),
        sa.Column("type_code", sa.String(length=20), nullable=False),
        sa.Column("stripe", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "source", "class_code", "type_code", "stripe", name=op.f("pk_stats_document_day")
        ),
    )


def downgrade() -> None:
    op.drop_table("stats_document_day")
    op.drop_table("stats_opening_day")
