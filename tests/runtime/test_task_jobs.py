"""A project's texts, ``trigger`` and sub-job arguments through the worker: the project file,
the own database, the executor and the sandbox process, against the simulator."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from connector import jobs
from connector.projects import ProjectImporter, parse
from connector.settings import Settings
from connector.store.crypto import SecretBox
from connector.store.models import Job, Trigger
from worker.executor import WorkerContext, execute

PROJECT = """
name: Jobs API
odoo: {{url: "{url}", database: {db}, login: admin, password: admin}}
texts:
  WELCOME: |
    Hello!
    Write us anything.
tasks:
  - name: T
    code: |
      def later(partners, when, day, data=None):
          return {{"model": partners._name, "ids": partners.ids, "names": partners.mapped("name"),
                   "when": [when.year, when.hour, when.minute], "hour": hasattr(day, "hour"),
                   "day": [day.year, day.month, day.day],
                   "first": [data["first"]._name, data["first"].id] if data else None,
                   "trigger": trigger}}

      def handle_button(data):
          partners = env["res.partner"].search([("name", "like", "Jobs API %")], order="id")
          if data == "bad":
              add_job("later")(partners, {{1, 2}}, None)
          add_job("later")(partners, datetime.datetime(2024, 1, 1, 10, 30),
                           day=datetime.date(2024, 2, 3), data={{"first": partners[0]}})
          return {{"welcome": texts.WELCOME, "trigger": trigger}}
    triggers:
      button: [{{trigger_name: PRESS}}]
"""


@pytest.fixture
def ctx(home, sqlite_db, odoo_sim):
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)}, job_wall_seconds=20.0)
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings), environ={}).import_data(
            parse(PROJECT.format(url=odoo_sim.url, db=odoo_sim.database)))
    context = WorkerContext.from_settings(settings, sqlite_db)
    yield context
    context.pool.close()


@pytest.fixture
def partners(odoo_sim):
    import xmlrpc.client

    proxy = xmlrpc.client.ServerProxy(f"{odoo_sim.url}/xmlrpc/2/object")

    def call(method, *args):
        return proxy.execute_kw(odoo_sim.database, 2, "admin", "res.partner", method, list(args))

    ids = call("create", [{"name": "Jobs API A"}, {"name": "Jobs API B"}])
    yield ids
    call("unlink", ids)


def press(ctx, data):
    with ctx.db.session() as session:
        trigger = session.scalar(select(Trigger).where(Trigger.trigger_name == "PRESS"))
        job_id = jobs.record_trigger_job(session, trigger, args=[data]).id
    return job_id, execute(ctx, job_id)


def test_texts_trigger_and_records_and_dates_reach_the_sub_job(ctx, partners) -> None:
    job_id, outcome = press(ctx, "ok")
    assert outcome.state == "done", outcome
    assert outcome.result == {"welcome": "Hello!\nWrite us anything.\n", "trigger": "PRESS"}
    with ctx.db.session() as session:
        child = session.scalar(select(Job).where(Job.parent_id == job_id))
    # Stored as plain JSON: a recordset is its model and ids, dates their ISO text.
    assert child.args[0] == {"__syncstudio_type__": "records", "model": "res.partner",
                             "ids": partners}
    sub = execute(ctx, child.id)
    assert sub.state == "done", sub
    assert sub.result == {
        "model": "res.partner", "ids": partners, "names": ["Jobs API A", "Jobs API B"],
        "when": [2024, 10, 30], "hour": False, "day": [2024, 2, 3],
        "first": ["res.partner", partners[0]], "trigger": "PRESS"}


def test_an_argument_json_cannot_hold_fails_at_add_job(ctx, partners) -> None:
    job_id, outcome = press(ctx, "bad")
    assert outcome.state == "failed"
    assert "add_job: argument 2 is a set, which a sub-job cannot receive: pass a list" in (
        outcome.error or "")
    with ctx.db.session() as session:
        assert session.scalar(select(Job).where(Job.parent_id == job_id)) is None
    assert json.dumps(outcome.error)  # a plain message, no object reprs
