"""The editing paths in real headless Chromium, once per role: a connection created and tested,
a project with a task and a button, a syntax error marked on its line in the code editor, a DB
trigger added with the pickers (models and fields from the Odoo simulator over real RPC), a
project file imported with its plan shown first, and the project exported.

A User gets 403 on every write; a Developer never sees a secret value or protected code on any
page the walk opens. With SYNCSTUDIO_SCREENSHOTS set to a folder (scripts/dashboard_screenshots.sh)
the Manager's walk saves the guide's screenshots there.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connector.store.crypto import SecretBox
from connector.store.models import OdooConnection, Project, Task, Trigger

from .conftest import PASSWORDS, PROTECTED_MARK, SECRET_VALUE
from .test_browser import _log_in, browser, live_server  # noqa: F401 - fixtures

SHOTS = os.environ.get("SYNCSTUDIO_SCREENSHOTS")
BROKEN = 'def handle_button(data=None):\n    log("one")\n    total = (1 +\n'
GOOD = ('def handle_button(data=None):\n    log("clicked with %s" % (data,))\n\n'
        'def handle_db(records):\n    log("%d record(s)" % len(records))\n')
IMPORT_FILE = """name: Walk import {role}
params: {{REGION: eu}}
tasks:
  - name: Imported task
    code: |
      def handle_button(data=None):
          log("imported")
    triggers:
      button: [{{trigger_name: IMPORTED_BUTTON}}]
"""


class Walk:
    """One role's browser, with the checks every page must pass."""

    def __init__(self, driver: Any, base: str, role: str) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.base, self.role = driver, base, role
        self.wait = WebDriverWait(driver, 30)

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)
        self.check_page()

    def check_page(self) -> None:
        source = self.driver.page_source
        assert SECRET_VALUE not in source
        if self.role != "boss":
            assert PROTECTED_MARK not in source, self.driver.current_url

    def css(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        return self.wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, selector)))

    def all(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, selector))

    def submit(self, button: Any) -> None:
        """Click a button that submits its form, and wait for the next page."""
        self.driver.execute_script("window.walkOldPage = true")
        button.click()
        self.wait.until(lambda d: d.execute_script(
            "return !window.walkOldPage && document.readyState === 'complete'"))
        self.check_page()

    def flash(self) -> str:
        return " ".join(e.text for e in self.all("p.flash, div.flash"))

    def shot(self, name: str) -> None:
        if SHOTS and self.role == "boss":
            self.driver.save_screenshot(str(Path(SHOTS) / name))

    def post(self, path: str, data: dict[str, str] | None = None) -> int:
        """The status of a POST sent by the page's own script context with its CSRF token."""
        return int(self.driver.execute_async_script("""
            const [url, data, done] = arguments;
            const token = document.querySelector('meta[name=csrf-token]').content;
            fetch(url, {method: 'POST', body: new URLSearchParams(data), redirect: 'manual',
                        headers: {'X-CSRFToken': token}, credentials: 'same-origin'})
              .then((r) => done(r.status === 0 ? 302 : r.status), () => done(-1));
        """, self.base + path, data or {}))

    def fetch_text(self, path: str) -> str:
        return str(self.driver.execute_async_script("""
            const [url, done] = arguments;
            fetch(url, {credentials: 'same-origin'}).then((r) => r.text()).then(done);
        """, self.base + path))

    def set_code(self, field_id: str, code: str) -> None:
        """Replace an editor's text, then type a line in it as a person would."""
        from selenium.webdriver.common.keys import Keys

        self.driver.execute_script("""
            const view = document.getElementById(arguments[0]).editorView;
            view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: arguments[1]}});
        """, field_id, code)
        content = self.css(f"#{field_id} + .cm-editor .cm-content")
        content.click()
        content.send_keys(Keys.CONTROL, Keys.END)
        content.send_keys("# typed")


@pytest.fixture
def walk_setup(settings, sqlite_db, odoo_sim):
    """Dash's Setup task can run DB triggers; a connection "sim" exists for the non-Managers
    (a Manager creates his own in the walk)."""
    from webui.dashboard import catalog

    catalog.clear()
    with sqlite_db.session() as session:
        conn = OdooConnection(name="sim", url=odoo_sim.url, database=odoo_sim.database,
                              login="admin", protocol="jsonrpc", timeout=10,
                              password_enc=SecretBox.from_settings(settings).encrypt("admin"))
        session.get(Project, 1).connection = conn
    return odoo_sim


