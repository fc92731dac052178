"""One Odoo login per worker process and connection: sandbox processes reuse the worker's uid.

Jobs run through the worker's executor in real sandbox processes against the simulator over
JSON-RPC; the simulator counts the logins it receives.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from connector import jobs
from connector.errors import ConfigurationError
from connector.projects import ProjectImporter, parse
from connector.settings import Settings
from connector.simulator.testing import running_simulator
from connector.store.crypto import SecretBox
from connector.store.models import Job, OdooConnection, Trigger
from worker.executor import WorkerContext, execute
from worker.logins import prime_logins

PROJECT = """
name: Logins
odoo: {url: "@URL@", database: "@DB@", login: sync, password: "${ODOO_PASSWORD}",
       protocol: jsonrpc}
tasks:
  - name: Count
    code: |
      def handle_button(data):
          if data.get("fail"):
              raise UserError("failed on purpose")
          if data.get("offline"):
              return "no Odoo needed"
          return env["res.partner"].search_count([("is_company", "=", True)])
    triggers:
      button: [{trigger_name: PRESS}]
"""


@pytest.fixture
def sim():
    with running_simulator(database="logins", demo=True, login_cost=0) as simulator:
        simulator.add_user("sync", "old-password", name="Sync user")
        simulator.reset_calls()
        yield simulator


@pytest.fixture
def ctx(home, sqlite_db, sim):
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)}, job_wall_seconds=20.0)
    text = PROJECT.replace("@URL@", sim.url).replace("@DB@", sim.database)
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings),
                        environ={"ODOO_PASSWORD": "old-password"}).import_data(parse(text))
    context = WorkerContext.from_settings(settings, sqlite_db)
    yield context
    context.pool.close()


def press(ctx, data=None):
    with ctx.db.session() as session:
        trigger = session.scalar(select(Trigger).where(Trigger.trigger_name == "PRESS"))
        job_id = jobs.record_trigger_job(session, trigger, args=[data or {}]).id
    execute(ctx, job_id)
    with ctx.db.session() as session:
        return session.get(Job, job_id)


def set_row_password(ctx, password: str) -> None:
    with ctx.db.session() as session:
        conn = session.scalar(select(OdooConnection))
        conn.password_enc = ctx.box.encrypt(password)


def test_many_jobs_on_one_worker_log_in_once(ctx, sim):
    companies = sim.execute("res.partner", "search_count", [("is_company", "=", True)])
    results = [press(ctx) for _ in range(3)]
    # A failed job throws its sandbox's client away; the next one still needs no login.
    failed = press(ctx, {"fail": True})
    results += [press(ctx) for _ in range(2)]
    # Jobs at the same time run in several sandbox processes.
    parallel: list[Job] = []
    threads = [threading.Thread(target=lambda: parallel.append(press(ctx))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed.state == "failed" and "failed on purpose" in failed.error
    assert [job.state for job in results + parallel] == ["done"] * 8
    assert {job.result_json for job in results + parallel} == {str(companies)}
    assert sim.logins == {"sync": 1}
    assert sim.calls[("res.partner", "search_count")] == 8


def test_a_job_that_does_not_use_odoo_runs_while_odoo_is_down(ctx, sim):
    sim.set_down(True)
    try:
        job = press(ctx, {"offline": True})
    finally:
        sim.set_down(False)
    assert job.state == "done" and job.result_json == '"no Odoo needed"'
    assert press(ctx).state == "done"  # Odoo is back: the worker logs in on this job
    assert sim.logins == {"sync": 1}


def test_a_changed_password_fails_clearly_then_the_new_one_is_used(ctx, sim):
    assert press(ctx).state == "done"
    assert sim.logins == {"sync": 1}
    sim.set_password("sync", "new-password")

    stale = press(ctx)  # the connection row still holds the old password
    assert stale.state == "failed"
    assert "refused login 'sync'" in stale.error
    assert "check the login, the password/API key" in stale.error
    assert "old-password" not in stale.error and "old-password" not in (stale.traceback or "")
    # The sandbox logged in once more with what it was given, and was refused.
    assert sim.refused_logins == {"sync": 1}

    set_row_password(ctx, "new-password")
    assert [press(ctx).state for _ in range(3)] == ["done"] * 3
    # The worker re-authenticated once with the new row; later jobs reuse that uid.
    assert sim.logins == {"sync": 3}
    assert sim.refused_logins == {"sync": 1}


def test_the_worker_logs_in_when_it_starts(ctx, sim):
    assert prime_logins(ctx.db, ctx.pool, ctx.box) == 1
    assert sim.logins == {"sync": 1}
    assert press(ctx).state == "done"
    assert sim.logins == {"sync": 1}  # the first job found the uid waiting


def test_a_refused_login_at_start_does_not_stop_the_worker(ctx, sim):
    sim.set_password("sync", "elsewhere")
    assert prime_logins(ctx.db, ctx.pool, ctx.box) == 0
    job = press(ctx)
    assert job.state == "failed" and "refused login 'sync'" in job.error


def test_threads_that_need_a_uid_at_once_share_one_login(sim):
    from connector.odoo import make_client

    sim.set_login_cost(0.2)  # long enough for every thread to ask while the login runs
    client = make_client(sim.url, sim.database, "sync", "old-password")
    barrier = threading.Barrier(4)
    counts: list[int] = []

    def work() -> None:
        barrier.wait()
        counts.append(client.search_count("res.partner", []))

    threads = [threading.Thread(target=work) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sim.set_login_cost(0)
        client.close()
    assert len(counts) == 4 and len(set(counts)) == 1
    assert sim.logins == {"sync": 1}


def test_a_client_given_a_uid_does_not_log_in(sim):
    from connector.odoo import make_client

    [uid] = sim.execute("res.users", "search", [("login", "=", "sync")])
    client = make_client(sim.url, sim.database, "sync", "old-password", uid=uid)
    assert client.search_count("res.partner", []) > 0
    assert client.known_uid == uid
    assert sim.logins == {}
    with pytest.raises(ConfigurationError, match="positive integer"):
        make_client(sim.url, sim.database, "sync", "old-password", uid="2")
