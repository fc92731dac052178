"""Projects from the dashboard: create, import with its plan first, export, delete; and the
trigger pickers and in-place edits, against the Odoo simulator over real RPC."""

from __future__ import annotations

import html

import yaml
from sqlalchemy import func, select

from connector.store.crypto import SecretBox
from connector.store.models import Job, Log, OdooConnection, Project, Task, Trigger
from webui.dashboard import catalog

from .conftest import PROTECTED_MARK, SECRET_VALUE

NEW_FILE = """
name: Imported
params: {REGION: eu}
common_code: |
  def helper():
      return 1
tasks:
  - name: Click
    code: |
      def handle_button(data=None):
          log("clicked")
    triggers:
      button: [{trigger_name: CLICK}]
"""


def text(response):
    return html.unescape(response.get_data(as_text=True))


def count(db, model):
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_import_shows_the_plan_and_writes_only_on_apply(dev, sqlite_db):
    before = count(sqlite_db, Project)
    page = text(dev.post("/dashboard/projects/import", data={"text": NEW_FILE}))
    assert "project 'Imported' (new)" in page and "+ task 'Click'" in page
    assert "+ button trigger CLICK of task 'Click'" in page and "+ param REGION" in page
    assert count(sqlite_db, Project) == before  # a plan writes nothing
    digest = page.split('name="digest" value="')[1].split('"')[0]
    response = dev.post("/dashboard/projects/import/apply", data={"text": NEW_FILE,
                                                                  "digest": digest})
    assert response.status_code == 302
    with sqlite_db.session() as session:
        project = session.scalars(select(Project).where(Project.name == "Imported")).one()
        assert [t.name for t in project.tasks] == ["Click"]


def test_a_stale_plan_is_shown_again_not_applied(dev, sqlite_db):
    response = dev.post("/dashboard/projects/import/apply", data={"text": NEW_FILE,
                                                                  "digest": "old"})
    assert response.status_code == 409 and "here is the plan now" in text(response)
    assert count(sqlite_db, Project) == 1


def test_refused_file_and_code_name_the_fix(dev, sqlite_db):
    bad = NEW_FILE.replace("trigger_name: CLICK", "trigger_name: CLICK, colour: red")
    response = dev.post("/dashboard/projects/import", data={"text": bad})
    assert response.status_code == 400 and "colour" in text(response)
    broken = NEW_FILE.replace('log("clicked")', 'log("clicked"')
    response = dev.post("/dashboard/projects/import", data={"text": broken})
    assert response.status_code == 400 and "syntax error" in text(response)
    env = NEW_FILE + "secrets: {TOKEN: '${HOME}'}\n"
    page = text(dev.post("/dashboard/projects/import", data={"text": env}))
    assert "environment variable HOME is not set" in page and "syncstudio project import" in page
    assert count(sqlite_db, Project) == 1


def test_a_developer_needs_a_manager_for_protected_code_and_secrets(dev, boss, project_id,
                                                                    sqlite_db):
    exported = dev.get(f"/dashboard/projects/{project_id}/export")
    assert exported.status_code == 200 and "attachment" in exported.headers[
        "Content-Disposition"]
    body = exported.get_data(as_text=True)
    assert PROTECTED_MARK not in body and SECRET_VALUE not in body
    data = yaml.safe_load(body)
    assert "protected_code" not in data and data["secrets"] == ["API_TOKEN", "OTHER_TOKEN"]
    # Re-imported by the Developer: the stored protected code is kept, nothing to change.
    page = text(dev.post("/dashboard/projects/import", data={"text": body}))
    assert "no changes" in page and "Apply this plan" in page
    data["protected_code"] = "x = 1\n"
    changed = yaml.safe_dump(data)
    page = text(dev.post("/dashboard/projects/import", data={"text": changed}))
    assert "Only a Manager may apply this plan" in page and "protected_code" in page
    assert PROTECTED_MARK not in page
    assert dev.post("/dashboard/projects/import/apply", data={"text": changed}).status_code == 403
    manager_export = boss.get(f"/dashboard/projects/{project_id}/export").get_data(as_text=True)
    assert PROTECTED_MARK in manager_export and SECRET_VALUE not in manager_export
    page = text(boss.post("/dashboard/projects/import", data={"text": changed}))
    assert "Only a Manager" not in page and "~ protected_code" in page


