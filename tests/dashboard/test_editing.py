"""Creating and deleting tasks and triggers from the dashboard, and Run now queueing its job.

Every test here runs on SQLite and on PostgreSQL: column widths, unique constraints and
``ON DELETE SET NULL`` are the database's business, and the two must agree.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from sqlalchemy import func, select

from connector.store.crypto import SecretBox
from connector.store.models import Job, Log, Project, Task, Trigger, utcnow
from worker.project_cache import ProjectCache

from .worker_step import WorkerStep

BUTTON_CODE = "def handle_button(data=None):\n    log('new task ran with %s' % (data,))\n"


@pytest.fixture
def sqlite_db(db):
    """The dashboard fixtures take their database from ``sqlite_db``: here it is ``db``, which
    is SQLite once and PostgreSQL once."""
    return db


@pytest.fixture
def ids(sqlite_db, project_id):
    """The ids of the project, and of its tasks and triggers by name."""
    with sqlite_db.session() as session:
        named = [*session.execute(select(Task.name, Task.id)),
                 *session.execute(select(Trigger.trigger_name, Trigger.id))]
    return {"project": project_id, **dict(named)}


@pytest.fixture
def worker(settings, sqlite_db):
    with WorkerStep(settings, sqlite_db) as step:
        yield step


def text(response):
    return html.unescape(response.get_data(as_text=True))


def flash_error(page):
    """The text of the page's error message (a flash, or the box of refused code)."""
    found = re.search(r'<(p|div) class="flash error[^"]*">(.*?)</\1>', page, re.S)
    assert found, "no error message on the page"
    return found.group(2)


def state(db, project_id):
    """What a refused form must leave alone: the rows, and the project's version."""
    with db.session() as session:
        return (session.scalar(select(func.count(Task.id))),
                session.scalar(select(func.count(Trigger.id))),
                session.get(Project, project_id).updated_at)


def trigger_named(db, name):
    with db.session() as session:
        return session.scalars(select(Trigger).where(Trigger.trigger_name == name)).one()


def job_rows(db):
    with db.session() as session:
        return {job.id: job for job in session.scalars(select(Job))}


# --------------------------------------------------------------------------- tasks
def test_developer_creates_a_task_and_its_version_moves(dev, ids, sqlite_db, settings):
    cache = ProjectCache(settings, SecretBox.from_settings(settings))
    with sqlite_db.session() as session:
        before = cache.get(session, ids["project"])
    response = dev.post(f"/dashboard/projects/{ids['project']}/tasks",
                        data={"name": "  Sync products ", "code": BUTTON_CODE})
    assert response.status_code == 302
    with sqlite_db.session() as session:
        task = session.scalars(select(Task).where(Task.name == "Sync products")).one()
        assert (task.code, task.active, task.triggers) == (BUTTON_CODE, True, [])
        after = cache.get(session, ids["project"])
    assert response.headers["Location"] == f"/dashboard/tasks/{task.id}"
    assert "Task Sync products created" in text(dev.get(response.headers["Location"]))
    # The workers' cache of the project sees the new task: the flush moved the version.
    assert after.version > before.version
    assert task.id not in before.tasks and after.tasks[task.id] == ("Sync products", BUTTON_CODE)


def test_a_task_may_start_without_code(dev, ids, sqlite_db):
    response = dev.post(f"/dashboard/projects/{ids['project']}/tasks", data={"name": "Later"})
    assert response.status_code == 302
    with sqlite_db.session() as session:
        assert session.scalars(select(Task.code).where(Task.name == "Later")).one() == ""


BAD_TASKS = [
    ({"name": ""}, "A task needs a name."),
    ({"name": "   ", "code": BUTTON_CODE}, "A task needs a name."),
    ({"name": "Setup"}, "This project already has a task named Setup."),
    ({"name": "x" * 201}, "A task name has at most 200 characters."),
    ({"name": "Bad", "code": "def handle_cron(:\n"}, "line 1"),
    ({"name": "Bad", "code": "import os\ndef handle_cron():\n    pass\n"}, "line 1"),
    ({"name": "Bad", "code": "def helper():\n    pass\n"}, "at least one of handle_cron()"),
]


