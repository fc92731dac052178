"""Flask fixtures as flaskr has them: ``app`` and ``client``, on a migrated SQLite database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connector.projects import ProjectImporter, parse
from connector.store.crypto import SecretBox
from connector.store.models import Trigger
from webui import create_app

PROJECT = """
name: Hooks
params: {GREETING: hello}
tasks:
  - name: Echo
    code: |
      def handle_webhook(httprequest):
          mode = httprequest.args.get("mode", "json")
          body = httprequest.get_json() if httprequest.data else None
          log("mode %s" % mode)
          if mode == "none":
              return None
          if mode == "status":
              return {"created": True}, 201
          if mode == "headers":
              return "<b>hi</b>", 202, [("Content-Type", "text/html"), ("X-Sync", "1")]
          if mode == "pair":
              return "text", [("X-Pair", "yes")]
          if mode == "boom":
              raise ValueError("the handler broke")
          if mode == "retry":
              raise RetryableJobError("later")
          return {"echo": body, "greeting": params.GREETING}
    triggers:
      webhook: [{trigger_name: JSON_HOOK, type: json}]
  - name: Form
    code: |
      def handle_webhook(httprequest):
          return "name=%s ip=%s" % (httprequest.form.get("name"), httprequest.remote_addr)
    triggers:
      webhook: [{trigger_name: FORM_HOOK, type: form}]
  - name: Off
    active: false
    code: |
      def handle_webhook(httprequest):
          return "never"
    triggers:
      webhook: [{trigger_name: OFF_HOOK, type: json}]
"""


@pytest.fixture
def app(settings, sqlite_db):
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings),
                        environ={}).import_data(parse(PROJECT))
    app = create_app({"TESTING": True, "SETTINGS": settings, "DATABASE": sqlite_db})
    yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(sqlite_db):
    with sqlite_db.session() as session:
        return {t.trigger_name: t.token for t in session.scalars(
            select(Trigger).where(Trigger.kind == "webhook"))}