def test_create_and_delete_a_project_with_its_jobs_and_logs(dev, boss, reader, sqlite_db):
    assert reader.post("/dashboard/projects", data={"name": "Mine"}).status_code == 403
    response = dev.post("/dashboard/projects", data={"name": "Mine"})
    assert response.status_code == 302
    with sqlite_db.session() as session:
        project = session.scalars(select(Project).where(Project.name == "Mine")).one()
        pid = project.id
        task = Task(project_id=pid, name="T", code="def handle_cron():\n    pass\n")
        session.add(task)
        session.flush()
        job = Job(project_id=pid, task_id=task.id, function="handle_cron", state="done")
        session.add(job)
        session.flush()
        session.add(Log(project_id=pid, job_id=job.id, level="info", message="hi"))
    assert dev.get(f"/dashboard/projects/{pid}/delete").status_code == 403
    assert dev.post(f"/dashboard/projects/{pid}/delete",
                    data={"confirm_name": "Mine"}).status_code == 403
    page = text(boss.get(f"/dashboard/projects/{pid}/delete"))
    assert "1 jobs" in page and "1 log lines" in page
    boss.post(f"/dashboard/projects/{pid}/delete", data={"confirm_name": "wrong"})
    assert count(sqlite_db, Project) == 2  # the name did not match
    assert boss.post(f"/dashboard/projects/{pid}/delete",
                     data={"confirm_name": "Mine"}).status_code == 302
    with sqlite_db.session() as session:
        assert session.get(Project, pid) is None
        assert session.scalar(select(func.count(Job.id)).where(Job.project_id == pid)) == 0
        assert session.scalar(select(func.count(Log.id)).where(Log.project_id == pid)) == 0


def _connect(settings, sqlite_db, project_id, url, password="admin"):
    catalog.clear()
    with sqlite_db.session() as session:
        conn = OdooConnection(name="sim", url=url, database="odootest", login="admin",
                              protocol="jsonrpc", timeout=5,
                              password_enc=SecretBox.from_settings(settings).encrypt(password))
        session.get(Project, project_id).connection = conn
        session.get(Task, session.scalar(select(Task.id).where(Task.name == "Setup"))).code += (
            "def handle_db(records):\n    pass\n")


def test_db_trigger_pickers_list_odoo_models_and_fields(dev, settings, sqlite_db, project_id,
                                                        odoo_sim):
    _connect(settings, sqlite_db, project_id, odoo_sim.url)
    with sqlite_db.session() as session:
        setup = session.scalar(select(Task.id).where(Task.name == "Setup"))
    page = text(dev.get(f"/dashboard/tasks/{setup}"))
    assert '<datalist id="odoo-models">' in page and '<option value="res.partner">' in page
    fields = dev.get(f"/dashboard/projects/{project_id}/odoo/fields?model=res.partner").json
    assert fields["error"] is None
    by_name = {f["name"]: f for f in fields["fields"]}
    assert by_name["email"]["label"] == "Email" and by_name["write_date"]["type"] == "datetime"
    missing = dev.get(f"/dashboard/projects/{project_id}/odoo/fields?model=res.nope").json
    assert "does not exist" in missing["error"]
    response = dev.post(f"/dashboard/tasks/{setup}/triggers", data={
        "kind": "db", "trigger_name": "ON_MAIL", "model": "res.partner", "condition": "write",
        "watched_fields": ["email", "phone"]})
    assert response.status_code == 302
    trigger_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = text(dev.get(f"/dashboard/triggers/{trigger_id}"))
    assert '<select name="watched_fields" multiple' in page
    assert '<option value="email" selected>Email (email)</option>' in page
    assert "Snapshot" in page
    # Edited in place: a typo'd field is refused with the import's message, then fixed.
    response = dev.post(f"/dashboard/triggers/{trigger_id}/edit", data={
        "model": "res.partner", "condition": "write", "watched_fields": ["emial"]})
    assert response.status_code == 400
    assert "field 'emial' does not exist on res.partner — did you mean 'email'?" in text(response)
    assert dev.post(f"/dashboard/triggers/{trigger_id}/edit", data={
        "model": "res.partner", "condition": "time", "date_field": "write_date", "delay": "2",
        "delay_unit": "hours", "when": "after"}).status_code == 302
    with sqlite_db.session() as session:
        row = session.get(Trigger, trigger_id)
        assert (row.condition, row.date_field, row.delay, row.delay_unit) == (
            "time", "write_date", 2, "hours")