def test_a_bad_new_task_is_refused_and_nothing_is_written(dev, ids, sqlite_db):
    before = state(sqlite_db, ids["project"])
    for form, message in BAD_TASKS:  # one loop, not one test each: a database per engine
        response = dev.post(f"/dashboard/projects/{ids['project']}/tasks", data=form)
        assert response.status_code == 400, form
        page = text(response)
        assert message in flash_error(page), form
        assert form.get("code", "") in page, form  # what was typed is there to be corrected
    assert state(sqlite_db, ids["project"]) == before


# --------------------------------------------------------------------------- triggers
def test_developer_adds_a_button_with_data(dev, ids, sqlite_db):
    response = dev.post(f"/dashboard/tasks/{ids['Setup']}/triggers", data={
        "kind": "button", "trigger_name": "SYNC_ALL", "data": "mode: partial\nlimit: 5\n"})
    assert response.status_code == 302
    row = trigger_named(sqlite_db, "SYNC_ALL")
    assert response.headers["Location"] == f"/dashboard/triggers/{row.id}"
    assert (row.kind, row.task_id, row.project_id, row.active) == (
        "button", ids["Setup"], ids["project"], True)
    assert row.data == {"mode": "partial", "limit": 5}
    assert "Button trigger SYNC_ALL added." in text(dev.get(response.headers["Location"]))


def test_developer_adds_a_cron_trigger(dev, ids, sqlite_db):
    assert dev.post(f"/dashboard/tasks/{ids['Setup']}/triggers", data={
        "kind": "cron", "trigger_name": "HOURLY", "interval": "2", "interval_unit": "hours",
        "next_run_at": "2030-01-02T03:04", "scheduler_user": "admin",
    }).status_code == 302
    row = trigger_named(sqlite_db, "HOURLY")
    assert (row.kind, row.interval, row.interval_unit, row.scheduler_user) == (
        "cron", 2, "hours", "admin")
    assert row.next_run_at == dt.datetime(2030, 1, 2, 3, 4)
    # Left empty, the fields take a project file's defaults: every day, first run at once.
    assert dev.post(f"/dashboard/tasks/{ids['Setup']}/triggers",
                    data={"kind": "cron", "trigger_name": "DAILY"}).status_code == 302
    row = trigger_named(sqlite_db, "DAILY")
    assert (row.interval, row.interval_unit, row.next_run_at) == (1, "days", None)


def give_handle_db(db, task_id):
    """The fixture's Setup task runs buttons and cron; a DB trigger needs handle_db too."""
    from connector.store.models import Task

    with db.session() as session:
        session.get(Task, task_id).code += "def handle_db(records):\n    pass\n"


def test_developer_adds_db_triggers(dev, ids, sqlite_db):
    give_handle_db(sqlite_db, ids["Setup"])
    assert dev.post(f"/dashboard/tasks/{ids['Setup']}/triggers", data={
        "kind": "db", "trigger_name": "ON_EMAIL_CHANGED", "model": "res.partner",
        "condition": "write", "domain": "[('is_company', '=', False)]",
        "before_domain": "[('email', '!=', False)]", "watched_fields": "email, phone",
        # Fields of the timed condition (sent by the form whatever the condition) stay unused.
        "delay": "1", "delay_unit": "days", "when": "after", "date_field": "",
        # A field of another kind is not read.
        "interval": "5",
    }).status_code == 302
    row = trigger_named(sqlite_db, "ON_EMAIL_CHANGED")
    assert (row.kind, row.model, row.condition) == ("db", "res.partner", "write")
    assert (row.domain, row.before_domain) == ("[('is_company', '=', False)]",
                                               "[('email', '!=', False)]")
    assert row.watched_fields == ["email", "phone"]
    assert (row.date_field, row.delay, row.interval) == (None, None, None)
    assert dev.post(f"/dashboard/tasks/{ids['Setup']}/triggers", data={
        "kind": "db", "trigger_name": "AFTER_DEADLINE", "model": "mail.activity",
        "condition": "time", "date_field": "date_deadline", "delay": "3",
        "delay_unit": "hours", "when": "before",
    }).status_code == 302
    row = trigger_named(sqlite_db, "AFTER_DEADLINE")
    assert (row.condition, row.date_field, row.delay, row.delay_unit, row.when) == (
        "time", "date_deadline", 3, "hours", "before")


