"""Login lockout and rate limit, session invalidation, cookie flags and security headers."""

from __future__ import annotations

from sqlalchemy import select

from connector.store.models import DashboardUser
from tests.support import fast_hash
from webui.auth import LOCKOUT, Lockout

from .conftest import PASSWORDS, csrf_token, log_in


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_wrong_passwords_lock_the_account_until_the_lockout_ends(app):
    clock = Clock()
    app.extensions[LOCKOUT] = Lockout(5, 900, clock=clock)
    client = app.test_client()
    for _ in range(5):
        assert log_in(client, "boss", "wrong").status_code == 401
    locked = log_in(client, "boss", PASSWORDS["boss"])
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) == 900
    clock.now += 899
    assert log_in(client, "boss", PASSWORDS["boss"]).status_code == 429
    assert log_in(app.test_client(), "dev", PASSWORDS["dev"]).status_code == 302  # per account
    clock.now += 2
    assert log_in(client, "boss", PASSWORDS["boss"]).status_code == 302


def test_one_address_is_rate_limited(app):
    app.config["SETTINGS"] = app.config["SETTINGS"].__class__(
        **{**app.config["SETTINGS"].__dict__, "login_rate_limit": "3/minute"})
    client = app.test_client()
    token = csrf_token(client)
    statuses = [client.post("/login", data={"login": f"u{i}", "password": "x",
                                            "csrf_token": token}).status_code
                for i in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_a_cookie_copied_before_logout_no_longer_works(app, login_as):
    boss = login_as("boss")
    copied = boss.client.get_cookie("session").value
    assert boss.post("/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", copied)
    response = thief.get("/dashboard/projects")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_password_change_ends_older_sessions(app, login_as, sqlite_db):
    boss = login_as("boss")
    assert boss.get("/dashboard/projects").status_code == 200
    with sqlite_db.session() as session:
        row = session.scalars(select(DashboardUser).where(DashboardUser.login == "boss")).one()
        row.password_hash = fast_hash("a-new-one")
    assert boss.get("/dashboard/projects").status_code == 302


def test_session_cookie_flags(app):
    client = app.test_client()
    response = log_in(client, "boss", PASSWORDS["boss"])
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # http base URL


def test_https_base_url_makes_cookies_secure(settings, sqlite_db, app):
    import dataclasses

    from webui import create_app

    secure = create_app({"TESTING": True, "DATABASE": sqlite_db,
                         "SETTINGS": dataclasses.replace(settings,
                                                         base_url="https://sync.example")})
    client = secure.test_client()
    # The login form's CSRF token is the first thing kept in the session.
    response = client.get("/login", base_url="https://sync.example")
    cookie = response.headers.get("Set-Cookie", "")
    assert "Secure" in cookie and "SameSite=Strict" in cookie
