"""Bounds on what one job may cost: sub-jobs per tree and depth, log bytes, result and argument
size, fair dispatch between projects; and every job ends, whatever its handler returns."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from connector import jobs
from connector.projects import ProjectImporter, parse
from connector.settings import Settings
from connector.store.crypto import SecretBox
from connector.store.models import Job, Log, Project, Trigger
from worker.actors import declare_actors
from worker.broker import make_broker
from worker.dispatch import Dispatcher
from worker.executor import WorkerContext, execute

PROJECT = """
name: Bounds
tasks:
  - name: T
    code: |
      def spread(n):
          # The flood of the report: every job adds 20 sub-jobs that do the same.
          for _ in range(20):
              add_job("spread")(n + 1)

      def handle_button(data):
          mode = data["mode"]
          if mode == "spread":
              spread(0)
          if mode == "chatty":
              for i in range(3000):
                  log("line %d %s" % (i, "x" * 200))
          if mode == "long_line":
              log("y" * 100000)
          if mode == "huge_int":
              return 10 ** 5000
          if mode == "huge_result":
              return "z" * 2000000
          if mode == "not_json":
              return {1, 2}
          if mode == "big_args":
              add_job("spread")("a" * 300000)
          if mode == "option":
              add_job("spread", **data["options"])(1)
          return "ok"
    triggers:
      button: [{trigger_name: PRESS}]
"""


@pytest.fixture
def ctx(home, sqlite_db):
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)}, job_wall_seconds=20.0,
                                 job_tree_max_jobs=60, job_max_depth=3,
                                 job_max_log_bytes=100_000)
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings),
                        environ={}).import_data(parse(PROJECT))
    context = WorkerContext.from_settings(settings, sqlite_db)
    yield context
    context.pool.close()


def press(ctx, data):
    with ctx.db.session() as session:
        trigger = session.scalar(select(Trigger).where(Trigger.trigger_name == "PRESS"))
        job_id = jobs.record_trigger_job(session, trigger, args=[data]).id
    execute(ctx, job_id)
    with ctx.db.session() as session:
        return session.get(Job, job_id)


def run_all_pending(ctx, most=500):
    """Run pending jobs through the worker path until none is left; returns how many ran."""
    ran = 0
    while ran < most:
        with ctx.db.session() as session:
            ids = list(session.scalars(select(Job.id).where(Job.state == "pending")))
        if not ids:
            return ran
        for job_id in ids:
            execute(ctx, job_id)
            ran += 1
    return ran


def test_a_spreading_job_tree_stops_at_the_tree_bound_and_every_job_ends(ctx):
    root = press(ctx, {"mode": "spread"})
    run_all_pending(ctx)
    with ctx.db.session() as session:
        total = session.scalar(select(func.count()).select_from(Job))
        states = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
        deepest = session.scalar(select(func.max(Job.depth)))
        in_tree = session.scalar(select(func.count()).where(Job.root_id == root.id))
        errors = set(session.scalars(select(Job.error).where(Job.state == "failed")))
    assert total <= 60 and in_tree == total - 1  # before: 31,549 jobs in 40 s
    assert deepest <= 3
    assert set(states) <= {"done", "failed"}, states
    assert any("SYNCSTUDIO_JOB_TREE_MAX_JOBS" in (e or "") for e in errors), errors


@pytest.mark.slow
def test_sub_jobs_nest_no_deeper_than_the_depth_bound(home, sqlite_db):
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)}, job_wall_seconds=20.0,
                                 job_max_depth=2, job_tree_max_jobs=1000)
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings),
                        environ={}).import_data(parse(PROJECT))
    context = WorkerContext.from_settings(settings, sqlite_db)
    try:
        press(context, {"mode": "spread"})
        run_all_pending(context, most=1000)
    finally:
        context.pool.close()
    with sqlite_db.session() as session:
        assert session.scalar(select(func.max(Job.depth))) == 2
        failed = list(session.scalars(select(Job.error).where(Job.state == "failed")))
    assert failed and all("SYNCSTUDIO_JOB_MAX_DEPTH" in error for error in failed)


def test_log_bytes_per_job_are_bounded_with_one_final_line(ctx):
    job = press(ctx, {"mode": "chatty"})
    assert job.state == "done_warnings"
    with ctx.db.session() as session:
        lines = list(session.scalars(select(Log.message).where(Log.job_id == job.id)
                                     .order_by(Log.id)))
    assert sum(len(line) for line in lines) <= 100_000 + 200
    assert lines[-1].startswith("log truncated") and "SYNCSTUDIO_JOB_MAX_LOG_BYTES" in lines[-1]
    assert sum(line.startswith("log truncated") for line in lines) == 1


def test_a_long_line_is_cut_with_a_note(ctx):
    job = press(ctx, {"mode": "long_line"})
    with ctx.db.session() as session:
        (line,) = session.scalars(select(Log.message).where(Log.job_id == job.id))
    assert len(line) < 16_200 and "SYNCSTUDIO_LOG_LINE_MAX_CHARS" in line


@pytest.mark.parametrize("mode,fragment", [
    ("huge_int", "cannot be stored as JSON"),
    ("huge_result", "SYNCSTUDIO_JOB_MAX_RESULT_BYTES"),
    ("not_json", "cannot be stored as JSON"),
])
def test_a_result_that_cannot_be_stored_fails_the_job(ctx, mode, fragment):
    job = press(ctx, {"mode": mode})
    assert job.state == "failed" and job.finished_at is not None  # before: started for ever
    assert fragment in job.error
    assert job.result_json is None
    assert press(ctx, {"mode": "plain"}).state == "done"


def test_sub_job_arguments_are_bounded(ctx):
    job = press(ctx, {"mode": "big_args"})
    assert job.state == "failed" and "SYNCSTUDIO_JOB_MAX_ARGS_BYTES" in job.error
    with ctx.db.session() as session:
        assert session.scalar(select(func.count()).where(Job.parent_id == job.id)) == 0


@pytest.mark.parametrize("options,fragment", [
    ({"max_retries": "many"}, "max_retries must be"),
    ({"priority": -1}, "priority must be"),
    ({"eta": "tomorrow"}, "eta must be"),
    ({"identity_key": ["a"]}, "identity_key must be"),
])
def test_a_bad_add_job_option_raises_in_task_code_and_the_job_ends(ctx, options, fragment):
    job = press(ctx, {"mode": "option", "options": options})
    assert job.state == "failed" and fragment in job.error, job.error
    assert "line" in (job.traceback or "")  # raised at the add_job call in the task code
    with ctx.db.session() as session:
        assert session.scalar(select(func.count()).where(Job.parent_id == job.id)) == 0


def test_a_bad_option_that_bypasses_the_sandbox_is_refused_by_the_worker(ctx):
    """The worker checks add_job options again: the sandbox's messages are not trusted."""
    with pytest.raises(jobs.JobOptionError, match="max_retries"):
        jobs.check_job_options("spread", max_retries="many")


