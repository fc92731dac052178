"""Code saving with the save-time check, Run now, retry of failed jobs, logs and links.

Run now only queues a job: the tests run it with the ``worker`` fixture's dispatcher and
worker, as ``syncstudio run`` would.
"""

from __future__ import annotations

import datetime as dt
import html

import pytest
from sqlalchemy import select

from connector.store.models import (
    Job,
    Link,
    Log,
    OdooConnection,
    PollCursor,
    Project,
    Task,
    Trigger,
)

from .conftest import SECRET_VALUE
from .worker_step import WorkerStep


@pytest.fixture
def worker(settings, sqlite_db):
    with WorkerStep(settings, sqlite_db) as step:
        yield step


@pytest.fixture
def ids(sqlite_db, project_id):
    with sqlite_db.session() as session:
        triggers = {t.trigger_name: t.id for t in session.scalars(select(Trigger))}
        tasks = {t.name: t.id for t in session.scalars(select(Task))}
    return {"project": project_id, **triggers, **tasks}


def task_code(sqlite_db, task_id):
    with sqlite_db.session() as session:
        return session.get(Task, task_id).code


def test_task_code_with_a_syntax_error_shows_line_and_column_and_saves_nothing(
        dev, ids, sqlite_db):
    before = task_code(sqlite_db, ids["Setup"])
    broken = "def handle_cron():\n    log('ok')\n    x = (1,\n"
    response = dev.post(f"/dashboard/tasks/{ids['Setup']}", data={"code": broken})
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert "Not saved" in page
    assert "line 3" in page and "column" in page
    assert broken in page  # the submitted code is kept in the editor
    assert task_code(sqlite_db, ids["Setup"]) == before


def test_task_code_refused_by_the_sandbox_policy(dev, ids, sqlite_db):
    before = task_code(sqlite_db, ids["Setup"])
    for code in ("import os\ndef handle_cron():\n    pass\n",
                 "def handle_cron():\n    return ().__class__\n",
                 "def helper():\n    pass\n"):
        response = dev.post(f"/dashboard/tasks/{ids['Setup']}", data={"code": code})
        assert response.status_code == 400, code
        assert "Not saved" in response.get_data(as_text=True)
    assert task_code(sqlite_db, ids["Setup"]) == before
    page = dev.post(f"/dashboard/tasks/{ids['Setup']}",
                    data={"code": "import os\ndef handle_cron():\n    pass\n"})
    assert "line 1" in page.get_data(as_text=True)


def test_valid_task_code_is_saved(dev, ids, sqlite_db):
    code = "def handle_cron():\n    log('new code')\n"
    response = dev.post(f"/dashboard/tasks/{ids['Setup']}", data={"code": code,
                                                                   "active": "on"})
    assert response.status_code == 302
    assert task_code(sqlite_db, ids["Setup"]) == code
    response = dev.post(f"/dashboard/tasks/{ids['Setup']}", data={"code": code})
    with sqlite_db.session() as session:
        assert session.get(Task, ids["Setup"]).active is False


def test_common_code_error_is_shown_and_not_saved(dev, ids, sqlite_db):
    response = dev.post(f"/dashboard/projects/{ids['project']}/code/common",
                        data={"code": "def f(:\n"})
    assert response.status_code == 400
    assert "line 1" in response.get_data(as_text=True)
    with sqlite_db.session() as session:
        assert "def shout" in session.get(Project, ids["project"]).common_code


def test_button_run_now_queues_a_job_that_the_worker_runs(dev, ids, sqlite_db, worker):
    response = dev.post(f"/dashboard/triggers/{ids['SETUP']}/run")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/dashboard/jobs/")
    with sqlite_db.session() as session:
        job = session.scalars(select(Job)).one()
        assert (job.state, job.attempts, job.user) == ("pending", 0, "dev")
        assert job.args == [{"mode": "full"}]
    page = dev.get(response.headers["Location"]).get_data(as_text=True)
    assert ">pending<" in page and f"Job {job.id} queued" in page
    assert "data-refresh=" in page  # the page follows the job while it is unfinished
    assert worker.run_pending() == 1
    with sqlite_db.session() as session:
        job = session.get(Job, job.id)
        assert (job.state, job.attempts) == ("done", 1)
        messages = [line.message for line in session.scalars(
            select(Log).where(Log.job_id == job.id).order_by(Log.id))]
    assert messages == ["button ran with {'mode': 'full'}", "HELLO"]
    page = dev.get(response.headers["Location"]).get_data(as_text=True)
    assert ">done<" in page and "HELLO" in page
    assert "data-refresh=" not in page


