"""The jobs list and a job's page: filters, keyset paging, sub-jobs under their parent, Retry
only where it works, Replay of webhook jobs, and the Run-now notice that goes with the job."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from connector import jobs as job_rules
from connector import lifecycle
from connector.projects import ProjectImporter, parse
from connector.store.crypto import SecretBox
from connector.store.models import Job, Log, Task, Trigger

from .worker_step import WorkerStep

FORMS = """
name: Forms
tasks:
  - name: Intake
    code: |
      def handle_webhook(httprequest):
          log("got %s" % sorted(httprequest.form.items()))
          return {"name": httprequest.form.get("name"), "n": len(httprequest.form)}
    triggers:
      webhook: [{trigger_name: INCOMING, type: form}]
"""


@pytest.fixture
def worker(settings, sqlite_db):
    with WorkerStep(settings, sqlite_db) as step:
        yield step


@pytest.fixture
def ids(app, sqlite_db, settings):
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings), environ={}).import_data(
            parse(FORMS))
    with sqlite_db.session() as session:
        found = {}
        for trigger in session.scalars(select(Trigger)):
            found[(trigger.trigger_name, trigger.project_id)] = trigger.id
            found[trigger.trigger_name] = trigger.id
            if trigger.kind == "webhook":
                found[f"token:{trigger.trigger_name}:{trigger.project_id}"] = trigger.token
        found.update({t.name: t.id for t in session.scalars(select(Task))})
        found["form_token"] = session.scalars(select(Trigger.token).join(Task).where(
            Task.name == "Intake")).one()
        found["json_token"] = session.scalars(select(Trigger.token).join(Task).where(
            Task.name == "Hook")).one()
    return found


def text(response):
    return html.unescape(response.get_data(as_text=True))


def job_rows(sqlite_db):
    with sqlite_db.session() as session:
        return list(session.scalars(select(Job).order_by(Job.id)))


def test_filters_by_task_and_trigger_and_pages_by_id(dev, ids, worker):
    for _ in range(3):
        dev.post(f"/dashboard/triggers/{ids['SETUP']}/run")
    dev.post(f"/dashboard/triggers/{ids['BREAK']}/run")
    assert worker.run_pending() == 4
    by_task = text(dev.get(f"/dashboard/jobs?task={ids['Broken']}"))
    assert "the button broke" in by_task and 'class="state done"' not in by_task
    by_trigger = text(dev.get(f"/dashboard/jobs?trigger={ids['SETUP']}"))
    assert by_trigger.count('data-job="') == 3 and "the button broke" not in by_trigger
    # The trigger filter names each trigger with its project.
    assert "Dash / SETUP" in by_trigger and "Forms / INCOMING" in by_trigger
    first = text(dev.get("/dashboard/jobs?size=2"))
    assert first.count('data-job="') == 2 and 'id="older"' in first
    older = first.split('id="older"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = text(dev.get(older))
    assert second.count('data-job="') == 2 and 'id="older"' not in second
    assert "« newest" in second
    shown = {int(part.split('"')[0]) for page in (first, second)
             for part in page.split('data-job="')[1:]}
    assert len(shown) == 4


def test_sub_jobs_are_shown_under_their_parent(dev, ids, sqlite_db):
    with sqlite_db.session() as session:
        trigger = session.get(Trigger, ids["SETUP"])
        root = job_rules.record_trigger_job(session, trigger)
        other = job_rules.record_trigger_job(session, trigger)
        child = lifecycle.record(session, project_id=root.project_id, task_id=root.task_id,
                                  trigger_id=root.trigger_id, function="step",
                                  parent_id=root.id, root_id=root.id, depth=1)
        assert child is not None
        ids_ = (root.id, other.id, child.id)
    page = text(dev.get("/dashboard/jobs"))
    order = [int(part.split('"')[0]) for part in page.split('data-job="')[1:]]
    # Newest first, except that the sub-job follows its parent.
    assert order == [ids_[1], ids_[0], ids_[2]]
    assert f'class="subjob depth-1" data-job="{ids_[2]}"' in page
    assert "1 sub-job(s)" in page
    parent_page = text(dev.get(f"/dashboard/jobs/{ids_[0]}"))
    assert "Sub-jobs" in parent_page and f"#{ids_[2]}" in parent_page


def test_webhook_jobs_get_replay_not_retry(app, dev, ids, sqlite_db):
    client = app.test_client()
    answer = client.post(f"/webhooks/{ids['form_token']}", data={"name": "Ann", "city": "Rome"})
    assert answer.status_code == 200 and answer.get_json() == {"name": "Ann", "n": 2}
    [original] = [job for job in job_rows(sqlite_db) if job.function == "handle_webhook"]
    with sqlite_db.session() as session:
        data_in = session.scalars(select(Log.message).where(
            Log.job_id == original.id, Log.type == "data_in")).one()
    # A form's fields are logged (werkzeug leaves no raw body once it parsed the form).
    assert data_in.endswith(": name=Ann&city=Rome")
    page = text(dev.get(f"/dashboard/jobs/{original.id}"))
    assert "Replay" in page and f"/dashboard/jobs/{original.id}/retry" not in page
    listing = text(dev.get("/dashboard/jobs"))
    assert "Replay…" in listing and f"/jobs/{original.id}/retry" not in listing
    refused = dev.post(f"/dashboard/jobs/{original.id}/retry", follow_redirects=True)
    assert "cannot be retried" in text(refused)
    replayed = dev.post(f"/dashboard/jobs/{original.id}/replay")
    assert replayed.status_code == 302
    new_page = text(dev.get(replayed.headers["Location"]))
    assert f"replay of job #{original.id}" in new_page
    assert '200 application/json: {"name": "Ann", "n": 2}' in new_page
    jobs = job_rows(sqlite_db)
    assert len(jobs) == 2
    again = jobs[-1]
    assert (again.function, again.state, again.description) == (
        "handle_webhook", "done", f"replay of job #{original.id}")
    with sqlite_db.session() as session:
        lines = [(line.type, line.message) for line in session.scalars(
            select(Log).where(Log.job_id == again.id).order_by(Log.id))]
    assert ("server", "got [('city', 'Rome'), ('name', 'Ann')]") in lines
    assert lines[0] == ("data_in", data_in)  # the replay can itself be replayed
    with sqlite_db.session() as session:  # the original is untouched
        assert session.get(Job, original.id).state == "done"


def test_replay_of_a_json_webhook_and_refusals(app, dev, reader, ids, sqlite_db):
    client = app.test_client()
    assert client.post(f"/webhooks/{ids['json_token']}", json={"a": 1}).status_code == 200
    [original] = job_rows(sqlite_db)
    assert reader.post(f"/dashboard/jobs/{original.id}/replay").status_code == 403
    response = dev.post(f"/dashboard/jobs/{original.id}/replay", follow_redirects=True)
    assert '200 application/json: "hi"' in text(response)
    with sqlite_db.session() as session:
        button_job = job_rules.record_trigger_job(session, session.get(Trigger, ids["SETUP"]))
        button_id = button_job.id
    refused = text(dev.post(f"/dashboard/jobs/{button_id}/replay", follow_redirects=True))
    assert "cannot be replayed: only webhook jobs are replayed" in refused


def test_run_now_notice_lasts_as_long_as_the_job(dev, ids, worker):
    url = dev.post(f"/dashboard/triggers/{ids['SETUP']}/run").headers["Location"]
    # Shown inside the part of the page that follows the job, on every refresh while it runs.
    for _ in range(2):
        running = text(dev.get(url))
        assert 'id="job-queued"' in running and "this page follows it" in running
        assert running.index('id="job-live"') < running.index('id="job-queued"')
    assert worker.run_pending() == 1
    finished = text(dev.get(url))
    assert 'id="job-queued"' not in finished and "this page follows it" not in finished