FLOOD = """
name: {name}
tasks:
  - name: T
    code: |
      def handle_button():
          return 1
    triggers:
      button: [{{trigger_name: {trigger}}}]
"""


@pytest.mark.slow
def test_one_projects_flood_does_not_starve_another(settings, db):
    """Project A has 2,000 due jobs, project B one, recorded after them: B's job is sent in
    the first dispatcher pass, and A never has more than the cap queued at once."""
    with db.session() as session:
        box = SecretBox.from_settings(settings)
        for name, trigger in (("Flood", "A_PRESS"), ("Quiet", "B_PRESS")):
            ProjectImporter(session, box, environ={}).import_data(
                parse(FLOOD.format(name=name, trigger=trigger)))
    with db.session() as session:
        flood = session.scalar(select(Trigger).where(Trigger.trigger_name == "A_PRESS"))
        for _ in range(2000):
            jobs.record_trigger_job(session, flood)
        quiet = session.scalar(select(Trigger).where(Trigger.trigger_name == "B_PRESS"))
        quiet_id = jobs.record_trigger_job(session, quiet).id
    settings = dataclasses.replace(settings, dispatch_project_inflight=50)
    actor = declare_actors(make_broker(settings), WorkerContext.from_settings(settings, db))
    dispatcher = Dispatcher(db, actor, per_project=settings.dispatch_project_inflight)
    assert dispatcher.run_once() == 51
    with db.session() as session:
        assert session.get(Job, quiet_id).state == "enqueued"
        flood_project = session.scalar(select(Project.id).where(Project.name == "Flood"))
        queued = session.scalar(select(func.count()).where(
            Job.project_id == flood_project, Job.state == "enqueued"))
    assert queued == 50
    assert dispatcher.run_once() == 0  # A is at its cap until its jobs finish


def test_the_logs_page_folds_long_lines_and_links_to_the_whole(ctx):
    import re

    from connector.store.models import DashboardUser
    from tests.support import fast_hash
    from webui import create_app

    job = press(ctx, {"mode": "long_line"})
    with ctx.db.session() as session:
        line_id, whole = session.execute(select(Log.id, Log.message)
                                         .where(Log.job_id == job.id)).one()
        session.add(DashboardUser(login="reader", role="user",
                                  password_hash=fast_hash("pw-reader-1")))
    app = create_app({"TESTING": True, "SETTINGS": ctx.settings, "DATABASE": ctx.db})
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"login": "reader", "password": "pw-reader-1",
                                       "csrf_token": token}).status_code == 302
    page = client.get("/dashboard/logs").get_data(as_text=True)
    assert "y" * 500 in page and "y" * 501 not in page
    assert f"/dashboard/logs/{line_id}" in page and f"{len(whole)} characters" in page
    full = client.get(f"/dashboard/logs/{line_id}")
    assert full.status_code == 200 and full.get_data(as_text=True) == whole
    assert client.get("/dashboard/logs/999999").status_code == 404
