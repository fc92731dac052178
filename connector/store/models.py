"""SQLAlchemy models of the own database: every concept of the product.

Times are stored as naive UTC datetimes. Secret values are stored encrypted (see
:mod:`connector.store.crypto`); the columns holding them end in ``_enc``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.orm.base import NEVER_SET, NO_VALUE

from connector.jobstate import FINISHED, JobState

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time as a naive UTC datetime, the form every column stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of every model."""

    metadata = MetaData(naming_convention=NAMING)


class OdooConnection(Base):
    """How to reach one Odoo database: URL, database, login, secret password or API key."""

    __tablename__ = "odoo_connection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    database: Mapped[str] = mapped_column(String(200))
    login: Mapped[str] = mapped_column(String(200))
    password_enc: Mapped[str | None] = mapped_column(Text, default=None)
    protocol: Mapped[str] = mapped_column(String(20), default="jsonrpc")
    timeout: Mapped[float] = mapped_column(Float, default=30.0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    projects: Mapped[list[Project]] = relationship(back_populates="connection")


class Project(Base):
    """An integration: its Odoo connection, params, secrets, code layers and tasks."""

    __tablename__ = "project"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("odoo_connection.id", ondelete="SET NULL"), default=None
    )
    protected_code: Mapped[str] = mapped_column(Text, default="")
    common_code: Mapped[str] = mapped_column(Text, default="")
    # Per-project overrides of the sandbox limits (None: the settings' values).
    job_cpu_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    job_memory_mb: Mapped[int | None] = mapped_column(Integer, default=None)
    job_wall_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    connection: Mapped[OdooConnection | None] = relationship(back_populates="projects")
    params: Mapped[list[ProjectParam]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="ProjectParam.key"
    )
    texts: Mapped[list[ProjectText]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="ProjectText.key"
    )
    secrets: Mapped[list[ProjectSecret]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="ProjectSecret.key"
    )
    tasks: Mapped[list[Task]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="Task.id"
    )


