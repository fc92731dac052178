"""The home page: is everything working, and if not, what to fix — readable at a glance.

Per Odoo connection: up or down, the last successful poll, detection latency (p50/p95) and Odoo
RPC calls per minute (from the poller's ``poll_stat`` rows), and its DB triggers in error with
their reason. Then jobs per state over the last 24 hours as a small server-drawn chart, and the
latest failures. Every figure is one cheap aggregate over an index.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from flask import render_template
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connector.jobstate import JobState
from connector.store.models import (
    JOB_STATES,
    Job,
    OdooConnection,
    PollCursor,
    PollStat,
    Project,
    Task,
    Trigger,
    utcnow,
)
from webui.auth import role_required
from webui.dashboard import bp, database
from webui.dashboard.chart import Bar, stacked_bars
from webui.metrics import quantile

HOURS = 24
FAILURES = 10
LATENCY_WINDOW = dt.timedelta(hours=1)
RATE_WINDOW = 5  # minutes of RPC calls averaged into "calls per minute"
#: Without a poller cycle for this long a connection's figures are called stale.
STALE = dt.timedelta(minutes=3)
STATE_COLOURS: dict[str, str] = {JobState.DONE: "#3a9d5d", JobState.DONE_WARNINGS: "#e0a526",
                 JobState.FAILED: "#d64545", JobState.PENDING: "#a68ad6",
                 JobState.ENQUEUED: "#6c9be0", JobState.STARTED: "#3f7fd9"}


@dataclasses.dataclass
class ConnectionHealth:
    """What the home page says about one connection."""

    id: int
    name: str
    projects: list[str]
    status: str  # up, down, stale (no recent poller cycle), idle (no DB trigger polls it)
    reason: str | None
    last_poll: dt.datetime | None
    p50: float | None
    p95: float | None
    rpc_per_minute: float | None
    broken: list[dict[str, Any]]


def shown_name(name: str, login: str, url: str, database_name: str) -> str:
    """The connection's name; the made-up ``login@url/db`` of an import is shown as url/db."""
    return f"{url}/{database_name}" if name == f"{login}@{url}/{database_name}" else name


def _connections(session: Session, now: dt.datetime) -> list[ConnectionHealth]:
    projects: dict[int | None, list[str]] = {}
    for conn_id, name in session.execute(select(Project.connection_id, Project.name)
                                         .where(Project.connection_id.is_not(None))
                                         .order_by(Project.name)):
        projects.setdefault(conn_id, []).append(name)
    watched: dict[int | None, int] = dict(session.execute(
        select(Project.connection_id, func.count(Trigger.id))
        .join(Project, Trigger.project_id == Project.id)
        .join(Task, Trigger.task_id == Task.id)
        .where(Trigger.kind == "db", Trigger.active.is_(True), Task.active.is_(True),
               Project.active.is_(True))
        .group_by(Project.connection_id)).all())
    polled = dict(session.execute(select(PollCursor.connection_id, func.max(PollCursor.polled_at))
                                  .group_by(PollCursor.connection_id)).all())
    broken: dict[int | None, list[dict[str, Any]]] = {}
    for trig_id, trig_name, state, error, project, conn_id in session.execute(
            select(Trigger.id, Trigger.trigger_name, Trigger.poll_state, Trigger.poll_error,
                   Project.name, Project.connection_id)
            .join(Project, Trigger.project_id == Project.id)
            .where(Trigger.kind == "db", Trigger.active.is_(True),
                   Trigger.poll_state.in_(("error", "waiting")))
            .order_by(Project.name, Trigger.trigger_name)):
        broken.setdefault(conn_id, []).append(dict(id=trig_id, name=trig_name, state=state,
                                                   reason=error, project=project))
    stats: dict[int, list[PollStat]] = {}
    for row in session.scalars(select(PollStat).where(PollStat.minute >= now - LATENCY_WINDOW)
                               .order_by(PollStat.minute)):
        stats.setdefault(row.connection_id, []).append(row)
    found = []
    for conn in session.scalars(select(OdooConnection).order_by(OdooConnection.name)):
        rows = stats.get(conn.id, [])
        latest = rows[-1] if rows else None
        samples = sorted(value for row in rows for value in json.loads(row.latencies_json))
        recent = [row for row in rows if row.minute >= now - dt.timedelta(minutes=RATE_WINDOW)]
        waiting = [b for b in broken.get(conn.id, []) if b["state"] == "waiting"]
        if not watched.get(conn.id):
            status, reason = "idle", "no active DB trigger polls this connection"
        elif latest is None or now - latest.updated_at > STALE:
            status, reason = "stale", ("no poller cycle in the last "
                                       f"{int(STALE.total_seconds() // 60)} minutes: is "
                                       "`syncstudio run` or `syncstudio poller` running?")
        elif latest.error or waiting:
            status, reason = "down", latest.error or waiting[0]["reason"]
        else:
            status, reason = "up", None
        minutes = max(1, len(recent))
        found.append(ConnectionHealth(
            id=conn.id, name=shown_name(conn.name, conn.login, conn.url, conn.database),
            projects=projects.get(conn.id, []), status=status, reason=reason,
            last_poll=polled.get(conn.id),
            p50=quantile(samples, 0.5) if samples else None,
            p95=quantile(samples, 0.95) if samples else None,
            rpc_per_minute=sum(row.rpc_calls for row in recent) / minutes if recent else None,
            broken=broken.get(conn.id, [])))
    return found