def _connection_steps(walk: Walk, odoo_sim: Any) -> None:
    from selenium.webdriver.common.by import By

    walk.open("/dashboard/connections")
    if walk.role == "boss":
        walk.css("#new-connection summary").click()
        form = walk.css("#new-connection form")
        for name, value in (("name", "Walk Odoo"), ("url", odoo_sim.url),
                            ("database", odoo_sim.database), ("login", "admin"),
                            ("password", "admin")):
            form.find_element(By.NAME, name).send_keys(value)
        walk.submit(form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        assert "Connection Walk Odoo saved" in walk.flash()
        walk.submit(walk.css("button[data-test='Walk Odoo']"))
        assert "Test of Walk Odoo passed: Odoo 17.0, logged in as" in walk.flash()
        assert "admin" not in walk.driver.find_element(By.ID, "connections").text.split(
            "set")[0].split("Walk Odoo")[-1].replace("admin", "", 1)  # login once, no password
        return
    assert walk.all("#new-connection") == []
    assert walk.post("/dashboard/connections", {"name": "X", "url": odoo_sim.url,
                                                "database": "d", "login": "l"}) == 403
    if walk.role == "dev":
        walk.submit(walk.css("button[data-test='sim']"))
        assert "Test of sim passed: Odoo 17.0" in walk.flash()
    else:
        assert walk.all("button[data-test]") == []
        assert walk.post("/dashboard/connections/1/test") == 403


def _project_steps(walk: Walk) -> int:
    """A project with a task and a button; the id of the task."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    walk.open("/dashboard/projects")
    form = walk.css("#new-project form")
    form.find_element(By.NAME, "name").send_keys(f"Walk {walk.role}")
    if walk.role == "boss":
        Select(form.find_element(By.NAME, "connection_id")).select_by_visible_text("Walk Odoo")
    else:
        assert form.find_elements(By.NAME, "connection_id") == []
    walk.submit(form.find_element(By.CSS_SELECTOR, "button.primary"))
    assert f"Project Walk {walk.role} created" in walk.flash()
    walk.check_page()
    walk.css("details#new-task summary").click()
    walk.css("details#new-task input[name=name]").send_keys("Clicker")
    walk.set_code("new-task-code", GOOD)
    walk.submit(walk.css("details#new-task button.primary"))
    assert "Task Clicker created" in walk.flash()
    task_id = int(walk.driver.current_url.rstrip("/").rsplit("/", 1)[1])
    walk.css("details#new-button summary").click()
    walk.css("details#new-button input[name=trigger_name]").send_keys("CLICK_ME")
    walk.submit(walk.css("details#new-button button.primary"))
    assert "Button trigger CLICK_ME added" in walk.flash()
    return task_id


def _editor_steps(walk: Walk, task_id: int) -> None:
    """Refused code comes back in the editor with the error marked on its line."""
    walk.open(f"/dashboard/tasks/{task_id}")
    gutter_numbers = [e.text for e in walk.all("#task-code + .cm-editor .cm-lineNumbers "
                                               ".cm-gutterElement") if e.text]
    assert gutter_numbers[:3] == ["1", "2", "3"]  # line numbers
    assert walk.all("#task-code + .cm-editor .tok-keyword, #task-code + .cm-editor "
                    "[class*='ͼ']")  # highlighted tokens
    walk.set_code("task-code", BROKEN)
    walk.submit(walk.css(f"form[action$='/tasks/{task_id}'] button.primary"))
    box = walk.css("div.code-error").text
    assert "syntax error" in box and "line 3" in box
    marked = walk.css("#task-code + .cm-editor .cm-lintRange-error")
    line = marked.find_element("xpath", "ancestor::div[contains(@class, 'cm-line')]")
    assert line.text.strip() == "total = (1 +"
    assert walk.css("#task-code + .cm-editor").get_attribute("data-error-line") == "3"
    assert walk.all("#task-code + .cm-editor .cm-lint-marker-error")  # in the gutter too
    walk.shot("dashboard-task-editor.png")
    walk.set_code("task-code", GOOD)
    walk.submit(walk.css(f"form[action$='/tasks/{task_id}'] button.primary"))
    assert "Task saved." in walk.flash()
    assert walk.all("div.code-error") == []


def _db_trigger_steps(walk: Walk, task_id: int) -> None:
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    walk.open(f"/dashboard/tasks/{task_id}")
    walk.css("details#new-db summary").click()
    assert walk.all("datalist#odoo-models option[value='res.partner']")
    walk.css("details#new-db input[name=trigger_name]").send_keys("ON_EMAIL_CHANGED")
    model = walk.css("details#new-db input[name=model]")
    model.send_keys("res.partner", Keys.TAB)
    walk.css("details#new-db .picker-note[data-loaded='res.partner']")
    Select(walk.css("details#new-db select[name=condition]")).select_by_value("write")
    picker = Select(walk.css("details#new-db select[name=watched_fields]"))
    labels = [o.text for o in picker.options]
    assert "Email (email)" in labels and "Phone (phone)" in labels
    picker.select_by_value("email")
    picker.select_by_value("phone")
    dates = [o.get_attribute("value") for o in Select(walk.css(
        "details#new-db select[name=date_field]")).options]
    assert "write_date" in dates and "email" not in dates  # date fields only
    walk.submit(walk.css("details#new-db button.primary"))
    assert "DB trigger ON_EMAIL_CHANGED added" in walk.flash()
    assert "email, phone" in walk.css("section.card dl").text
    walk.css("details#edit-trigger summary").click()
    selected = [o.get_attribute("value") for o in Select(walk.css(
        "#edit-trigger select[name=watched_fields]")).all_selected_options]
    assert selected == ["email", "phone"]
    walk.driver.execute_script("""
        const select = document.querySelector('#edit-trigger select[name=watched_fields]');
        select.scrollIntoView({block: 'center'});
        select.selectedOptions[0].scrollIntoView({block: 'nearest'});
    """)
    walk.shot("dashboard-trigger-pickers.png")


def _import_export_steps(walk: Walk) -> None:
    from selenium.webdriver.common.by import By

    walk.open("/dashboard/projects/import")
    path = Path(tempfile.mkdtemp()) / "walk.yaml"
    path.write_text(IMPORT_FILE.format(role=walk.role), encoding="utf-8")
    walk.css("input[type=file][name=file]").send_keys(str(path))
    walk.submit(walk.css("form[action$='/projects/import'] button[type=submit]"))
    plan = walk.css("#import-plan").text
    assert f"project 'Walk import {walk.role}' (new)" in plan
    assert "+ task 'Imported task'" in plan and "+ button trigger IMPORTED_BUTTON" in plan
    walk.check_page()
    walk.submit(walk.css("#apply-import"))
    assert f"Imported project 'Walk import {walk.role}'" in walk.flash()
    walk.check_page()
    assert walk.driver.find_element(By.LINK_TEXT, "Imported task")
    walk.shot("dashboard-project.png")
    exported = walk.fetch_text(walk.css("#export-project").get_attribute("pathname"))
    assert f"name: Walk import {walk.role}" in exported and "IMPORTED_BUTTON" in exported
    dash = walk.fetch_text("/dashboard/projects/1/export")
    assert "API_TOKEN" in dash and SECRET_VALUE not in dash
    assert (PROTECTED_MARK in dash) == (walk.role == "boss")


def _user_steps(walk: Walk, sqlite_db: Any) -> None:
    """A User sees every page without a form, and each write answers 403."""
    with sqlite_db.session() as session:
        task = session.scalars(select(Task).where(Task.name == "Setup")).one()
        trigger = session.scalars(select(Trigger).where(Trigger.trigger_name == "SETUP")).one()
        ids = (task.id, trigger.id)
    for path in ("/dashboard/projects", "/dashboard/projects/1", f"/dashboard/tasks/{ids[0]}",
                 f"/dashboard/triggers/{ids[1]}", "/dashboard/connections"):
        walk.open(path)
        assert walk.all("form[method=post] button.primary") == [], path
        if "/tasks/" in path:  # the code is shown in the editor, highlighted, read-only
            walk.css("#task-code + .cm-editor .cm-content")
            assert walk.all("#task-code + .cm-editor [contenteditable=true]") == []
    writes = [("/dashboard/projects", {"name": "Nope"}),
              ("/dashboard/projects/import", {"text": IMPORT_FILE.format(role="user")}),
              ("/dashboard/projects/import/apply", {"text": "name: x"}),
              ("/dashboard/projects/1/delete", {"confirm_name": "Dash"}),
              ("/dashboard/projects/1/connection", {"connection_id": ""}),
              ("/dashboard/connections", {"name": "x"}),
              ("/dashboard/connections/1", {"name": "x"}),
              ("/dashboard/connections/1/test", {}),
              (f"/dashboard/tasks/{ids[0]}", {"code": BROKEN}),
              ("/dashboard/projects/1/tasks", {"name": "t"}),
              (f"/dashboard/tasks/{ids[0]}/triggers", {"kind": "button", "trigger_name": "B"}),
              (f"/dashboard/triggers/{ids[1]}/edit", {"data": "{}"}),
              ("/dashboard/projects/1/code/common", {"code": ""})]
    for path, data in writes:
        assert walk.post(path, data) == 403, path
    assert walk.fetch_text("/dashboard/projects/import").startswith("<!doctype") and \
        "Your role does not allow this" in walk.fetch_text("/dashboard/projects/import")
    exported = walk.fetch_text("/dashboard/projects/1/export")
    assert PROTECTED_MARK not in exported and SECRET_VALUE not in exported


@pytest.mark.parametrize("role", ["boss", "dev", "reader"])
def test_each_role_walks_the_editing_paths(live_server, browser, sqlite_db,  # noqa: F811
                                           walk_setup, role):
    walk = Walk(browser, live_server, role)
    _log_in(browser, live_server, role, PASSWORDS[role])
    _connection_steps(walk, walk_setup)
    if role == "reader":
        _user_steps(walk, sqlite_db)
        return
    task_id = _project_steps(walk)
    _editor_steps(walk, task_id)
    if role == "dev":  # his project has no connection: the DB trigger goes on Dash's Setup
        with sqlite_db.session() as session:
            task_id = session.scalars(select(Task.id).where(Task.name == "Setup")).one()
            task = session.get(Task, task_id)
            task.code += "\ndef handle_db(records):\n    pass\n"
    _db_trigger_steps(walk, task_id)
    _import_export_steps(walk)
    logs = [entry for entry in browser.get_log("browser")
            if entry["level"] == "SEVERE" and entry["source"] != "network"]
    # Nothing refused by the pages' policy, no script error (network lines are the 400s and
    # 403s the walk asks for on purpose).
    assert logs == []
