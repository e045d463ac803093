"""establishment batch feeds, VSM and DLU (issue 6)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22 21:00:00

Reserved in the chain so that parallel work on issues 6, 7 and 8 lands without forked heads;
a revision with nothing to create stays a no-op.
"""

from __future__ import annotations

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
