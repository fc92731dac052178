"""Prometheus metrics at ``/metrics``, in the text exposition format.

Two sources:

* The own database, read at scrape time, so the numbers are right whichever process runs the
  workers and the poller: jobs by state and trigger kind, the age of the oldest due pending job,
  jobs finished in the last :data:`WINDOW` seconds by final state and their duration quantiles,
  and how long ago each watched (connection, model) poll cursor was last touched.
* This web process: webhook requests by HTTP status and their latency, and the Odoo RPC calls
  of the clients this process holds (webhook handlers run here). Each app owns its registry, so
  several apps in one process (the tests) never share or collide. Under gunicorn each worker
  process counts its own requests only.

Every read is a cheap aggregate in one short read transaction (read-only, with a statement
timeout, on PostgreSQL): the scrape never takes a lock a writer waits for (MVCC on PostgreSQL,
WAL on SQLite). A database that does not answer,
or is not migrated, gives a 503 with a one-line reason, never a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from flask.blueprints import BlueprintSetupState
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from connector.connections import ClientPool
from connector.jobstate import JobState
from connector.store.db import Database
from connector.store.models import (
    FINISHED_STATES,
    JOB_STATES,
    TRIGGER_KINDS,
    Job,
    OdooConnection,
    PollCursor,
    Project,
    Task,
    Trigger,
    utcnow,
)
from webui.auth import public

logger = logging.getLogger("syncstudio.metrics")

bp = Blueprint("metrics", __name__)

EXTENSION = "syncstudio.metrics"
WINDOW = 300  # seconds of "recent" finished jobs
QUANTILES = (0.5, 0.95)
DURATION_SAMPLE = 10_000  # jobs whose durations SQLite reads per scrape (PostgreSQL: all, in SQL)
STATEMENT_TIMEOUT_MS = 5000  # PostgreSQL: a scrape never runs longer than this per statement
NO_TRIGGER = "none"  # the kind label of jobs whose trigger was deleted
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_STARTED = "_syncstudio_webhook_started"  # key in flask.g

_JOBS, _TRIGGERS, _TASKS = Job.__table__, Trigger.__table__, Task.__table__
_PROJECTS, _CURSORS = Project.__table__, PollCursor.__table__
_CONNECTIONS = OdooConnection.__table__


# -- the own database ---------------------------------------------------------------------------


@dataclasses.dataclass
class DatabaseSnapshot:
    """What one scrape read from the own database."""

    jobs: dict[tuple[str, str], int]  # (state, kind) → jobs
    oldest_pending: float  # seconds; 0 when no pending job is due
    recent: dict[str, int]  # final state → jobs finished in the window
    durations: dict[float, float]  # quantile → seconds (NaN without finished jobs)
    # (connection name, model, seconds since touched, seconds since the last successful cycle)
    cursors: list[tuple[str, str, float, float]]
    # (project, trigger name, poll state) of every active DB trigger; "new": not polled yet
    triggers: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted ``values``, interpolated as PostgreSQL's percentile_cont."""
    if not values:
        return math.nan
    rank = q * (len(values) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return values[low] + (values[high] - values[low]) * (rank - low)


def _seconds(delta: dt.timedelta) -> float:
    return max(0.0, delta.total_seconds())


def _job_counts(conn: Connection) -> dict[tuple[str, str], int]:
    # Grouped on (trigger_id, state), which ix_job_trigger_state covers; the trigger table is
    # small, so its kinds are joined here rather than in SQL.
    kinds = dict(conn.execute(select(_TRIGGERS.c.id, _TRIGGERS.c.kind)).all())
    counts = {(state, kind): 0 for state in JOB_STATES for kind in (*TRIGGER_KINDS, NO_TRIGGER)}
    rows = conn.execute(select(_JOBS.c.trigger_id, _JOBS.c.state, func.count())
                        .group_by(_JOBS.c.trigger_id, _JOBS.c.state))
    for trigger_id, state, count in rows:
        key = (state, kinds.get(trigger_id, NO_TRIGGER))
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def _oldest_pending(conn: Connection, now: dt.datetime) -> float:
    # A pending job is due from next_attempt_at (eta, retry) or, when that is empty, from its
    # creation: exactly what the dispatcher sends (connector.jobs.due_job_ids).
    due = conn.execute(
        select(func.min(func.coalesce(_JOBS.c.next_attempt_at, _JOBS.c.created_at)))
        .where(_JOBS.c.state == JobState.PENDING,
               or_(_JOBS.c.next_attempt_at.is_(None), _JOBS.c.next_attempt_at <= now))
    ).scalar()
    return _seconds(now - due) if due is not None else 0.0


def _recent(conn: Connection, since: dt.datetime) -> tuple[dict[str, int], dict[float, float]]:
    window = and_(_JOBS.c.state.in_(FINISHED_STATES), _JOBS.c.finished_at >= since)
    recent = dict.fromkeys(FINISHED_STATES, 0)
    for state, count in conn.execute(select(_JOBS.c.state, func.count()).where(window)
                                     .group_by(_JOBS.c.state)):
        recent[state] = int(count)
    timed = and_(window, _JOBS.c.started_at.is_not(None))
    if conn.dialect.name == "postgresql":
        seconds = func.extract("epoch", _JOBS.c.finished_at - _JOBS.c.started_at)
        row = conn.execute(select(*(func.percentile_cont(q).within_group(seconds)
                                    for q in QUANTILES)).where(timed)).one()
        durations = {q: math.nan if value is None else max(0.0, float(value))
                     for q, value in zip(QUANTILES, row, strict=True)}
    else:
        pairs = conn.execute(select(_JOBS.c.started_at, _JOBS.c.finished_at).where(timed)
                             .limit(DURATION_SAMPLE))
        values = sorted(_seconds(finished - started) for started, finished in pairs)
        durations = {q: quantile(values, q) for q in QUANTILES}
    return recent, durations


def _cursors(conn: Connection, now: dt.datetime) -> list[tuple[str, str, float, float]]:
    # Only models an active DB trigger watches (what Poller.watched polls): a cursor left
    # behind by a removed trigger would otherwise age forever. The poller touches updated_at
    # each cycle when it takes the model's lease (connector.detection.lease.acquire), and again
    # when it saves the cycle's state, and sets polled_at when a cycle succeeded; a watched
    # model with no cursor (or no successful cycle) was never polled: +Inf.
    watched = set(conn.execute(
        select(_PROJECTS.c.connection_id, _TRIGGERS.c.model).distinct()
        .join(_TASKS, _TRIGGERS.c.task_id == _TASKS.c.id)
        .join(_PROJECTS, _TRIGGERS.c.project_id == _PROJECTS.c.id)
        .where(_TRIGGERS.c.kind == "db", _TRIGGERS.c.active.is_(True),
               _TASKS.c.active.is_(True), _PROJECTS.c.active.is_(True),
               _PROJECTS.c.connection_id.is_not(None), _TRIGGERS.c.model.is_not(None))
    ).all())
    if not watched:
        return []
    # Named by the connection's name, except the name a project file's import makes up,
    # login@url/db, which would publish the login: that one is shown as url/db.
    names = {}
    for key, name, login, url, database in conn.execute(
            select(_CONNECTIONS.c.id, _CONNECTIONS.c.name, _CONNECTIONS.c.login,
                   _CONNECTIONS.c.url, _CONNECTIONS.c.database)):
        names[key] = f"{url}/{database}" if name == f"{login}@{url}/{database}" else name
    stamps = {(connection_id, model): (updated, polled)
              for connection_id, model, updated, polled in conn.execute(
                  select(_CURSORS.c.connection_id, _CURSORS.c.model, _CURSORS.c.updated_at,
                         _CURSORS.c.polled_at))}

    def age(at: dt.datetime | None) -> float:
        return _seconds(now - at) if at is not None else math.inf

    ages = []
    for connection_id, model in sorted(watched):
        updated, polled = stamps.get((connection_id, model), (None, None))
        ages.append((names.get(connection_id, str(connection_id)), model, age(updated),
                     age(polled)))
    return ages


#: The states a DB trigger's gauge reports (the poller's, plus "new" before its first cycle).
TRIGGER_STATES = ("new", "ok", "waiting", "error")


def _trigger_states(conn: Connection) -> list[tuple[str, str, str]]:
    rows = conn.execute(
        select(_PROJECTS.c.name, _TRIGGERS.c.trigger_name, _TRIGGERS.c.poll_state)
        .join(_PROJECTS, _TRIGGERS.c.project_id == _PROJECTS.c.id)
        .where(_TRIGGERS.c.kind == "db", _TRIGGERS.c.active.is_(True),
               _PROJECTS.c.active.is_(True))
        .order_by(_PROJECTS.c.name, _TRIGGERS.c.trigger_name))
    return [(project, name, state or "new") for project, name, state in rows]


def read_database(db: Database, now: dt.datetime | None = None) -> DatabaseSnapshot:
    """Read every database metric in one short read-only transaction."""
    now = now or utcnow()
    with db.engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION READ ONLY"))
            conn.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
        jobs = _job_counts(conn)
        oldest = _oldest_pending(conn, now)
        recent, durations = _recent(conn, now - dt.timedelta(seconds=WINDOW))
        cursors = _cursors(conn, now)
        triggers = _trigger_states(conn)
    return DatabaseSnapshot(jobs, oldest, recent, durations, cursors, triggers)


class DatabaseCollector(Collector):
    """Metrics read from the own database at each scrape."""

    def __init__(self, database: Callable[[], Database]) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        snap = read_database(self.database())
        jobs = GaugeMetricFamily("syncstudio_jobs", "Jobs in the own database by state and by "
                                 "the kind of their trigger ('none': trigger deleted).",
                                 labels=["state", "kind"])
        for (state, kind), count in sorted(snap.jobs.items()):
            jobs.add_metric([state, kind], count)
        yield jobs
        yield GaugeMetricFamily("syncstudio_oldest_pending_job_seconds",
                                "Seconds the oldest due pending job has been waiting "
                                "(0: none is due).", value=snap.oldest_pending)
        recent = GaugeMetricFamily("syncstudio_recent_finished_jobs",
                                   f"Jobs finished in the last {WINDOW} seconds by final state.",
                                   labels=["state"])
        for state, count in snap.recent.items():
            recent.add_metric([state], count)
        yield recent
        durations = GaugeMetricFamily(
            "syncstudio_recent_job_duration_seconds",
            f"Quantiles of finished_at - started_at (last attempt) of the jobs finished in the "
            f"last {WINDOW} seconds (NaN: none).", labels=["quantile"])
        for q, seconds in snap.durations.items():
            durations.add_metric([str(q)], seconds)
        yield durations
        cursors = GaugeMetricFamily(
            "syncstudio_poll_cursor_age_seconds",
            "Seconds since the poller last took or renewed the lease of a watched (connection, "
            "model), which it does each cycle, even idle or failed ones (+Inf: never polled).",
            labels=["connection", "model"])
        polled = GaugeMetricFamily(
            "syncstudio_poll_success_age_seconds",
            "Seconds since the last poll cycle of a watched (connection, model) that reached "
            "Odoo and saved its result (+Inf: none yet); it grows while Odoo is unreachable.",
            labels=["connection", "model"])
        for connection, model, touched, succeeded in snap.cursors:
            cursors.add_metric([connection, model], touched)
            polled.add_metric([connection, model], succeeded)
        yield cursors
        yield polled
        states = GaugeMetricFamily(
            "syncstudio_db_trigger_state",
            "1 for the poll state of each active DB trigger: ok, waiting (its connection is in "
            "trouble), error (the trigger itself cannot be watched; see its page), new.",
            labels=["project", "trigger", "state"])
        for project, name, state in snap.triggers:
            for each in TRIGGER_STATES:
                states.add_metric([project, name, each], 1.0 if each == state else 0.0)
        yield states


# -- this web process ---------------------------------------------------------------------------


class RpcCollector(Collector):
    """Odoo RPC calls sent by the clients of this process's pool (webhook handlers)."""

    def __init__(self, pool: Callable[[], ClientPool]) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        pool = self.pool()
        clients = pool.clients()
        family = CounterMetricFamily(
            "syncstudio_odoo_rpc_calls", "Odoo execute_kw calls sent by this web process "
            "(webhook handlers), by connection id, model and method.",
            labels=["connection_id", "model", "method"])
        for connection_id, client in sorted(clients, key=lambda item: item[0]):
            calls = dict.copy(client.calls)  # one C-level copy: safe while handlers count
            for (model, method), count in sorted(calls.items()):
                family.add_metric([str(connection_id), model, method], count)
        yield family


@dataclasses.dataclass
class WebMetrics:
    """The registry an app owns, with its per-process metrics."""

    registry: CollectorRegistry
    webhook_requests: Counter
    webhook_latency: Histogram

    def observe_webhook(self, status: int, seconds: float) -> None:
        """Count one webhook response."""
        self.webhook_requests.labels(status=str(status)).inc()
        self.webhook_latency.observe(seconds)


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    app = state.app
    registry = CollectorRegistry()
    web = WebMetrics(
        registry=registry,
        webhook_requests=Counter("syncstudio_webhook_requests", "Webhook requests answered by "
                                 "this web process, by HTTP status.", ["status"],
                                 registry=registry),
        webhook_latency=Histogram("syncstudio_webhook_duration_seconds", "Seconds from the "
                                  "start of a webhook request to its response, in this web "
                                  "process.", buckets=WEBHOOK_BUCKETS, registry=registry),
    )
    registry.register(DatabaseCollector(lambda: app.extensions["syncstudio.db"]))
    registry.register(RpcCollector(lambda: app.extensions["syncstudio.worker"].pool))
    app.extensions[EXTENSION] = web


def _is_webhook() -> bool:
    return request.blueprint == "webhooks"


@bp.before_app_request
def _start_webhook_timer() -> None:
    if _is_webhook():
        setattr(g, _STARTED, time.perf_counter())


@bp.after_app_request
def _count_webhook(response: Response) -> Response:
    started = g.pop(_STARTED, None)
    if started is not None:
        current_app.extensions[EXTENSION].observe_webhook(
            response.status_code, time.perf_counter() - started)
    return response


@bp.teardown_app_request
def _count_failed_webhook(_exc: BaseException | None) -> None:
    # Reached with the timer still set only when no response was made (an exception escaped).
    started = g.pop(_STARTED, None)
    if started is not None:
        current_app.extensions[EXTENSION].observe_webhook(500, time.perf_counter() - started)


@bp.get("/metrics")
@public
def metrics() -> Any:
    """Every metric in Prometheus's text format; 503 when the own database cannot be read."""
    token = current_app.config["SETTINGS"].metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token.reveal()}".encode()):
            return Response("a bearer token is required (SYNCSTUDIO_METRICS_TOKEN)\n",
                            status=401, mimetype="text/plain",
                            headers={"WWW-Authenticate": "Bearer"})
    registry = _scrape_registry()
    try:
        body = generate_latest(registry)
    except SQLAlchemyError as exc:  # down, not migrated, timed out: say so briefly
        logger.warning("metrics scrape failed: %s: %s", type(exc).__name__, exc)
        return _unavailable(f"the own database could not be read ({type(exc).__name__})")
    except Exception as exc:  # a bug or odd data: the log has the traceback, not the answer
        logger.exception("metrics scrape failed")
        return _unavailable(f"{type(exc).__name__}; see the web process log")
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def _scrape_registry() -> CollectorRegistry:
    """This app's registry; under several web processes (``PROMETHEUS_MULTIPROC_DIR`` set by
    ``syncstudio web --processes N``) a registry pooling every process's counters instead, so
    a scrape answered by any process reports the same totals. The RPC call counts live in each
    process's clients and are left out there."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return current_app.extensions[EXTENSION].registry
    from prometheus_client import multiprocess

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(DatabaseCollector(lambda: app.extensions["syncstudio.db"]))
    return registry


def _unavailable(reason: str) -> Response:
    return Response(f"metrics unavailable: {reason}\n", status=503, mimetype="text/plain")