def test_developer_adds_a_webhook_whose_url_works(dev, ids, sqlite_db, app):
    response = dev.post(f"/dashboard/tasks/{ids['Hook']}/triggers",
                        data={"kind": "webhook", "trigger_name": "SECOND_HOOK"})
    assert response.status_code == 302
    row = trigger_named(sqlite_db, "SECOND_HOOK")
    assert row.webhook_type == "json" and len(row.token) >= 40
    assert f"/webhooks/{row.token}" in text(dev.get(response.headers["Location"]))
    assert app.test_client().post(f"/webhooks/{row.token}", json={}).status_code == 200
    assert dev.post(f"/dashboard/tasks/{ids['Hook']}/triggers", data={
        "kind": "webhook", "trigger_name": "FORM_HOOK", "type": "form"}).status_code == 302
    form_hook = trigger_named(sqlite_db, "FORM_HOOK")
    assert form_hook.webhook_type == "form" and form_hook.token != row.token


BAD_TRIGGERS = [
    ({"kind": "button", "trigger_name": "SETUP"}, "already has a trigger named SETUP"),
    ({"kind": "button", "trigger_name": "INCOMING"}, "already has a trigger named INCOMING"),
    ({"kind": "button", "trigger_name": ""}, "A trigger needs a trigger name"),
    ({"kind": "button", "trigger_name": "not valid!"}, "A trigger name is an identifier"),
    ({"kind": "button", "trigger_name": "X" * 201}, "A trigger name is an identifier"),
    ({"kind": "email", "trigger_name": "MAILED"}, "one of cron, db, webhook, button"),
    ({"trigger_name": "NO_KIND"}, "one of cron, db, webhook, button"),
    ({"kind": "button", "trigger_name": "B", "data": "{mode: [full"}, "not valid YAML"),
    ({"kind": "button", "trigger_name": "B", "data": "when: 2024-01-01"},
     "only JSON's types"),
    ({"kind": "cron", "trigger_name": "C", "interval": "0"}, "C.interval: must be 1 or more"),
    ({"kind": "cron", "trigger_name": "C", "interval": "often"},
     "C.interval: must be a whole number"),
    ({"kind": "cron", "trigger_name": "C", "interval_unit": "years"},
     "C.interval_unit: must be one of minutes, hours, days, weeks, months"),
    ({"kind": "cron", "trigger_name": "C", "next_run_at": "tomorrow"},
     "C.next_run_at: not a date and time"),
    ({"kind": "db", "trigger_name": "D", "condition": "create"}, "D: 'model' is required"),
    ({"kind": "db", "trigger_name": "D", "model": "res.partner"}, "D: 'condition' is required"),
    ({"kind": "db", "trigger_name": "D", "model": "res.partner", "condition": "sometimes"},
     "D.condition: must be one of create, write"),
    ({"kind": "db", "trigger_name": "D", "model": "res.partner", "condition": "create",
      "domain": "is_company"}, "D.domain: not a valid domain"),
    ({"kind": "db", "trigger_name": "D", "model": "res.partner", "condition": "create",
      "before_domain": "'x'"}, "D.before_domain: not a valid domain: a domain is a list"),
    ({"kind": "db", "trigger_name": "D", "model": "mail.activity", "condition": "time"},
     "D: 'date_field' is required"),
    ({"kind": "db", "trigger_name": "D", "model": "mail.activity", "condition": "time",
      "date_field": "date_deadline", "delay": "-1"}, "D.delay: must be 0 or more"),
    ({"kind": "db", "trigger_name": "D", "model": "mail.activity", "condition": "time",
      "date_field": "date_deadline", "delay_unit": "weeks"}, "D.delay_unit: must be one of"),
    ({"kind": "db", "trigger_name": "D", "model": "mail.activity", "condition": "time",
      "date_field": "date_deadline", "when": "during"}, "D.when: must be one of after, before"),
    ({"kind": "db", "trigger_name": "D", "model": "x" * 201, "condition": "create"},
     "D.model: at most 200 characters"),
    ({"kind": "webhook", "trigger_name": "W", "type": "xml"}, "W.type: must be one of json, form"),
]


