"""Login, logout, CSRF and the session key."""

from __future__ import annotations

import pytest

from webui import create_app
from webui.auth import session_secret

from .conftest import csrf_token, log_in

PAGES = ["/dashboard/", "/dashboard/projects", "/dashboard/jobs", "/dashboard/logs",
         "/dashboard/links"]


@pytest.mark.parametrize("url", PAGES)
def test_pages_need_a_login(app, url):
    response = app.test_client().get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_writes_need_a_login(app, project_id):
    client = app.test_client()
    response = client.post(f"/dashboard/projects/{project_id}/params",
                           data={"key": "X", "value": "1", "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_login_and_logout(app):
    client = app.test_client()
    response = log_in(client, "reader", "reader-pw")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard/"
    page = client.get("/dashboard/projects")
    assert page.status_code == 200
    assert "Dash" in page.get_data(as_text=True)
    token = csrf_token(client, "/dashboard/projects")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/dashboard/projects").status_code == 302


def test_login_follows_next_but_only_on_this_site(app):
    client = app.test_client()
    response = client.post("/login", data={"login": "dev", "password": "dev-pw",
                                           "next": "/dashboard/jobs",
                                           "csrf_token": csrf_token(client)})
    assert response.headers["Location"] == "/dashboard/jobs"
    other = app.test_client()
    response = other.post("/login", data={"login": "dev", "password": "dev-pw",
                                          "next": "https://evil.example/",
                                          "csrf_token": csrf_token(other)})
    assert response.headers["Location"] == "/dashboard/"


@pytest.mark.parametrize("login, password", [("reader", "wrong"), ("nobody", "reader-pw"),
                                             ("reader", "")])
def test_wrong_password_is_refused(app, login, password):
    client = app.test_client()
    response = log_in(client, login, password)
    assert response.status_code == 401
    assert "Wrong login or password" in response.get_data(as_text=True)
    assert client.get("/dashboard/projects").status_code == 302


def test_inactive_user_cannot_log_in(app, sqlite_db):
    from sqlalchemy import update

    from connector.store.models import DashboardUser

    with sqlite_db.session() as session:
        session.execute(update(DashboardUser).where(DashboardUser.login == "dev")
                        .values(active=False))
    assert log_in(app.test_client(), "dev", "dev-pw").status_code == 401


def test_csrf_is_enforced(app, dev, project_id):
    # Logging in without the token is refused.
    response = app.test_client().post("/login", data={"login": "dev", "password": "dev-pw"})
    assert response.status_code == 400
    # A logged-in developer's post without (or with a wrong) token is refused, nothing saved.
    url = f"/dashboard/projects/{project_id}/params"
    assert dev.client.post(url, data={"key": "NEW", "value": "1"}).status_code == 400
    assert dev.client.post(url, data={"key": "NEW", "value": "1",
                                      "csrf_token": "forged"}).status_code == 400
    assert "NEW" not in dev.get(f"/dashboard/projects/{project_id}").get_data(as_text=True)
    assert dev.post(url, data={"key": "NEW", "value": "1"}).status_code == 302
    assert "NEW" in dev.get(f"/dashboard/projects/{project_id}").get_data(as_text=True)


def test_webhooks_stay_csrf_exempt(app, sqlite_db):
    from sqlalchemy import select

    from connector.store.models import Trigger

    with sqlite_db.session() as session:
        token = session.scalars(select(Trigger.token).where(Trigger.kind == "webhook")).one()
    response = app.test_client().post(f"/webhooks/{token}", json={"a": 1})
    assert response.status_code == 200
    assert response.get_data(as_text=True) == '"hi"'


def test_session_key_is_derived_not_hard_coded(settings, sqlite_db):
    app = create_app({"SETTINGS": settings, "DATABASE": sqlite_db})
    key = app.config["SECRET_KEY"]
    assert key == session_secret(settings)
    assert len(key) == 64
    assert (settings.home / "secret.key").exists()
    assert key.encode() not in (settings.home / "secret.key").read_bytes()
