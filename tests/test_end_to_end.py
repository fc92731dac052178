"""The first end-to-end trigger: partners created in Odoo over RPC are noticed by the poller, a
job runs ``handle_db(records)`` from the task code, and the task's write-back reaches Odoo.

Once with the embedded defaults (in-process broker, SQLite), once with real Redis and PostgreSQL.
"""

from __future__ import annotations

import time
import uuid
import xmlrpc.client

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from connector.cli import main
from connector.settings import Settings
from connector.store.db import Database
from connector.store.models import Job, Log
from worker.service import Service

PROJECT = """
name: Partner tagging {marker}
odoo: {{url: "{url}", database: {database}, login: admin, password: "${{ODOO_PASSWORD}}",
       protocol: {protocol}}}
params: {{TAG: "seen-{marker}"}}
tasks:
  - name: Tag new partners
    code: |
      def handle_db(records):
          log("tagging %d partner(s): %s" % (len(records), ", ".join(records.mapped("name"))))
          records.write({{"ref": params.TAG}})
    triggers:
      db:
        - {{trigger_name: ON_PARTNER_CREATED, model: res.partner, condition: create,
           domain: "[('is_company', '=', False), ('name', 'like', '{marker}')]"}}
"""


def import_project(settings: Settings, sim, tmp_path, protocol: str = "jsonrpc") -> str:
    marker = uuid.uuid4().hex[:8]
    path = tmp_path / "project.yml"
    path.write_text(PROJECT.format(marker=marker, url=sim.url, database=sim.database,
                                   protocol=protocol))
    env = {"SYNCSTUDIO_HOME": str(settings.home), "SYNCSTUDIO_DATABASE_URL": settings.database_url,
           "ODOO_PASSWORD": "admin"}
    result = CliRunner().invoke(main, ["project", "import", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert "1 task(s), 1 trigger(s)" in result.output
    return marker


def odoo(sim) -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy(f"{sim.url}/xmlrpc/2/object", allow_none=True)


def create_partners(sim, names_and_company):
    models = odoo(sim)
    return models.execute_kw(sim.database, 2, "admin", "res.partner", "create",
                             [[{"name": n, "is_company": c} for n, c in names_and_company]])


def refs(sim, ids):
    rows = odoo(sim).execute_kw(sim.database, 2, "admin", "res.partner", "read",
                                [ids, ["ref"]])
    return {row["id"]: row["ref"] for row in rows}


def run_pipeline(service: Service, sim, tmp_path, protocol="jsonrpc"):
    marker = import_project(service.settings, sim, tmp_path, protocol)
    assert service.poller.run_once().jobs == 0  # first cycle: the cursor starts at "now"
    ids = create_partners(sim, [(f"Alice {marker}", False), (f"Bob {marker}", False),
                                (f"Corp {marker}", True)])
    report = service.poller.run_once()
    assert report.errors == [] and report.jobs == 1
    assert service.dispatcher.run_once() == 1
    service.drain()
    assert refs(sim, ids) == {ids[0]: f"seen-{marker}", ids[1]: f"seen-{marker}",
                              ids[2]: False}
    with service.db.session() as session:
        job = session.scalar(select(Job))
        assert job.state == "done", job.error
        assert job.args == ["res.partner", ids[:2]]
        assert job.attempts == 1
        messages = [line.message for line in session.scalars(select(Log))]
        assert messages == [f"tagging 2 partner(s): Alice {marker}, Bob {marker}"]
    # Nothing new: no new job, and the same records are not delivered again.
    assert service.poller.run_once().jobs == 0
    assert service.dispatcher.run_once() == 0


def test_in_process_broker_and_sqlite(settings, odoo_sim, tmp_path):
    service = Service(settings, Database(settings.database_url))
    service.start_worker(threads=2)
    try:
        run_pipeline(service, odoo_sim, tmp_path)
    finally:
        service.stop()


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["xmlrpc"])
def test_xmlrpc_connection(settings, odoo_sim, tmp_path, protocol):
    service = Service(settings, Database(settings.database_url))
    service.start_worker(threads=1)
    try:
        run_pipeline(service, odoo_sim, tmp_path, protocol)
    finally:
        service.stop()


@pytest.mark.slow
def test_redis_broker_and_postgresql(home, pg_url, redis_url, odoo_sim, tmp_path):
    from connector.store import migrate

    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)}, database_url=pg_url,
                                 broker_url=redis_url)
    migrate.upgrade(Database(pg_url))
    service = Service(settings)
    assert type(service.broker).__name__ == "RedisBroker"
    service.start_worker(threads=2)
    try:
        run_pipeline(service, odoo_sim, tmp_path)
    finally:
        service.stop()


@pytest.mark.slow
def test_threads_of_syncstudio_run_tag_a_partner(settings, odoo_sim, tmp_path):
    """The loop threads as `syncstudio run` starts them, with no test driving the steps."""
    service = Service(settings, Database(settings.database_url))
    marker = import_project(settings, odoo_sim, tmp_path)
    service.poller.run_once()  # take the initial cursor before the partner exists
    service.start_worker(threads=1)
    service.start_poller()
    try:
        [pid] = create_partners(odoo_sim, [(f"Dana {marker}", False)])
        deadline = time.monotonic() + 20
        while refs(odoo_sim, [pid])[pid] != f"seen-{marker}":
            assert time.monotonic() < deadline, "the partner was not tagged within 20 s"
            time.sleep(0.1)
    finally:
        service.stop()


DELETION = """
name: Deletions {marker}
odoo: {{url: "{url}", database: {database}, login: admin, password: admin}}
tasks:
  - name: Farewell
    code: |
      def handle_db(records):
          for r in records:
              log("gone: %s <%s>" % (r.name, r.email))
    triggers:
      db:
        - {{trigger_name: ON_PARTNER_DELETED, model: res.partner, condition: unlink,
           domain: "[('name', 'like', '{marker}')]", watched_fields: [name, email]}}
"""


@pytest.mark.slow
def test_deleted_records_reach_the_handler_with_their_last_values(home, odoo_sim, sqlite_db):
    from connector.projects import ProjectImporter, parse
    from connector.store.crypto import SecretBox

    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)}, deletion_interval=0.01)
    marker = uuid.uuid4().hex[:8]
    [keep, gone] = create_partners(odoo_sim, [(f"Keep {marker}", False),
                                              (f"Gone {marker}", False)])
    odoo(odoo_sim).execute_kw(odoo_sim.database, 2, "admin", "res.partner", "write",
                              [[gone], {"email": "gone@example.com"}])
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings), environ={}).import_data(
            parse(DELETION.format(marker=marker, url=odoo_sim.url, database=odoo_sim.database)))
    service = Service(settings, sqlite_db)
    service.start_worker(threads=1)
    try:
        service.poller.run_once()  # activation: the snapshot of the watched records
        odoo(odoo_sim).execute_kw(odoo_sim.database, 2, "admin", "res.partner", "unlink",
                                  [[gone]])
        deadline = time.monotonic() + 20
        while service.poller.run_once().jobs == 0:
            assert time.monotonic() < deadline, "the deletion was not detected"
            time.sleep(0.05)
        service.dispatcher.run_once()
        service.drain()
    finally:
        service.stop()
    with sqlite_db.session() as session:
        job = session.scalar(select(Job))
        assert job.state == "done", job.traceback
        assert job.args[1] == [gone]
        messages = [line.message for line in session.scalars(select(Log))]
    assert messages == [f"gone: Gone {marker} <gone@example.com>"]
    assert keep not in job.args[1]
