"""/metrics: database metrics read at scrape time, per-process webhook and RPC metrics."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from connector.detection import lease
from connector.store.db import Database
from connector.store.models import (
    Job,
    OdooConnection,
    PollCursor,
    Project,
    Task,
    Trigger,
    utcnow,
)
from webui import create_app, metrics


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def ago(now: dt.datetime, seconds: float) -> dt.datetime:
    return now - dt.timedelta(seconds=seconds)


# -- jobs -------------------------------------------------------------------------------------


def make_triggers(session) -> dict[str, Trigger]:
    project = Project(name="Metrics")
    task = Task(project=project, name="T", code="")
    session.add_all([project, task])
    session.flush()
    triggers = {kind: Trigger(project_id=project.id, task=task, kind=kind,
                              trigger_name=kind.upper())
                for kind in ("cron", "db", "webhook", "button")}
    session.add_all(triggers.values())
    session.flush()
    return triggers


def add_job(session, trigger: Trigger | None, state: str, *, created: dt.datetime,
            next_attempt: dt.datetime | None = None, started: dt.datetime | None = None,
            finished: dt.datetime | None = None) -> None:
    project_id = trigger.project_id if trigger else session.scalar(select(Project.id))
    session.add(Job(project_id=project_id, task_id=None, trigger_id=trigger.id if trigger else None,
                    function="handle_cron", state=state, created_at=created,
                    next_attempt_at=next_attempt, started_at=started, finished_at=finished))


def test_job_metrics_from_the_database(db, settings):
    """Counts by state and kind, the oldest *due* pending job, the 5-minute window, quantiles;
    on SQLite and on PostgreSQL (SQL percentiles there, Python ones on SQLite)."""
    now = utcnow()
    with db.session() as session:
        t = make_triggers(session)
        # Pending: due since its creation 120 s ago; due since a retry time 300 s ago (created
        # later, so using created_at would say 120); not due yet though created an hour ago.
        add_job(session, t["cron"], "pending", created=ago(now, 120))
        add_job(session, t["cron"], "pending", created=ago(now, 30), next_attempt=ago(now, 300))
        add_job(session, t["db"], "pending", created=ago(now, 3600),
                next_attempt=now + dt.timedelta(seconds=600))
        add_job(session, t["db"], "enqueued", created=ago(now, 10))
        add_job(session, t["button"], "started", created=ago(now, 10), started=ago(now, 5))
        # Finished in the window: durations 1, 2, 3, 4 (done), 5 (warnings), 10 (failed).
        for seconds in (1, 2, 3, 4):
            add_job(session, t["webhook"], "done", created=ago(now, 60),
                    started=ago(now, 30 + seconds), finished=ago(now, 30))
        add_job(session, t["cron"], "done_warnings", created=ago(now, 60), started=ago(now, 45),
                finished=ago(now, 40))
        add_job(session, None, "failed", created=ago(now, 60), started=ago(now, 50),
                finished=ago(now, 40))
        # Finished an hour ago, 100 s long: outside the window.
        add_job(session, t["cron"], "done", created=ago(now, 4000), started=ago(now, 3700),
                finished=ago(now, 3600))
        # A postponed retry: pending with finished_at set, not a finished job.
        add_job(session, t["cron"], "pending", created=ago(now, 60), started=ago(now, 50),
                finished=ago(now, 20), next_attempt=now + dt.timedelta(seconds=60))

    app = create_app({"TESTING": True, "SETTINGS": settings, "DATABASE": db})
    samples = scrape(app.test_client())

    jobs = {labels: count for (name, labels), count in samples.items() if name == "syncstudio_jobs"}
    assert jobs[(("kind", "cron"), ("state", "pending"))] == 3
    assert jobs[(("kind", "db"), ("state", "pending"))] == 1
    assert jobs[(("kind", "db"), ("state", "enqueued"))] == 1
    assert jobs[(("kind", "button"), ("state", "started"))] == 1
    assert jobs[(("kind", "webhook"), ("state", "done"))] == 4
    assert jobs[(("kind", "cron"), ("state", "done"))] == 1
    assert jobs[(("kind", "cron"), ("state", "done_warnings"))] == 1
    assert jobs[(("kind", "none"), ("state", "failed"))] == 1
    assert jobs[(("kind", "webhook"), ("state", "failed"))] == 0  # zeros are exported too
    assert sum(jobs.values()) == 13

    assert value(samples, "syncstudio_oldest_pending_job_seconds") == pytest.approx(300, abs=5)

    assert value(samples, "syncstudio_recent_finished_jobs", state="done") == 4
    assert value(samples, "syncstudio_recent_finished_jobs", state="done_warnings") == 1
    assert value(samples, "syncstudio_recent_finished_jobs", state="failed") == 1
    # [1, 2, 3, 4, 5, 10], interpolated like percentile_cont: 3.5 and 5 + 0.75 * 5.
    assert value(samples, "syncstudio_recent_job_duration_seconds",
                 quantile="0.5") == pytest.approx(3.5, abs=0.01)
    assert value(samples, "syncstudio_recent_job_duration_seconds",
                 quantile="0.95") == pytest.approx(8.75, abs=0.01)


def test_empty_database_gives_zeros_and_nan(client):
    samples = scrape(client)
    assert value(samples, "syncstudio_oldest_pending_job_seconds") == 0
    assert value(samples, "syncstudio_recent_finished_jobs", state="done") == 0
    assert math.isnan(value(samples, "syncstudio_recent_job_duration_seconds", quantile="0.5"))
    assert value(samples, "syncstudio_jobs", state="pending", kind="webhook") == 0


def test_quantile_interpolates_like_percentile_cont():
    assert metrics.quantile([2.0], 0.95) == 2.0
    assert metrics.quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert metrics.quantile([0.0, 10.0], 0.95) == pytest.approx(9.5)
    assert math.isnan(metrics.quantile([], 0.5))


# -- poll cursors -----------------------------------------------------------------------------


def test_poll_cursor_age_of_watched_models(client, sqlite_db):
    now = utcnow()
    with sqlite_db.session() as session:
        connection = OdooConnection(name="prod", url="http://odoo", database="d", login="a")
        project = Project(name="Polled", connection=connection)
        task = Task(project=project, name="T", code="")
        off = Task(project=project, name="Off", code="", active=False)
        session.add_all([connection, project, task, off])
        session.flush()
        session.add_all([
            Trigger(project_id=project.id, task=task, kind="db", trigger_name="P",
                    model="res.partner", condition="write"),
            Trigger(project_id=project.id, task=task, kind="db", trigger_name="S",
                    model="sale.order", condition="create"),
            Trigger(project_id=project.id, task=off, kind="db", trigger_name="U",
                    model="res.users", condition="create"),
        ])
        session.flush()
        partner = PollCursor(connection_id=connection.id, model="res.partner",
                             updated_at=ago(now, 42), polled_at=ago(now, 100))
        # A cursor whose only trigger is inactive: no longer polled, not exported.
        users = PollCursor(connection_id=connection.id, model="res.users", updated_at=ago(now, 5))
        session.add_all([partner, users])
        session.flush()
        partner_id = partner.id

    samples = scrape(client)
    ages = {labels: age for (name, labels), age in samples.items()
            if name == "syncstudio_poll_cursor_age_seconds"}
    assert set(ages) == {(("connection", "prod"), ("model", "res.partner")),
                         (("connection", "prod"), ("model", "sale.order"))}
    assert ages[(("connection", "prod"), ("model", "res.partner"))] == pytest.approx(42, abs=5)
    assert ages[(("connection", "prod"), ("model", "sale.order"))] == math.inf  # never polled
    # The last cycle that succeeded is older than the last one that touched the cursor (the
    # ones since failed, e.g. Odoo was down).
    succeeded = {labels: age for (name, labels), age in samples.items()
                 if name == "syncstudio_poll_success_age_seconds"}
    assert set(succeeded) == set(ages)
    assert succeeded[(("connection", "prod"), ("model", "res.partner"))] == pytest.approx(
        100, abs=5)
    assert succeeded[(("connection", "prod"), ("model", "sale.order"))] == math.inf

    # Each poll cycle starts by taking the model's lease, which touches the cursor row, so an
    # idle cycle resets the age too.
    with sqlite_db.session() as session:
        assert lease.acquire(session, partner_id, "poller-1", utcnow(), 60)
    age = value(scrape(client), "syncstudio_poll_cursor_age_seconds",
                connection="prod", model="res.partner")
    assert age < 5


# -- webhooks (per process) -------------------------------------------------------------------


def webhook_counts(samples) -> dict[str, float]:
    return {dict(labels)["status"]: count for (name, labels), count in samples.items()
            if name == "syncstudio_webhook_requests_total"}


def test_webhook_requests_by_status_and_latency(app, client, tokens):
    hook = f"/webhooks/{tokens['JSON_HOOK']}"
    assert client.post(hook, json={}).status_code == 200
    assert client.post(hook, json={}).status_code == 200
    assert client.post(f"{hook}?mode=status", json={}).status_code == 201
    assert client.post(hook, data="{not json", content_type="application/json").status_code == 400
    assert client.post(f"{hook}?mode=boom", json={}).status_code == 500
    assert client.post("/webhooks/no-such-token", json={}).status_code == 404
    client.get("/health")  # other endpoints are not webhooks

    samples = scrape(client)
    assert webhook_counts(samples) == {"200": 2, "201": 1, "400": 1, "500": 1, "404": 1}
    assert value(samples, "syncstudio_webhook_duration_seconds_count") == 6
    assert value(samples, "syncstudio_webhook_duration_seconds_sum") > 0
    assert value(samples, "syncstudio_webhook_duration_seconds_bucket", le="+Inf") == 6
    # The token is a secret: it never becomes a label.
    assert tokens["JSON_HOOK"] not in client.get("/metrics").get_data(as_text=True)

    # Each app owns its registry: a second app in this process starts from zero.
    other = create_app({"TESTING": True, "SETTINGS": app.config["SETTINGS"],
                        "DATABASE": app.extensions["syncstudio.db"]})
    assert webhook_counts(scrape(other.test_client())) == {}
    assert webhook_counts(scrape(client))["200"] == 2


@pytest.mark.parametrize("propagate", [True, False])
def test_webhook_that_raises_is_counted_as_500(app, client, tokens, monkeypatch, propagate):
    """An exception escaping the relay still counts: after_request sees Flask's 500, or, when
    the exception propagates (testing, debug), the teardown hook records it."""
    from webui import webhooks

    def broken(conn, token):
        raise RuntimeError("the relay broke")

    monkeypatch.setattr(webhooks, "_find_trigger", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = propagate
    if propagate:
        with pytest.raises(RuntimeError):
            client.post(f"/webhooks/{tokens['JSON_HOOK']}", json={})
    else:
        assert client.post(f"/webhooks/{tokens['JSON_HOOK']}", json={}).status_code == 500
    samples = scrape(client)
    assert webhook_counts(samples) == {"500": 1}
    assert value(samples, "syncstudio_webhook_duration_seconds_count") == 1


# -- RPC calls (per process) ------------------------------------------------------------------


def test_rpc_calls_of_this_process(app, client):
    pool = app.extensions["syncstudio.worker"].pool
    odoo = pool.get_params(7, {"url": "http://odoo.invalid", "database": "d", "login": "a",
                               "password": "p", "protocol": "jsonrpc", "timeout": 5})
    odoo.calls[("res.partner", "read")] += 3
    odoo.calls[("res.partner", "write")] += 1
    samples = scrape(client)
    assert value(samples, "syncstudio_odoo_rpc_calls_total", connection_id="7",
                 model="res.partner", method="read") == 3
    assert value(samples, "syncstudio_odoo_rpc_calls_total", connection_id="7",
                 model="res.partner", method="write") == 1
    odoo.calls[("res.partner", "read")] += 2
    assert value(scrape(client), "syncstudio_odoo_rpc_calls_total", connection_id="7",
                 model="res.partner", method="read") == 5


# -- a database that cannot be read -----------------------------------------------------------


def test_unmigrated_database_is_a_short_503(settings, tmp_path):
    empty = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        app = create_app({"TESTING": True, "SETTINGS": settings, "DATABASE": empty})
        response = app.test_client().get("/metrics")
    finally:
        empty.dispose()
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert body.startswith("metrics unavailable: the own database could not be read "
                           "(OperationalError)")
    assert "Traceback" not in body and len(body) < 200


def test_a_generated_connection_name_does_not_publish_the_login(client, sqlite_db):
    from connector.store.models import OdooConnection, Project, Task, Trigger

    with sqlite_db.session() as session:
        connection = OdooConnection(name="robot@http://odoo/d", url="http://odoo", database="d",
                                    login="robot")
        project = Project(name="Generated", connection=connection)
        task = Task(project=project, name="T", code="")
        session.add_all([connection, project, task])
        session.flush()
        session.add(Trigger(project_id=project.id, task=task, kind="db", trigger_name="W",
                            model="res.partner", condition="write"))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'connection="http://odoo/d"' in text and "robot" not in text
