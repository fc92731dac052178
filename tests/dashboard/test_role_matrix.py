"""Every route × every role: each view declares the role it needs (``role_required(...)`` or
``public``, see webui.auth.REQUIRED_ROLE) and that role is enforced, for GET and POST alike.

The routes are read from ``app.url_map``: a new route without a declared role, or with URL
arguments this test has no sample for, fails here until it is declared and covered.
Expectations: anonymous → redirected to the login page; a role below the declared one → 403
(and nothing changed); the declared role and above → neither (200 for every page read).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from connector import jobs as job_rules
from connector.store.models import (
    Job,
    Log,
    OdooConnection,
    Project,
    ProjectParam,
    ProjectText,
    Task,
    Trigger,
)
from webui.auth import RANK, REQUIRED_ROLE

from .conftest import DashClient, csrf_token, log_in

ROLES = ("anonymous", "user", "developer", "manager")
LOGINS = {"user": ("reader", "reader-pw"), "developer": ("dev", "dev-pw"),
          "manager": ("boss", "boss-pw")}
#: Flask's own static route serves the dashboard's CSS and scripts to anyone.
BUILT_IN = {"static": "public"}
#: Routes whose arguments raise the declared minimum: (endpoint, argument value) → role.
RAISED = {("dashboard.save_code", "protected"): "manager"}
METHODS = ("GET", "POST")


@pytest.fixture
def samples(app: Flask, sqlite_db, project_id) -> dict[str, Any]:
    """A value for every URL argument of every route."""
    with sqlite_db.session() as session:
        setup = session.scalars(select(Trigger).where(Trigger.trigger_name == "SETUP")).one()
        hook = session.scalars(select(Trigger).where(Trigger.trigger_name == "INCOMING")).one()
        job = job_rules.record_trigger_job(session, setup)
        job.state = "failed"
        session.add(Log(job_id=job.id, project_id=project_id, message="a line"))
        doomed = Task(project_id=project_id, name="Doomed",
                      code="def handle_button():\n    pass\n")
        session.add(doomed)
        conn = OdooConnection(name="nowhere", url="http://127.0.0.1:9", database="db",
                              login="x", timeout=2.0)
        session.add(conn)
        text = ProjectText(project_id=project_id, key="GREETING", value="Hello,\nworld")
        session.add(text)
        session.flush()
        return {
            "project_id": project_id, "task_id": setup.task_id, "trigger_id": setup.id,
            "job_id": job.id, "connection_id": conn.id,
            "log_id": session.scalars(select(Log.id)).first(),
            "param_id": session.scalars(select(ProjectParam.id)).first(), "text_id": text.id,
            "layer": "common", "kind": "tasks", "key": doomed.id, "token": hook.token,
            "filename": "style.css",
        }


def declared(app: Flask, endpoint: str) -> str | None:
    return BUILT_IN.get(endpoint) or getattr(app.view_functions[endpoint], REQUIRED_ROLE, None)


def routes(app: Flask, samples: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(endpoint, method, URL, required role) of every route; logout last (it ends the
    session the next requests would use)."""
    found = []
    missing = []
    for rule in app.url_map.iter_rules():
        role = declared(app, rule.endpoint)
        if role is None:
            missing.append(rule.rule)
            continue
        unknown = [arg for arg in rule.arguments if arg not in samples]
        assert not unknown, f"{rule.rule}: add a sample value for {unknown} to this test"
        with app.test_request_context():
            url = app.url_for(rule.endpoint, **{arg: samples[arg] for arg in rule.arguments})
        for method in METHODS:
            if method in (rule.methods or ()):
                raised = [RAISED[(rule.endpoint, samples[arg])] for arg in rule.arguments
                          if (rule.endpoint, samples[arg]) in RAISED]
                found.append((rule.endpoint, method, url, raised[0] if raised else role))
    assert not missing, f"routes without a declared role (role_required or public): {missing}"
    return sorted(found, key=lambda item: (item[0] == "auth.logout", item[1] == "POST"
                                           and "delete" in item[0], item[0], item[1]))


def client_for(app: Flask, role: str) -> DashClient:
    client = app.test_client()
    if role == "anonymous":
        holder = DashClient.__new__(DashClient)
        holder.client, holder.token = client, csrf_token(client, "/login")
        return holder
    login, password = LOGINS[role]
    assert log_in(client, login, password).status_code == 302
    return DashClient(client)


def allowed(role: str, required: str) -> bool:
    if required == "public":
        return True
    return role != "anonymous" and RANK[role] >= RANK[required]


def test_every_route_declares_its_role(app):
    for rule in app.url_map.iter_rules():
        role = declared(app, rule.endpoint)
        assert role == "public" or role in RANK, f"{rule.rule} declares no role ({role!r})"


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_role(app, samples, role, sqlite_db):
    client = client_for(app, role)
    checked = 0
    for endpoint, method, url, required in routes(app, samples):
        response = client.get(url) if method == "GET" else client.post(url, data={})
        where = f"{method} {url} as {role} (needs {required})"
        location = response.headers.get("Location", "")
        to_login = response.status_code == 302 and location.startswith("/login")
        if allowed(role, required):
            # Logging out ends on the login page by design; anything else sent there was
            # refused.
            refused = to_login and not (endpoint == "auth.logout" and "next=" not in location)
            assert response.status_code != 403 and not refused, where
            if method == "GET" and required != "public":
                assert response.status_code == 200, where
        elif role == "anonymous":
            assert to_login, f"{where}: {response.status_code} {location}"
        else:
            assert response.status_code == 403, f"{where}: {response.status_code}"
        checked += 1
    assert checked >= 30  # every route of the dashboard, not a handful


def test_writes_refused_to_a_user_change_nothing(app, samples, sqlite_db):
    def state() -> Any:
        with sqlite_db.session() as session:
            project = session.get(Project, samples["project_id"])
            return (project.updated_at, project.common_code,
                    session.scalar(select(Job.id).order_by(Job.id.desc())),
                    [(t.token, t.active, t.data_json) for t in session.scalars(select(Trigger))],
                    [t.name for t in session.scalars(select(Task))])

    before = state()
    client = client_for(app, "user")
    for _endpoint, method, url, required in routes(app, samples):
        if method == "POST" and required in ("developer", "manager"):
            assert client.post(url, data={"code": "X = 1\n", "data": "{}", "key": "K",
                                          "value": "v"}).status_code == 403, url
    assert state() == before
