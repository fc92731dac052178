"""job tree: root_id and depth, for the bounds on sub-jobs per tree and per depth

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("root_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("depth", sa.Integer(), server_default="0",
                                      nullable=False))
        batch_op.create_index("ix_job_root", ["root_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("ix_job_root")
        batch_op.drop_column("depth")
        batch_op.drop_column("root_id")
