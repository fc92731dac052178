"""poll cursor polled_at: the last successful poll cycle of a model

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("poll_cursor", schema=None) as batch_op:
        batch_op.add_column(sa.Column("polled_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("poll_cursor", schema=None) as batch_op:
        batch_op.drop_column("polled_at")
