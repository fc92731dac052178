"""One real-browser run: headless Chromium logs in, opens a project and clicks Run now; the job
page shows the queued job and follows it live until the worker has run it.

Skipped on a machine without Chromium (or its driver, or selenium); with ``CI`` set a missing
browser fails the test instead, so CI can never pass by skipping it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from .conftest import require_service
from .worker_step import WorkerStep

CHROMIUM = os.environ.get("SYNCSTUDIO_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SYNCSTUDIO_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOT = Path(os.environ.get("SYNCSTUDIO_TEST_SCREENSHOT", "/tmp/dashboard.png"))


def _check_browser() -> None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise FileNotFoundError(f"{path} is missing (apt-get install chromium "
                                    "chromium-driver)")
    import selenium  # noqa: F401  (pip install selenium)


@pytest.fixture
def live_server(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    require_service("Headless Chromium", _check_browser)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="syncstudio-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--window-size=1280,1000",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # An explicit driver path: Selenium Manager never tries to download one.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_log_in_open_a_project_and_run_a_button(live_server, browser, settings, sqlite_db):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 30)
    driver.get(f"{live_server}/dashboard/")
    wait.until(ec.presence_of_element_located((By.NAME, "login")))
    assert "/login" in driver.current_url
    driver.find_element(By.NAME, "login").send_keys("dev")
    driver.find_element(By.NAME, "password").send_keys("dev-pw")
    driver.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.LINK_TEXT, "Dash"))).click()
    run = wait.until(ec.element_to_be_clickable(
        (By.CSS_SELECTOR, "button[data-run='SETUP']")))
    driver.save_screenshot(str(SCREENSHOT.with_name("dashboard-project.png")))
    run.click()
    # The request only queued the job: its page comes back at once and shows it pending.
    wait.until(ec.text_to_be_present_in_element((By.ID, "job-state"), "pending"))
    with WorkerStep(settings, sqlite_db) as worker:
        assert worker.run_pending() == 1
    # The page follows the job by itself (live.js), without a reload by the test.
    wait.until(ec.text_to_be_present_in_element((By.ID, "job-state"), "done"))
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "button ran with {'mode': 'full'}" in body
    assert "HELLO" in body
    assert "queued; this page follows it" not in body  # the notice went with the job
    assert "Waiting for a worker" not in body
    driver.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 1000


ATTACK_PAGE = """<html><head><title>hook page</title></head><body><p id=out>nothing</p>
<script>
document.title = 'script ran';
fetch('/dashboard/projects/1', {credentials: 'include'}).then(function (r) {
  return r.text();
}).then(function (text) {
  document.title = 'read ' + text.length;
  document.getElementById('out').textContent = text;
  var token = (text.match(/name="csrf_token" value="([^"]+)"/) || [])[1];
  var body = new URLSearchParams({csrf_token: token, code: 'EXPORTED = secrets.TOKEN'});
  return fetch('/dashboard/projects/1/code/protected', {method: 'POST', body: body,
                                                         credentials: 'include'});
}).then(function (r) { document.title += ' posted ' + r.status; },
        function (e) { document.title = 'blocked ' + e; });
</script></body></html>"""


def _log_in(driver: Any, base: str, login: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/login")
    WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.NAME, "login")))
    driver.find_element(By.NAME, "login").send_keys(login)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
    WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.LINK_TEXT, "Dash")))


def test_a_developers_webhook_page_cannot_read_or_drive_the_dashboard(live_server, browser,
                                                                      sqlite_db, project_id):
    """A Manager opening a Developer's form webhook page: its script gets nothing."""
    import time

    from selenium.webdriver.common.by import By
    from sqlalchemy import select

    from connector.store.models import Project, Task, Trigger

    from .conftest import PROTECTED_MARK

    with sqlite_db.session() as session:
        task = session.scalars(select(Task).where(Task.name == "Hook")).one()
        task.code = ("PAGE = " + repr(ATTACK_PAGE) + "\n"
                     "def handle_webhook(httprequest):\n"
                     "    return PAGE, [('Content-Type', 'text/html; charset=utf-8')]\n")
        trigger = session.scalars(select(Trigger).where(Trigger.trigger_name == "INCOMING")).one()
        trigger.webhook_type = "form"
        token = trigger.token
        before = session.get(Project, project_id).protected_code
    assert project_id == 1 and PROTECTED_MARK in before
    _log_in(browser, live_server, "boss", "boss-pw")
    browser.get(f"{live_server}/webhooks/{token}")
    assert browser.find_element(By.ID, "out").text == "nothing"
    time.sleep(2)  # what an unsandboxed script needs to read and post, several times over
    title = browser.execute_script("return document.title")
    assert title == "hook page", title  # the script never ran
    assert PROTECTED_MARK not in browser.page_source
    assert browser.find_element(By.ID, "out").text == "nothing"
    with sqlite_db.session() as session:
        assert session.get(Project, project_id).protected_code == before


def test_the_dashboard_cannot_be_framed(live_server, browser):
    from selenium.webdriver.common.by import By

    _log_in(browser, live_server, "boss", "boss-pw")
    frame_page = f"<iframe id=f src='{live_server}/dashboard/projects/1'></iframe>"
    browser.get("data:text/html," + frame_page)
    import time

    time.sleep(2)  # the frame's load (or refusal)
    browser.switch_to.frame(browser.find_element(By.ID, "f"))
    from .conftest import PROTECTED_MARK

    # Chromium shows its own "refused to connect" page in the frame instead.
    assert PROTECTED_MARK not in browser.page_source
    assert browser.find_elements(By.CSS_SELECTOR, "a.brand") == []
    assert browser.find_elements(By.NAME, "code") == []
    browser.switch_to.default_content()
