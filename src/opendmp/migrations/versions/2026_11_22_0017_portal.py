"""portal: notification preferences and other page state (issue 7)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-22 21:00:00

Reserved in the chain so that parallel work on issues 6, 7 and 8 lands without forked heads;
a revision with nothing to create stays a no-op.
"""

from __future__ import annotations

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