def test_pickers_fall_back_to_free_text_when_odoo_is_down(dev, settings, sqlite_db,
                                                          project_id):
    _connect(settings, sqlite_db, project_id, "http://127.0.0.1:9")  # nothing listens
    with sqlite_db.session() as session:
        setup = session.scalar(select(Task.id).where(Task.name == "Setup"))
    page = text(dev.get(f"/dashboard/tasks/{setup}"))
    assert "Odoo cannot be asked for models and fields" in page and "type the names" in page
    assert '<input name="watched_fields"' in page and '<datalist id="odoo-models">' not in page
    assert "admin" not in page.split("Odoo cannot be asked")[1].split("</p>")[0]


def test_every_kind_is_edited_in_place(dev, sqlite_db, reader):
    with sqlite_db.session() as session:
        ids = {name: key for name, key in session.execute(select(Trigger.trigger_name, Trigger.id))}
        token = session.get(Trigger, ids["INCOMING"]).token
    assert dev.post(f"/dashboard/triggers/{ids['NIGHTLY']}/edit", data={
        "interval": "3", "interval_unit": "hours"}).status_code == 302
    assert dev.post(f"/dashboard/triggers/{ids['SETUP']}/edit", data={
        "data": "mode: light\n"}).status_code == 302
    assert dev.post(f"/dashboard/triggers/{ids['INCOMING']}/edit", data={
        "type": "form"}).status_code == 302
    assert reader.post(f"/dashboard/triggers/{ids['NIGHTLY']}/edit", data={
        "interval": "9"}).status_code == 403
    with sqlite_db.session() as session:
        nightly, setup, hook = (session.get(Trigger, ids[n]) for n in
                                ("NIGHTLY", "SETUP", "INCOMING"))
        assert (nightly.interval, nightly.interval_unit) == (3, "hours")
        assert setup.data == {"mode": "light"}
        assert hook.webhook_type == "form" and hook.token == token  # the URL stays


def test_a_new_project_with_a_connection_or_limits_needs_a_manager(dev, boss):
    for extra in ("odoo: {url: 'http://odoo.example', database: d, login: admin}\n",
                  "limits: {cpu_seconds: 100}\n"):
        page = text(dev.post("/dashboard/projects/import", data={"text": NEW_FILE + extra}))
        assert "Only a Manager may apply this plan" in page, extra
        assert "Only a Manager" not in text(boss.post("/dashboard/projects/import",
                                                      data={"text": NEW_FILE + extra}))


def test_only_pages_with_an_editor_admit_its_styles_by_a_fresh_nonce(dev, project_id):
    first = dev.get(f"/dashboard/projects/{project_id}")
    second = dev.get(f"/dashboard/projects/{project_id}")
    policies = [r.headers["Content-Security-Policy"] for r in (first, second)]
    nonces = [p.split("'nonce-")[1].split("'")[0] for p in policies]
    assert nonces[0] != nonces[1] and "script-src 'self';" in policies[0]
    assert f'name="syncstudio-style-nonce" content="{nonces[0]}"' in text(first)
    plain = dev.get("/dashboard/connections").headers["Content-Security-Policy"]
    assert "nonce" not in plain and "style-src 'self';" in plain