def test_cron_run_now(dev, ids, sqlite_db, worker):
    dev.post(f"/dashboard/triggers/{ids['NIGHTLY']}/run")
    worker.run_pending()
    with sqlite_db.session() as session:
        job = session.scalars(select(Job)).one()
        assert (job.state, job.function) == ("done", "handle_cron")


def test_webhooks_cannot_be_run_by_hand(dev, ids):
    assert dev.post(f"/dashboard/triggers/{ids['INCOMING']}/run").status_code == 400


def test_retry_of_a_failed_job(dev, ids, sqlite_db, worker):
    response = dev.post(f"/dashboard/triggers/{ids['BREAK']}/run")
    job_url = response.headers["Location"]
    worker.run_pending()
    page = dev.get(job_url).get_data(as_text=True)
    assert ">failed<" in page and "the button broke" in page and "Retry" in page
    jobs_page = dev.get("/dashboard/jobs").get_data(as_text=True)
    assert "ValueError: the button broke" in jobs_page and "Retry" in jobs_page
    with sqlite_db.session() as session:
        job_id = session.scalars(select(Job.id)).one()
    response = dev.post(f"/dashboard/jobs/{job_id}/retry")
    assert response.status_code == 302
    with sqlite_db.session() as session:
        job = session.get(Job, job_id)
        assert (job.state, job.attempts, job.error) == ("pending", 0, None)
        assert job.next_attempt_at is not None
    page = dev.get(job_url).get_data(as_text=True)
    assert f"Job {job_id} queued again." in page
    # Only failed jobs can be retried: a second retry is refused with a message.
    dev.post(f"/dashboard/jobs/{job_id}/retry")
    assert "only failed jobs can be retried" in dev.get(job_url).get_data(as_text=True)


def test_jobs_list_filters(dev, ids, worker):
    dev.post(f"/dashboard/triggers/{ids['SETUP']}/run")
    dev.post(f"/dashboard/triggers/{ids['BREAK']}/run")
    assert worker.run_pending() == 2
    failed = dev.get("/dashboard/jobs?state=failed").get_data(as_text=True)
    assert 'class="state failed"' in failed and 'class="state done"' not in failed
    done = dev.get("/dashboard/jobs?state=done").get_data(as_text=True)
    assert 'class="state done"' in done and 'class="state failed"' not in done


def messages_of(page):
    return html.unescape(page.get_data(as_text=True))


