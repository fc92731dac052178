"""Names, not ids: the Logs buttons, the logs' filters qualified by project, the links page,
button data as YAML, and the job tables of the task page."""

from __future__ import annotations

import html
import json

from sqlalchemy import select

from connector.links import EXTERNAL
from connector.projects import ProjectImporter, parse
from connector.store.crypto import SecretBox
from connector.store.models import (
    Job,
    Link,
    Log,
    OdooConnection,
    Project,
    RecordSnapshot,
    Task,
    Trigger,
)

OTHER = """
name: Other
tasks:
  - name: Setup
    code: |
      def handle_button(data=None):
          log("other project ran")
    triggers:
      button: [{trigger_name: SETUP}]
"""


def text(response):
    return html.unescape(response.get_data(as_text=True))


def ids_of(sqlite_db):
    with sqlite_db.session() as session:
        return {(t.project_id, t.trigger_name): t.id for t in session.scalars(select(Trigger))}


def test_logs_buttons_open_the_filtered_logs(reader, sqlite_db, project_id):
    with sqlite_db.session() as session:
        task = session.scalars(select(Task).where(Task.name == "Setup")).one()
        trigger = session.scalars(select(Trigger).where(Trigger.trigger_name == "SETUP")).one()
        task_id, trigger_id = task.id, trigger.id
    for page, target in ((f"/dashboard/projects/{project_id}", f"project={project_id}"),
                         (f"/dashboard/tasks/{task_id}", f"task={task_id}"),
                         (f"/dashboard/triggers/{trigger_id}", f"trigger={trigger_id}")):
        body = text(reader.get(page))
        assert f'class="button logs" href="/dashboard/logs?{target}">Logs</a>' in body, page
        assert reader.get(f"/dashboard/logs?{target}").status_code == 200


def test_trigger_and_task_filters_name_their_project(app, reader, sqlite_db, settings, dev):
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings), environ={}).import_data(
            parse(OTHER))
    for url in ("/dashboard/logs", "/dashboard/jobs"):
        page = text(reader.get(url))
        assert ">Dash / SETUP<" in page and ">Other / SETUP<" in page, url
        assert ">Dash / Setup<" in page and ">Other / Setup<" in page, url
    with sqlite_db.session() as session:
        other = session.scalars(select(Project.id).where(Project.name == "Other")).one()
    trigger_id = ids_of(sqlite_db)[(other, "SETUP")]
    dev.post(f"/dashboard/triggers/{trigger_id}/run")
    with sqlite_db.session() as session:
        job = session.scalars(select(Job)).one()
        session.add(Log(job_id=job.id, project_id=other, task_id=job.task_id,
                        trigger_id=trigger_id, message="line of the other project"))
    page = text(reader.get(f"/dashboard/logs?trigger={trigger_id}&group=trigger"))
    assert "trigger: Other / SETUP" in page and "line of the other project" in page
    assert ">Other</a>" in page and ">Setup</a>" in page  # project and task columns, by name
    job_logs = text(reader.get(f"/dashboard/logs?job={job.id}"))
    assert f">job #{job.id}</a></h1>" in job_logs and "line of the other project" in job_logs


def test_links_page_names_systems_and_records(reader, sqlite_db, project_id):
    with sqlite_db.session() as session:
        conn = OdooConnection(name="main", url="http://odoo.test", database="db", login="me")
        session.add(conn)
        session.flush()
        session.get(Project, project_id).connection_id = conn.id
        session.add(RecordSnapshot(connection_id=conn.id, model="res.partner", record_id=35,
                                   values_json=json.dumps({"display_name": "Azure Interior"})))
        session.add_all([
            Link(project_id=project_id, relation="partner", odoo_model="res.partner",
                 system1="__odoo__", ref1="35", system2=EXTERNAL, ref2="C-35"),
            Link(project_id=project_id, relation="partner", odoo_model="res.partner",
                 system1="__odoo__", ref1="36", system2=EXTERNAL, ref2="C-36"),
            Link(project_id=project_id, relation="repos", system1="github", ref1="7",
                 system2="trello", ref2="ab")])
    page = text(reader.get("/dashboard/links"))
    assert EXTERNAL not in page and "res.partner,35" not in page
    assert "Azure Interior" in page and "(res.partner #35)" in page
    assert "res.partner #36" in page and "external <b>C-35</b>" in page
    assert "github <b>7</b>" in page and "trello <b>ab</b>" in page


def test_button_data_is_shown_as_yaml(reader, sqlite_db, project_id):
    trigger_id = ids_of(sqlite_db)[(project_id, "SETUP")]
    page = text(reader.get(f"/dashboard/triggers/{trigger_id}"))
    assert "mode: full" in page and '"mode": "full"' not in page
    project_page = text(reader.get(f"/dashboard/projects/{project_id}"))
    assert "data <code>{mode: full}</code>" in project_page


def test_task_page_jobs_show_task_and_trigger_names(dev, sqlite_db, project_id):
    trigger_id = ids_of(sqlite_db)[(project_id, "SETUP")]
    dev.post(f"/dashboard/triggers/{trigger_id}/run")
    with sqlite_db.session() as session:
        task_id = session.scalars(select(Task.id).where(Task.name == "Setup",
                                                        Task.project_id == project_id)).one()
    page = text(dev.get(f"/dashboard/tasks/{task_id}"))
    table = page[page.index('<table class="jobs">'):]
    assert f'/dashboard/tasks/{task_id}">Setup</a>' in table
    assert f'/dashboard/triggers/{trigger_id}">SETUP</a>' in table
