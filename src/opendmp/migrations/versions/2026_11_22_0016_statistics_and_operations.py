"""statistics aggregates: weekly counters, activations, empty records, openers, feeders, weekly users

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-22 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import opendmp.kit.base

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _counter(name: str, *keys: sa.Column[object]) -> None:
    op.create_table(
        name,
        *keys,
        sa.Column("stripe", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*[k.name for k in keys], "stripe", name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    _counter(
        "stats_opening_week",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=30), nullable=False),
    )
    _counter("stats_opening_region", sa.Column("region", sa.String(length=3), nullable=False))
    _counter(
        "stats_document_week",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
    )
    _counter(
        "stats_document_type",
        sa.Column("class_code", sa.String(length=60), nullable=False),
        sa.Column("type_code", sa.String(length=20), nullable=False),
    )
    _counter("stats_activation_day", sa.Column("day", sa.Date(), nullable=False))
    _counter("stats_filled_day", sa.Column("opened_day", sa.Date(), nullable=False))
    _counter("stats_week_active", sa.Column("week", sa.Date(), nullable=False))
    op.create_table(
        "stats_opener",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("identifier", sa.String(length=11), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "identifier", name=op.f("pk_stats_opener")),
    )
    op.create_table(
        "stats_feeder",
        sa.Column("finess", sa.String(length=9), nullable=False),
        sa.Column("organisation_kind", sa.String(length=30), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("finess", name=op.f("pk_stats_feeder")),
    )
    op.create_table(
        "stats_week_user",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("user_hash", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("week", "user_hash", name=op.f("pk_stats_week_user")),
    )
    with op.batch_alter_table("record") as batch:
        batch.add_column(sa.Column("first_document_at", opendmp.kit.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("record") as batch:
        batch.drop_column("first_document_at")
    for name in (
        "stats_week_user",
        "stats_feeder",
        "stats_opener",
        "stats_week_active",
        "stats_filled_day",
        "stats_activation_day",
        "stats_document_type",
        "stats_document_week",
        "stats_opening_region",
        "stats_opening_week",
    ):
        op.drop_table(name)