def test_a_bad_new_trigger_is_refused_and_nothing_is_written(dev, ids, sqlite_db):
    before = state(sqlite_db, ids["project"])
    for form, message in BAD_TRIGGERS:
        response = dev.post(f"/dashboard/tasks/{ids['Setup']}/triggers", data=form)
        assert response.status_code == 400, form
        page = text(response)
        assert message in flash_error(page), form
        if form.get("kind") in ("cron", "db", "webhook", "button"):
            # The form of that kind is open again with what was typed.
            assert f'id="new-{form["kind"]}" open' in page, form
            assert f'value="{form["trigger_name"]}"' in page, form
    assert state(sqlite_db, ids["project"]) == before


def test_unknown_task_or_trigger_is_404(dev):
    assert dev.post("/dashboard/tasks/999/triggers",
                    data={"kind": "button", "trigger_name": "X"}).status_code == 404
    assert dev.post("/dashboard/projects/999/tasks", data={"name": "X"}).status_code == 404
    assert dev.post("/dashboard/tasks/999/delete").status_code == 404
    assert dev.post("/dashboard/triggers/999/delete").status_code == 404


# --------------------------------------------------------------------------- roles
def write_endpoints(ids):
    return [
        (f"/dashboard/projects/{ids['project']}/tasks", {"name": "New", "code": BUTTON_CODE}),
        (f"/dashboard/tasks/{ids['Setup']}/triggers", {"kind": "button", "trigger_name": "NEW"}),
        (f"/dashboard/triggers/{ids['BREAK']}/delete", {}),
        (f"/dashboard/tasks/{ids['Broken']}/delete", {}),
    ]


def test_a_user_cannot_create_or_delete(reader, ids, sqlite_db):
    before = state(sqlite_db, ids["project"])
    for url, data in write_endpoints(ids):
        assert reader.post(url, data=data).status_code == 403, url
    assert state(sqlite_db, ids["project"]) == before
    for url in (f"/dashboard/projects/{ids['project']}", f"/dashboard/tasks/{ids['Setup']}",
                f"/dashboard/triggers/{ids['SETUP']}"):
        page = text(reader.get(url))
        for control in ("New task", "Add a trigger", "Delete task", "Delete trigger"):
            assert control not in page, (url, control)


def test_without_the_csrf_token_nothing_is_written(dev, ids, sqlite_db):
    before = state(sqlite_db, ids["project"])
    for url, data in write_endpoints(ids):
        assert dev.client.post(url, data=data).status_code == 400, url
    assert state(sqlite_db, ids["project"]) == before


@pytest.mark.parametrize("who", ["dev", "boss"])
def test_developers_and_managers_create_and_delete(login_as, ids, sqlite_db, who):
    client = login_as(who)
    project_page = text(client.get(f"/dashboard/projects/{ids['project']}"))
    assert "New task" in project_page
    task_page = text(client.get(f"/dashboard/tasks/{ids['Broken']}"))
    assert "Add a trigger" in task_page and "Delete task" in task_page
    assert "data-confirm=\"Delete the task" in task_page  # deleting asks first (forms.js)
    assert "static/forms.js" in task_page
    for url, data in write_endpoints(ids):
        assert client.post(url, data=data).status_code == 302, url
    with sqlite_db.session() as session:
        names = set(session.scalars(select(Task.name)))
        triggers = set(session.scalars(select(Trigger.trigger_name)))
    assert names == {"Setup", "Hook", "New"}
    assert triggers == {"SETUP", "NIGHTLY", "INCOMING", "NEW"}