def _hour(column: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return func.to_char(func.date_trunc("hour", column), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", column)


def _jobs_by_hour(session: Session, now: dt.datetime
                  ) -> tuple[list[Bar], dict[str, int], dict[int, int]]:
    """The chart's bars, the totals per state, and failed jobs per project: one query over
    the creation-time index."""
    start = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=HOURS - 1)
    hour = _hour(Job.created_at, session.get_bind().dialect.name)
    counts: dict[tuple[str, str], int] = {}
    failed: dict[int, int] = {}
    for label, state, project_id, count in session.execute(
            select(hour, Job.state, Job.project_id, func.count())
            .where(Job.created_at >= start)
            .group_by(hour, Job.state, Job.project_id)):
        key = (str(label), state)
        counts[key] = counts.get(key, 0) + int(count)
        if state == JobState.FAILED:
            failed[project_id] = failed.get(project_id, 0) + int(count)
    bars, totals = [], dict.fromkeys(JOB_STATES, 0)
    for step in range(HOURS):
        at = start + dt.timedelta(hours=step)
        label = at.strftime("%Y-%m-%d %H")
        parts = [(state, counts.get((label, state), 0)) for state in JOB_STATES]
        for state, count in parts:
            totals[state] += count
        bars.append(Bar(label=at.strftime("%H:00"), parts=parts))
    return bars, totals, failed


@bp.get("/")
@role_required("user")
def index() -> Any:
    """Health of every connection, jobs of the last 24 hours, the latest failures."""
    now = utcnow()
    with database().session() as session:
        connections = _connections(session, now)
        bars, totals, failed_by_project = _jobs_by_hour(session, now)
        failures = session.execute(
            select(Job.id, Job.finished_at, Job.error, Project.name, Task.name,
                   Trigger.trigger_name, Job.trigger_id, Job.task_id)
            .outerjoin(Project, Job.project_id == Project.id)
            .outerjoin(Task, Job.task_id == Task.id)
            .outerjoin(Trigger, Job.trigger_id == Trigger.id)
            .where(Job.state == JobState.FAILED).order_by(Job.id.desc()).limit(FAILURES)).all()
        due = session.scalar(select(func.min(func.coalesce(Job.next_attempt_at, Job.created_at)))
                             .where(Job.state == JobState.PENDING, (Job.next_attempt_at.is_(None))
                                    | (Job.next_attempt_at <= now)))
        projects = session.execute(select(Project.id, Project.name, Project.active)
                                   .order_by(Project.name)).all()
    chart = stacked_bars(bars, STATE_COLOURS)
    waiting = (now - due).total_seconds() if due is not None else 0.0
    return render_template("dashboard/home.html", connections=connections, chart=chart,
                           totals=totals, colours=STATE_COLOURS, failures=failures,
                           oldest_pending=waiting, has_projects=bool(projects), hours=HOURS,
                           projects=projects, failed_by_project=failed_by_project,
                           problems=sum(c.status == "down" or bool(c.broken)
                                        for c in connections))