def test_logs_filters_and_grouping(dev, ids, sqlite_db, worker):
    dev.post(f"/dashboard/triggers/{ids['SETUP']}/run")
    dev.post(f"/dashboard/triggers/{ids['BREAK']}/run")
    dev.post(f"/dashboard/triggers/{ids['NIGHTLY']}/run")
    assert worker.run_pending() == 3
    everything = messages_of(dev.get("/dashboard/logs"))
    for text in ("button ran with", "HELLO", "about to fail", "the button broke", "cron ran"):
        assert text in everything
    fails = messages_of(dev.get("/dashboard/logs?status=fail"))
    assert "about to fail" in fails and "HELLO" not in fails
    success = messages_of(dev.get("/dashboard/logs?status=success"))
    assert "HELLO" in success and "cron ran" in success and "about to fail" not in success
    warnings = messages_of(dev.get("/dashboard/logs?level=warning"))
    assert "about to fail" in warnings and "the button broke" not in warnings
    by_task = messages_of(dev.get(f"/dashboard/logs?task={ids['Broken']}"))
    assert "about to fail" in by_task and "HELLO" not in by_task
    by_trigger = messages_of(dev.get(f"/dashboard/logs?trigger={ids['NIGHTLY']}"))
    assert "cron ran" in by_trigger and "HELLO" not in by_trigger
    by_project = messages_of(dev.get(f"/dashboard/logs?project={ids['project']}"))
    assert "HELLO" in by_project
    assert "HELLO" not in messages_of(dev.get(f"/dashboard/logs?project={ids['project'] + 99}"))
    # Start-time range: on the jobs' start times.
    future = (dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1))
    past = future - dt.timedelta(hours=2)
    assert "HELLO" not in messages_of(dev.get(f"/dashboard/logs?since={future:%Y-%m-%dT%H:%M}"))
    assert "HELLO" in messages_of(dev.get(f"/dashboard/logs?since={past:%Y-%m-%dT%H:%M}"
                                          f"&until={future:%Y-%m-%dT%H:%M:%S}"))
    assert "HELLO" not in messages_of(dev.get(f"/dashboard/logs?until={past:%Y-%m-%dT%H:%M}"))
    bad = messages_of(dev.get("/dashboard/logs?since=yesterday"))
    assert "is not a date and time" in bad and "HELLO" in bad
    # Grouping by one of the filters.
    grouped = messages_of(dev.get("/dashboard/logs?group=status"))
    assert "status: success" in grouped and "status: fail" in grouped
    assert grouped.index("status: success") < grouped.index("HELLO")
    grouped = messages_of(dev.get("/dashboard/logs?group=trigger"))
    for name in ("SETUP", "BREAK", "NIGHTLY"):
        assert f"trigger: Dash / {name}" in grouped  # named with its project
    grouped = messages_of(dev.get("/dashboard/logs?group=level&status=fail"))
    assert "level: warning <small>(1)</small>" in grouped
    assert "level: error <small>(1)</small>" in grouped
    assert SECRET_VALUE not in grouped


def test_links_page(reader, sqlite_db, project_id):
    with sqlite_db.session() as session:
        session.add(Link(project_id=project_id, relation="demo_partner",
                         odoo_model="res.partner", system1="odoo", ref1="7",
                         system2="crm", ref2="ext-7"))
        session.add(Link(project_id=project_id, relation="other", system1="a", ref1="1",
                         system2="b", ref2="2"))
    page = reader.get("/dashboard/links").get_data(as_text=True)
    assert "demo_partner" in page and "ext-7" in page and "res.partner" in page
    page = reader.get("/dashboard/links?relation=other").get_data(as_text=True)
    assert "demo_partner" not in page and "other" in page


def test_db_trigger_page_shows_the_last_successful_poll(reader, sqlite_db, project_id, ids):
    with sqlite_db.session() as session:
        connection = OdooConnection(name="prod", url="http://odoo", database="d", login="a")
        session.add(connection)
        session.flush()
        session.get(Project, project_id).connection_id = connection.id
        trigger = Trigger(project_id=project_id, task_id=ids["Setup"], kind="db",
                          trigger_name="ON_PARTNER", model="res.partner", condition="create")
        session.add(trigger)
        session.flush()
        trigger_id, connection_id = trigger.id, connection.id

    def polled() -> str:
        page = reader.get(f"/dashboard/triggers/{trigger_id}").get_data(as_text=True)
        return page.split("Last successful poll</dt>", 1)[1].split("</dd>", 1)[0]

    assert "never" in polled()
    with sqlite_db.session() as session:
        session.add(PollCursor(connection_id=connection_id, model="res.partner",
                               polled_at=dt.datetime(2026, 12, 1, 7, 30, 5)))
    assert "2026-12-01 07:30:05 UTC" in polled()


def test_unknown_rows_are_404(reader):
    for url in ("/dashboard/projects/999", "/dashboard/tasks/999", "/dashboard/triggers/999",
                "/dashboard/jobs/999"):
        assert reader.get(url).status_code == 404, url