# --------------------------------------------------------------------------- deletion
def test_deleting_a_task_keeps_its_jobs_and_logs(dev, ids, sqlite_db, worker, settings):
    dev.post(f"/dashboard/triggers/{ids['SETUP']}/run")
    assert worker.run_pending() == 1
    queued = dev.post(f"/dashboard/triggers/{ids['NIGHTLY']}/run")  # left pending
    [done_id, pending_id] = sorted(job_rows(sqlite_db))
    assert queued.headers["Location"] == f"/dashboard/jobs/{pending_id}"
    cache = ProjectCache(settings, SecretBox.from_settings(settings))
    with sqlite_db.session() as session:
        assert ids["Setup"] in cache.get(session, ids["project"]).tasks

    response = dev.post(f"/dashboard/tasks/{ids['Setup']}/delete")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/dashboard/projects/{ids['project']}"
    with sqlite_db.session() as session:
        assert session.get(Task, ids["Setup"]) is None
        assert session.get(Trigger, ids["SETUP"]) is None
        assert session.get(Trigger, ids["NIGHTLY"]) is None
        assert ids["Setup"] not in cache.get(session, ids["project"]).tasks
        logs = list(session.scalars(select(Log).where(Log.job_id == done_id)))
    jobs = job_rows(sqlite_db)
    assert (jobs[done_id].state, jobs[done_id].task_id, jobs[done_id].trigger_id) == (
        "done", None, None)
    assert [line.message for line in logs] == ["button ran with {'mode': 'full'}", "HELLO"]
    assert {line.task_id for line in logs} == {None}
    # The queued job is cancelled: its handler is gone, no worker must pick it up.
    assert jobs[pending_id].state == "failed"
    assert jobs[pending_id].error == "cancelled: Task Setup was deleted by dev"
    assert worker.run_pending() == 0

    project_page = text(dev.get(response.headers["Location"]))
    assert "Task Setup deleted with its triggers" in project_page
    assert f"#{done_id}</a>" in project_page and f"#{pending_id}</a>" in project_page
    jobs_page = text(dev.get("/dashboard/jobs"))
    assert f"#{done_id}</a>" in jobs_page and "deleted" in jobs_page
    job_page = dev.get(f"/dashboard/jobs/{done_id}")
    assert job_page.status_code == 200
    assert "HELLO" in text(job_page) and "deleted" in text(job_page)
    assert "HELLO" in text(dev.get("/dashboard/logs"))
    assert dev.get(f"/dashboard/tasks/{ids['Setup']}").status_code == 404


def test_a_task_with_a_running_job_is_not_deleted(dev, ids, sqlite_db):
    dev.post(f"/dashboard/triggers/{ids['BREAK']}/run")
    with sqlite_db.session() as session:
        job = session.scalars(select(Job)).one()
        job.state = "started"  # a worker is running it right now
    before = state(sqlite_db, ids["project"])
    response = dev.post(f"/dashboard/tasks/{ids['Broken']}/delete")
    assert response.headers["Location"] == f"/dashboard/tasks/{ids['Broken']}"
    assert f"Task Broken is running job #{job.id}" in text(dev.get(response.headers["Location"]))
    assert dev.post(f"/dashboard/triggers/{ids['BREAK']}/delete").status_code == 302
    assert state(sqlite_db, ids["project"]) == before
    assert job_rows(sqlite_db)[job.id].state == "started"


