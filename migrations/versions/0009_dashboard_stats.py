"""dashboard: per-connection poll statistics, and indexes for the jobs and logs pages

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: (name, table, columns): what the jobs and logs pages filter on, newest first.
INDEXES = (
    ("ix_job_project_id", "job", ["project_id", "id"]),
    ("ix_job_task_id", "job", ["task_id", "id"]),
    ("ix_job_trigger_id", "job", ["trigger_id", "id"]),
    ("ix_job_state_id", "job", ["state", "id"]),
    ("ix_log_project_id", "log", ["project_id", "id"]),
    ("ix_log_task_id", "log", ["task_id", "id"]),
    ("ix_log_trigger_id", "log", ["trigger_id", "id"]),
    ("ix_log_level_id", "log", ["level", "id"]),
)


def upgrade() -> None:
    op.create_table(
        "poll_stat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.DateTime(), nullable=False),
        sa.Column("cycles", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failed_cycles", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rpc_calls", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("latencies_json", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["odoo_connection.id"],
                                name=op.f("fk_poll_stat_connection_id_odoo_connection"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_stat")),
        sa.UniqueConstraint("connection_id", "minute", name=op.f("uq_poll_stat_connection_id")),
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("poll_stat")
