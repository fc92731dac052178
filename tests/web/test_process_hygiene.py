"""Start-up re-sends only abandoned jobs; the SQLite file is owner-only; the dashboard refuses
the webhook origin; /metrics can require a token."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import stat

from sqlalchemy import select, update

from connector.settings import Secret, Settings
from connector.store import migrate
from connector.store.db import Database
from connector.store.models import Job, Task, Trigger, utcnow
from webui import create_app
from worker.service import Service


def test_start_up_leaves_jobs_running_elsewhere_alone(app, settings, sqlite_db, tokens):
    assert app.test_client().post(f"/webhooks/{tokens['JSON_HOOK']}", json={}).status_code == 200
    with sqlite_db.session() as session:
        task_id = session.scalars(select(Task.id).where(Task.name == "Echo")).one()
        trigger_id = session.scalars(select(Trigger.id).where(
            Trigger.trigger_name == "JSON_HOOK")).one()
        project_id = session.get(Task, task_id).project_id
        running, abandoned, queued = (
            Job(project_id=project_id, task_id=task_id, trigger_id=trigger_id,
                function="handle_webhook", state=state, started_at=at)
            for state, at in (("started", utcnow()),
                              ("started", utcnow() - dt.timedelta(days=1)),
                              ("enqueued", None)))
        session.add_all([running, abandoned, queued])
    service = Service(dataclasses.replace(settings, isolation=False), sqlite_db)
    try:
        assert service.dispatcher.requeue_all_unfinished() == 2
    finally:
        service.broker.close()
    with sqlite_db.session() as session:
        assert session.get(Job, running.id).state == "started"  # still running elsewhere
        assert session.get(Job, abandoned.id).state == "enqueued"
        session.execute(update(Job).values(state="done"))


def test_the_sqlite_file_is_owner_only(tmp_path):
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(tmp_path / "home")})
    db = Database(settings.database_url)
    migrate.upgrade(db)
    path = settings.database_url.split("///", 1)[1]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    db.dispose()


def test_the_dashboard_refuses_the_webhook_origin(settings, sqlite_db, app, tokens):
    split = create_app({"TESTING": True, "DATABASE": sqlite_db, "SETTINGS": dataclasses.replace(
        settings, webhook_base_url="https://hooks.example")})
    client = split.test_client()
    assert client.get("/login", base_url="https://hooks.example").status_code == 404
    assert client.get("/dashboard/", base_url="https://hooks.example").status_code == 404
    assert client.post(f"/webhooks/{tokens['JSON_HOOK']}", json={},
                       base_url="https://hooks.example").status_code == 200
    assert client.get("/login").status_code == 200  # the dashboard's own host


def test_metrics_token(settings, sqlite_db, app):
    guarded = create_app({"TESTING": True, "DATABASE": sqlite_db, "SETTINGS": dataclasses.replace(
        settings, metrics_token=Secret("t0ken"))})
    client = guarded.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer t0ken"}).status_code == 200
    assert client.get("/health").get_json() == {"status": "ok"}