def test_a_job_started_before_its_worker_died_does_not_block_deletion(dev, app, ids,
                                                                       sqlite_db):
    """A "started" job older than the wall-clock limit (plus grace) has no live run: deleting
    the task cancels it instead of waiting for a reconciler."""
    dev.post(f"/dashboard/triggers/{ids['BREAK']}/run")
    abandoned_for = app.config["SETTINGS"].started_after + 1
    with sqlite_db.session() as session:
        job = session.scalars(select(Job)).one()
        job.state = "started"
        job.started_at = utcnow() - dt.timedelta(seconds=abandoned_for)
    response = dev.post(f"/dashboard/tasks/{ids['Broken']}/delete")
    assert response.headers["Location"] == f"/dashboard/projects/{ids['project']}"
    assert job_rows(sqlite_db)[job.id].state == "failed"


def test_deleting_a_trigger_keeps_the_task_and_the_jobs(dev, ids, sqlite_db, worker):
    dev.post(f"/dashboard/triggers/{ids['BREAK']}/run")
    worker.run_pending()
    response = dev.post(f"/dashboard/triggers/{ids['BREAK']}/delete")
    assert response.headers["Location"] == f"/dashboard/tasks/{ids['Broken']}"
    assert "Trigger BREAK deleted" in text(dev.get(response.headers["Location"]))
    [job] = job_rows(sqlite_db).values()
    assert (job.state, job.task_id, job.trigger_id) == ("failed", ids["Broken"], None)
    with sqlite_db.session() as session:
        assert session.get(Task, ids["Broken"]).triggers == []
    assert ">failed<" in text(dev.get(f"/dashboard/jobs/{job.id}"))


# --------------------------------------------------------------------------- run now
def test_run_now_wakes_a_dispatcher_of_this_process(dev, ids, app, sqlite_db):
    woken = []
    app.extensions["syncstudio.worker"].wake_dispatcher = lambda: woken.append(
        job_rows(sqlite_db))  # what the dispatcher would find when it looks
    response = dev.post(f"/dashboard/triggers/{ids['NIGHTLY']}/run")
    assert response.status_code == 302
    [seen] = woken
    assert [job.state for job in seen.values()] == ["pending"]  # committed before the wake


def test_a_new_task_and_button_run_from_the_dashboard(dev, ids, sqlite_db, worker):
    # The worker's project cache holds the project before the task exists.
    dev.post(f"/dashboard/triggers/{ids['SETUP']}/run")
    assert worker.run_pending() == 1
    created = dev.post(f"/dashboard/projects/{ids['project']}/tasks",
                       data={"name": "Fresh", "code": BUTTON_CODE})
    task_id = int(created.headers["Location"].rsplit("/", 1)[1])
    dev.post(f"/dashboard/tasks/{task_id}/triggers",
             data={"kind": "button", "trigger_name": "FRESH", "data": "[1, 2]"})
    response = dev.post(f"/dashboard/triggers/{trigger_named(sqlite_db, 'FRESH').id}/run")
    job_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert job_rows(sqlite_db)[job_id].state == "pending"
    assert worker.run_pending() == 1
    job = job_rows(sqlite_db)[job_id]
    assert job.state == "done", job.error
    page = text(dev.get(response.headers["Location"]))
    assert "new task ran with [1, 2]" in page and ">done<" in page


SETUP_CODE = """def handle_button(data=None):
    pass
def handle_cron():
    pass
"""
FILE = """name: Same
tasks:
  - name: Setup
    code: |
      def handle_button(data=None):
          pass
      def handle_cron():
          pass
    triggers:
      {kind}:
        - {item}
"""