class ProjectParam(Base):
    """A key/value parameter of a project, readable by task code as ``params.KEY``."""

    __tablename__ = "project_param"
    __table_args__ = (UniqueConstraint("project_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(Text, default="")

    project: Mapped[Project] = relationship(back_populates="params")


class ProjectText(Base):
    """A multi-line text of a project (a message template …), readable as ``texts.KEY``."""

    __tablename__ = "project_text"
    __table_args__ = (UniqueConstraint("project_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(Text, default="")

    project: Mapped[Project] = relationship(back_populates="texts")


class ProjectSecret(Base):
    """A secret of a project: its name is public, its value encrypted and for Managers only."""

    __tablename__ = "project_secret"
    __table_args__ = (UniqueConstraint("project_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    value_enc: Mapped[str | None] = mapped_column(Text, default=None)

    project: Mapped[Project] = relationship(back_populates="secrets")


class Task(Base):
    """A piece of task code with its ``handle_*`` functions and its triggers."""

    __tablename__ = "task"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    code: Mapped[str] = mapped_column(Text, default="")

    project: Mapped[Project] = relationship(back_populates="tasks")
    triggers: Mapped[list[Trigger]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="Trigger.id"
    )


TRIGGER_KINDS = ("cron", "db", "webhook", "button")
DB_CONDITIONS = ("create", "write", "create_or_write", "unlink", "time")
HANDLERS = {
    "cron": "handle_cron",
    "db": "handle_db",
    "webhook": "handle_webhook",
    "button": "handle_button",
}


class Trigger(Base):
    """When a task runs: one row per trigger, ``kind`` says which of the four kinds it is.

    The kinds share one table because jobs, logs and the dashboard treat them alike; the columns
    of the other kinds stay empty.
    """

    __tablename__ = "trigger"
    __table_args__ = (UniqueConstraint("project_id", "trigger_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    trigger_name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # cron
    interval: Mapped[int | None] = mapped_column(Integer, default=None)
    interval_unit: Mapped[str | None] = mapped_column(String(10), default=None)
    next_run_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    scheduler_user: Mapped[str | None] = mapped_column(String(200), default=None)
    # db
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    condition: Mapped[str | None] = mapped_column(String(20), default=None)
    domain: Mapped[str | None] = mapped_column(Text, default=None)
    before_domain: Mapped[str | None] = mapped_column(Text, default=None)
    watched_fields_json: Mapped[str | None] = mapped_column(Text, default=None)
    date_field: Mapped[str | None] = mapped_column(String(200), default=None)
    delay: Mapped[int | None] = mapped_column(Integer, default=None)
    delay_unit: Mapped[str | None] = mapped_column(String(10), default=None)
    when: Mapped[str | None] = mapped_column(String(10), default=None)
    # what the poller last found: None (not polled yet), "ok", "error" (see poll_error),
    # "waiting" (its connection is down or refuses the login)
    poll_state: Mapped[str | None] = mapped_column(String(20), default=None)
    poll_error: Mapped[str | None] = mapped_column(Text, default=None)
    poll_state_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    # webhook
    webhook_type: Mapped[str | None] = mapped_column(String(10), default=None)
    token: Mapped[str | None] = mapped_column(String(100), unique=True, default=None)
    # A webhook may answer with HTML pages that load images and styles; its answers stay
    # sandboxed (no script, no access to the dashboard's origin) either way.
    html_pages: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # button
    data_json: Mapped[str | None] = mapped_column(Text, default=None)

    task: Mapped[Task] = relationship(back_populates="triggers")

    @property
    def handler(self) -> str:
        """The name of the task function this trigger calls."""
        return HANDLERS[self.kind]

    @property
    def watched_fields(self) -> list[str]:
        """Watched field names of a DB trigger (empty: any change counts)."""
        return list(json.loads(self.watched_fields_json)) if self.watched_fields_json else []

    @property
    def data(self) -> Any:
        """The button's data, decoded, or None."""
        return json.loads(self.data_json) if self.data_json else None


JOB_STATES: tuple[str, ...] = tuple(state.value for state in JobState)
FINISHED_STATES: tuple[str, ...] = tuple(state.value for state in FINISHED)


class Job(Base):
    """One run of one handler. The own database is the source of truth for its state."""

    __tablename__ = "job"
    __table_args__ = (
        Index("ix_job_state_next", "state", "next_attempt_at"),
        Index("ix_job_trigger_state", "trigger_id", "state"),
        Index("ix_job_identity", "identity_key", "state"),
        # Retention and the metrics' recent-jobs window scan finished jobs by time.
        Index("ix_job_state_finished", "state", "finished_at"),
        # The bound on jobs per tree counts a tree's jobs by its root.
        Index("ix_job_root", "root_id"),
        # The dashboard's jobs list: newest first, filtered by one of these.
        Index("ix_job_project_id", "project_id", "id"),
        Index("ix_job_task_id", "task_id", "id"),
        Index("ix_job_trigger_id", "trigger_id", "id"),
        Index("ix_job_state_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id", ondelete="SET NULL"))
    trigger_id: Mapped[int | None] = mapped_column(
        ForeignKey("trigger.id", ondelete="SET NULL"), default=None
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("job.id", ondelete="SET NULL"), default=None
    )
    #: The first job of this job's tree (None for a job that is a root itself).
    root_id: Mapped[int | None] = mapped_column(Integer, default=None)
    #: 0 for a root job, 1 for its sub-jobs, and so on.
    depth: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    function: Mapped[str] = mapped_column(String(200))
    args_json: Mapped[str] = mapped_column(Text, default="[]")
    kwargs_json: Mapped[str] = mapped_column(Text, default="{}")
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    state: Mapped[str] = mapped_column(String(20), default=JobState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int | None] = mapped_column(Integer, default=None)
    priority: Mapped[int] = mapped_column(Integer, default=10)
    eta: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    identity_key: Mapped[str | None] = mapped_column(String(255), default=None)
    user: Mapped[str | None] = mapped_column(String(200), default=None)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    result_json: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    traceback: Mapped[str | None] = mapped_column(Text, default=None)

    @property
    def args(self) -> list[Any]:
        """Positional arguments, decoded."""
        return list(json.loads(self.args_json or "[]"))

    @property
    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments, decoded."""
        return dict(json.loads(self.kwargs_json or "{}"))


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_TYPES = ("server", "data_out", "data_in")


class Log(Base):
    """One line of a job's execution log."""

    __tablename__ = "log"
    __table_args__ = (
        Index("ix_log_project_created", "project_id", "created_at"),
        # The dashboard's logs page: newest first, filtered by one of these.
        Index("ix_log_project_id", "project_id", "id"),
        Index("ix_log_task_id", "task_id", "id"),
        Index("ix_log_trigger_id", "trigger_id", "id"),
        Index("ix_log_level_id", "level", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("job.id", ondelete="CASCADE"), default=None, index=True
    )
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), default=None
    )
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("task.id", ondelete="SET NULL"), default=None
    )
    trigger_id: Mapped[int | None] = mapped_column(
        ForeignKey("trigger.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    level: Mapped[str] = mapped_column(String(10), default="info")
    type: Mapped[str] = mapped_column(String(10), default="server")
    message: Mapped[str] = mapped_column(Text, default="")


class Link(Base):
    """A relation between an Odoo record and external objects (or between two external ones).

    Side 1 is Odoo when ``odoo_model`` is set (``ref1`` is then the record id); otherwise both
    sides are external systems named by ``system1``/``system2``.
    """

    __tablename__ = "link"
    __table_args__ = (
        Index("ix_link_side1", "project_id", "relation", "system1", "ref1"),
        Index("ix_link_side2", "project_id", "relation", "system2", "ref2"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    relation: Mapped[str] = mapped_column(String(200))
    odoo_model: Mapped[str | None] = mapped_column(String(200), default=None)
    system1: Mapped[str] = mapped_column(String(100))
    ref1: Mapped[str] = mapped_column(String(255))
    system2: Mapped[str] = mapped_column(String(100))
    ref2: Mapped[str] = mapped_column(String(255))
    sync_date: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PollCursor(Base):
    """Where change detection stands for one (connection, model)."""

    __tablename__ = "poll_cursor"
    __table_args__ = (UniqueConstraint("connection_id", "model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("odoo_connection.id", ondelete="CASCADE")
    )
    model: Mapped[str] = mapped_column(String(200))
    # Odoo's own RPC string ('YYYY-MM-DD HH:MM:SS'), kept verbatim so comparisons stay Odoo's.
    last_write_date: Mapped[str | None] = mapped_column(String(32), default=None)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    state_json: Mapped[str | None] = mapped_column(Text, default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # The end of the last cycle that reached Odoo and saved its result (updated_at also moves
    # on cycles that fail): what "detection is working" means to a monitor. The poller saves
    # it with the next cycle's lease, so it lags by up to one poll interval.
    polled_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)


class PollStat(Base):
    """What the poller saw of one connection during one minute: cycles, failed cycles, Odoo
    RPC calls, detection latencies (seconds from a record's write_date to its job, a capped
    sample) and the connection's last error. The dashboard's home page reads it."""

    __tablename__ = "poll_stat"
    __table_args__ = (UniqueConstraint("connection_id", "minute"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("odoo_connection.id", ondelete="CASCADE")
    )
    minute: Mapped[dt.datetime] = mapped_column(DateTime)
    cycles: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_cycles: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rpc_calls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    latencies_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class RecordSnapshot(Base):
    """The last known values of the fields triggers need, for one Odoo record."""

    __tablename__ = "record_snapshot"
    __table_args__ = (UniqueConstraint("connection_id", "model", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("odoo_connection.id", ondelete="CASCADE")
    )
    model: Mapped[str] = mapped_column(String(200))
    record_id: Mapped[int] = mapped_column(Integer)
    write_date: Mapped[str | None] = mapped_column(String(32), default=None)
    fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)
    values_json: Mapped[str] = mapped_column(Text, default="{}")


ROLES = ("user", "developer", "manager")


class DashboardUser(Base):
    """A person who logs in to the dashboard, with a role: user, developer or manager."""

    __tablename__ = "dashboard_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20), default="user")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Part of every session cookie; bumped on logout and on a password change, so a cookie
    # copied before either no longer logs anyone in.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class InstallationValue(Base):
    """A value every process of one installation shares, whatever its own environment says
    (e.g. the public base URL of webhooks, recorded by the web process)."""

    __tablename__ = "installation_value"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


@event.listens_for(DashboardUser.password_hash, "set")
def _new_password_ends_sessions(target: DashboardUser, value: Any, old: Any,
                                _initiator: Any) -> None:
    # Only a change of an existing password: a new user starts at version 1.
    if old not in (value, NO_VALUE, NEVER_SET) and target.session_version is not None:
        target.session_version = target.session_version + 1
