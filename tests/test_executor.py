"""The job executor: user code runs in the sandbox process, a limit or an error fails the job
with a readable reason, secrets never reach job errors, and the worker goes on."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connector import jobs
from connector.projects import ProjectImporter, parse
from connector.settings import Settings
from connector.store.crypto import SecretBox
from connector.store.models import Job, Log, Project, Trigger
from worker.executor import WorkerContext, execute

PROJECT = """
name: Exec
params: {MODE: x}
secrets: {TOKEN: "${TOKEN}"}
protected_code: |
  def token_length():
      return len(secrets.TOKEN)
tasks:
  - name: T
    code: |
      def handle_button(data):
          mode = data["mode"]
          if mode == "loop":
              while True:
                  pass
          if mode == "leak":
              raise ValueError("token is %s" % data["guess"])
          if mode == "power":
              return 10 ** 10 ** 10
          if mode == "string":
              return len("x" * (10 * 1024 ** 3))
          if mode == "recurse":
              def down(n):
                  return down(n + 1)
              return down(0)
          if mode == "flood":
              n = 0
              while True:
                  add_job("handle_button")({"mode": "plain"})
                  n += 1
          if mode == "warn":
              log("careful", LOG_WARNING)
          log("ok %d" % token_length())
          return {"mode": mode}
    triggers:
      button: [{trigger_name: PRESS}]
  - name: Escape
    code: |
      def handle_button(data):
          return log.__globals__
    triggers:
      button: [{trigger_name: ESCAPE}]
"""


@pytest.fixture
def ctx(home, sqlite_db):
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)}, job_cpu_seconds=1.0,
                                 job_wall_seconds=10.0, job_max_subjobs=50)
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings),
                        environ={"TOKEN": "s3cr3t-value"}).import_data(parse(PROJECT))
    context = WorkerContext.from_settings(settings, sqlite_db)
    yield context
    context.pool.close()


def press(ctx, data, name="PRESS"):
    with ctx.db.session() as session:
        trigger = session.scalar(select(Trigger).where(Trigger.trigger_name == name))
        job_id = jobs.record_trigger_job(session, trigger, args=[data]).id
    outcome = execute(ctx, job_id)
    with ctx.db.session() as session:
        return outcome, session.get(Job, job_id), [
            (line.level, line.message) for line in session.scalars(
                select(Log).where(Log.job_id == job_id).order_by(Log.id))]


def test_success_and_done_with_warnings(ctx):
    outcome, job, logs = press(ctx, {"mode": "plain"})
    assert outcome.state == "done" and outcome.result == {"mode": "plain"}
    assert job.result_json == '{"mode": "plain"}' and job.attempts == 1
    assert logs == [("info", "ok 12")]
    outcome, job, logs = press(ctx, {"mode": "warn"})
    assert job.state == "done_warnings"
    assert ("warning", "careful") in logs


@pytest.mark.slow
def test_cpu_limit_fails_the_job_and_the_next_job_runs(ctx):
    outcome, job, _logs = press(ctx, {"mode": "loop"})
    assert job.state == "failed"
    assert "CPU time limit of 1 s" in job.error
    outcome, job, _logs = press(ctx, {"mode": "after"})
    assert job.state == "done"


@pytest.mark.parametrize("mode,fragment", [
    ("power", "CPU time limit of 1 s"),
    ("string", "memory limit of 256 MB"),
    ("recurse", "RecursionError"),
    ("flood", "at most 50 sub-jobs"),
])
@pytest.mark.slow
def test_resource_bombs_fail_the_job_and_the_worker_goes_on(ctx, mode, fragment):
    _outcome, job, _logs = press(ctx, {"mode": mode})
    assert job.state == "failed"
    assert fragment in job.error
    with ctx.db.session() as session:
        assert len(list(session.scalars(select(Job).where(Job.parent_id == job.id)))) <= 50
    _outcome, job, _logs = press(ctx, {"mode": "after"})
    assert job.state == "done"


def test_project_limits_override_the_settings(ctx):
    with ctx.db.session() as session:
        project = session.scalar(select(Project))
        project.job_cpu_seconds = 0.5
    _outcome, job, _logs = press(ctx, {"mode": "loop"})
    assert "CPU time limit of 0.5 s" in job.error


def test_secret_values_never_reach_job_errors(ctx):
    _outcome, job, logs = press(ctx, {"mode": "leak", "guess": "s3cr3t-value"})
    assert job.state == "failed"
    assert "ValueError" in job.error
    assert "s3cr3t-value" not in job.error
    assert "s3cr3t-value" not in (job.traceback or "")
    assert all("s3cr3t-value" not in message for _level, message in logs)


def test_sandbox_violation_is_a_readable_failure(ctx):
    _outcome, job, _logs = press(ctx, {}, name="ESCAPE")
    assert job.state == "failed"
    assert "__globals__" in job.error and "line 2" in job.error
    assert "Traceback" not in job.error


def test_in_process_mode_gives_the_same_outcomes(home, sqlite_db):
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)}, isolation=False)
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings),
                        environ={"TOKEN": "s3cr3t-value"}).import_data(parse(PROJECT))
    context = WorkerContext.from_settings(settings, sqlite_db)
    outcome, job, logs = press(context, {"mode": "plain"})
    assert job.state == "done" and logs == [("info", "ok 12")]
    _outcome, job, _logs = press(context, {"mode": "leak", "guess": "s3cr3t-value"})
    assert job.state == "failed" and "s3cr3t-value" not in job.error


def test_end_recorded_when_the_held_connection_broke_during_the_run(home, pg_url):
    """The connection a job holds from start to end may be closed by the server while the
    handler runs; the end is then recorded on a new one instead of leaving the job started."""
    from sqlalchemy import create_engine, text

    from connector.store import migrate
    from connector.store.db import Database

    database = Database(pg_url)
    migrate.upgrade(database)
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)}, job_wall_seconds=10.0)
    with database.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings),
                        environ={"TOKEN": "t"}).import_data(parse(PROJECT))
    context = WorkerContext.from_settings(settings, database)
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    real_at_version = context.projects.at_version
    killed = []

    def at_version_then_kill(conn, project_id, version):
        # Runs between the job's start and its end, on the connection the job holds.
        runtime = real_at_version(conn, project_id, version)
        pid = conn.execute(text("select pg_backend_pid()")).scalar()
        with admin.connect() as other:
            killed.append(other.execute(text("select pg_terminate_backend(:pid)"),
                                        {"pid": pid}).scalar())
        return runtime

    context.projects.at_version = at_version_then_kill
    try:
        outcome, job, _logs = press(context, {"mode": "plain"})
    finally:
        context.pool.close()
        admin.dispose()
        database.dispose()
    assert killed == [True]
    assert outcome.state == "done"
    assert job.state == "done" and job.finished_at is not None