@pytest.mark.parametrize("form", [
    {"kind": "db", "model": "res.partner", "condition": "create", "domain": "[1, 2]"},
    {"kind": "db", "model": "res.partner", "condition": "sometimes"},
    {"kind": "db", "model": "res.partner", "condition": "create"},  # no handle_db
    {"kind": "db", "model": "mail.activity", "condition": "time"},
    {"kind": "webhook", "type": "xml"},  # no handle_webhook either, but the type comes first
    {"kind": "cron", "interval_unit": "dayz"},
])
def test_dashboard_and_file_refuse_the_same_trigger_with_the_same_message(dev, ids, sqlite_db,
                                                                        settings, form):
    import json

    from connector.errors import ProjectFileError
    from connector.projects import ProjectImporter, parse

    fields = {k: v for k, v in form.items() if k != "kind"}
    response = dev.post(f"/dashboard/tasks/{ids['Setup']}/triggers",
                        data={**form, "trigger_name": "D"})
    assert response.status_code == 400
    shown = flash_error(text(response))
    item = json.dumps({"trigger_name": "D", **fields})
    with sqlite_db.session() as session, pytest.raises(ProjectFileError) as info:
        ProjectImporter(session, SecretBox.from_settings(settings)) \
            .import_data(parse(FILE.format(kind=form["kind"], item=item)))
    in_file = re.sub(r" \(line \d+\)", "", str(info.value))
    prefix = f"tasks[0].triggers.{form['kind']}[0]"
    assert in_file.startswith(prefix) and shown.startswith("D")
    assert in_file[len(prefix):] == shown[1:], (in_file, shown)


def test_alias_bomb_as_button_data_is_refused_at_once(dev, ids, sqlite_db):
    # 378 bytes stored 152 MB and took the trigger page 40 s to render before the bound.
    levels = "\n".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]"
                       for i in range(1, 8))
    bomb = f"l0: &l0 [lol]\n{levels}\n"
    assert len(bomb) < 400
    before = state(sqlite_db, ids["project"])
    response = dev.post(f"/dashboard/tasks/{ids['Setup']}/triggers",
                        data={"kind": "button", "trigger_name": "BOMB", "data": bomb})
    assert response.status_code == 400
    assert "YAML aliases (*name) would expand" in flash_error(text(response))
    setup = trigger_named(sqlite_db, "SETUP")
    response = dev.post(f"/dashboard/triggers/{setup.id}/data", data={"data": bomb})
    assert "YAML aliases (*name) would expand" in text(response) or response.status_code == 302
    assert state(sqlite_db, ids["project"]) == before
    # A few shared values stay welcome.
    response = dev.post(f"/dashboard/tasks/{ids['Setup']}/triggers", data={
        "kind": "button", "trigger_name": "SHARED",
        "data": "base: &b {mode: full}\none: *b\ntwo: *b"})
    assert response.status_code == 302
    assert trigger_named(sqlite_db, "SHARED").data == {
        "base": {"mode": "full"}, "one": {"mode": "full"}, "two": {"mode": "full"}}


def test_dashboard_checks_a_db_trigger_against_the_project_s_odoo(dev, ids, sqlite_db, settings,
                                                                   odoo_sim):
    from connector.store.models import OdooConnection

    give_handle_db(sqlite_db, ids["Setup"])
    with sqlite_db.session() as session:
        conn = OdooConnection(name="sim", url=odoo_sim.url, database=odoo_sim.database,
                              login="admin", protocol="jsonrpc",
                              password_enc=SecretBox.from_settings(settings).encrypt("admin"))
        session.get(Project, ids["project"]).connection = conn
    before = state(sqlite_db, ids["project"])
    for form, message in [
        ({"model": "res.partnr", "condition": "create"},
         "D.model: model 'res.partnr' does not exist in Odoo — did you mean 'res.partner'?"),
        ({"model": "res.partner", "condition": "write", "watched_fields": "emial"},
         "D.watched_fields[0]: field 'emial' does not exist on res.partner — did you mean "
         "'email'?"),
        ({"model": "res.partner", "condition": "create", "domain": "[('is_compny', '=', 1)]"},
         "D.domain: field 'is_compny' does not exist on res.partner — did you mean "
         "'is_company'?"),
    ]:
        response = dev.post(f"/dashboard/tasks/{ids['Setup']}/triggers",
                            data={"kind": "db", "trigger_name": "D", **form})
        assert response.status_code == 400, form
        assert flash_error(text(response)) == message
    assert state(sqlite_db, ids["project"]) == before
    response = dev.post(f"/dashboard/tasks/{ids['Setup']}/triggers", data={
        "kind": "db", "trigger_name": "D", "model": "res.partner", "condition": "write",
        "watched_fields": "email"})
    assert response.status_code == 302
