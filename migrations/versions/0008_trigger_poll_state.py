"""trigger poll state: whether the poller can watch a DB trigger, and why not

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trigger", schema=None) as batch_op:
        batch_op.add_column(sa.Column("poll_state", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("poll_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("poll_state_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trigger", schema=None) as batch_op:
        batch_op.drop_column("poll_state_at")
        batch_op.drop_column("poll_error")
        batch_op.drop_column("poll_state")
