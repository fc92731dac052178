"""Dashboard fixtures: a project with every trigger kind, three users (one per role), and test
clients that log in and send the CSRF token like the browser's forms do."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from connector.projects import ProjectImporter, parse
from connector.store.crypto import SecretBox
from connector.store.models import DashboardUser, Project
from tests.support import fast_hash
from tests.support import require_service as require_service  # test_browser imports it here
from webui import create_app

SECRET_VALUE = "s3cr3t-Value-never-shown"
PROTECTED_MARK = "PROTECTED_MARKER_1234"
PASSWORDS = {"reader": "reader-pw", "dev": "dev-pw", "boss": "boss-pw"}
ROLES = {"reader": "user", "dev": "developer", "boss": "manager"}

PROJECT = f"""
name: Dash
params: {{GREETING: hello}}
secrets: {{API_TOKEN: "${{DASH_API_TOKEN}}", OTHER_TOKEN: null}}
protected_code: |
  _marker = "{PROTECTED_MARK}"
  def protected_helper():
      return "helper"
common_code: |
  def shout(text):
      return text.upper()
tasks:
  - name: Setup
    code: |
      def handle_button(data=None):
          log("button ran with %s" % (data,))
          log(shout(params.GREETING))
          return {{"ok": True}}
      def handle_cron():
          log("cron ran")
    triggers:
      button: [{{trigger_name: SETUP, data: {{mode: full}}}}]
      cron: [{{trigger_name: NIGHTLY, interval: 1, interval_unit: days}}]
  - name: Broken
    code: |
      def handle_button():
          log("about to fail", "warning")
          raise ValueError("the button broke")
    triggers:
      button: [{{trigger_name: BREAK}}]
  - name: Hook
    code: |
      def handle_webhook(httprequest):
          return "hi"
    triggers:
      webhook: [{{trigger_name: INCOMING, type: json}}]
"""


@pytest.fixture
def app(settings, sqlite_db) -> Flask:
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings),
                        environ={"DASH_API_TOKEN": SECRET_VALUE}).import_data(parse(PROJECT))
        for login, password in PASSWORDS.items():
            session.add(DashboardUser(login=login, role=ROLES[login],
                                      password_hash=fast_hash(password)))
    return create_app({"TESTING": True, "SETTINGS": settings, "DATABASE": sqlite_db})


@pytest.fixture
def project_id(sqlite_db) -> int:
    with sqlite_db.session() as session:
        return session.scalars(select(Project.id).where(Project.name == "Dash")).one()


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"|name="csrf-token" content="([^"]+)"')


def csrf_token(client: FlaskClient, url: str = "/login") -> str:
    """The CSRF token a form of ``url`` carries."""
    page = client.get(url).get_data(as_text=True)
    found = CSRF_RE.search(page)
    assert found, f"no CSRF token on {url}"
    return found.group(1) or found.group(2)


class DashClient:
    """A logged-in test client whose posts carry the CSRF token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token = csrf_token(client, "/dashboard/projects")

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, **kwargs)

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, **kwargs)


def log_in(client: FlaskClient, login: str, password: str) -> Any:
    return client.post("/login", data={"login": login, "password": password,
                                       "csrf_token": csrf_token(client)})


@pytest.fixture
def login_as(app: Flask) -> Callable[[str], DashClient]:
    def make(login: str) -> DashClient:
        client = app.test_client()
        response = log_in(client, login, PASSWORDS[login])
        assert response.status_code == 302, response.get_data(as_text=True)
        return DashClient(client)
    return make


@pytest.fixture
def reader(login_as) -> DashClient:
    return login_as("reader")


@pytest.fixture
def dev(login_as) -> DashClient:
    return login_as("dev")


@pytest.fixture
def boss(login_as) -> DashClient:
    return login_as("boss")
