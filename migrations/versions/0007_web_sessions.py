"""dashboard session versions and the webhook html_pages flag

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dashboard_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), nullable=False,
                                      server_default="1"))
    with op.batch_alter_table("trigger", schema=None) as batch_op:
        batch_op.add_column(sa.Column("html_pages", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("trigger", schema=None) as batch_op:
        batch_op.drop_column("html_pages")
    with op.batch_alter_table("dashboard_user", schema=None) as batch_op:
        batch_op.drop_column("session_version")
