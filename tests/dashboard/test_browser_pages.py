"""Real headless Chromium on the home, jobs, job and logs pages, for each role: a Developer
runs a button, follows its job, opens its logs, filters the jobs and replays a webhook; a User
sees every page but is refused every write; no page shows a Developer a secret's value.

Skipped like tests/dashboard/test_browser.py on a machine without Chromium (failed under CI).
"""

from __future__ import annotations

from typing import Any

import requests
from sqlalchemy import select

from connector.store.models import Trigger

from .conftest import PROTECTED_MARK, SECRET_VALUE
from .test_browser import _log_in
from .test_browser import browser as browser  # noqa: F401 - fixtures
from .test_browser import live_server as live_server  # noqa: F401
from .worker_step import WorkerStep


def _wait(driver: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 30)


def test_developer_runs_a_button_follows_it_and_opens_its_logs(live_server, browser,
                                                               settings, sqlite_db):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    driver, wait = browser, _wait(browser)
    _log_in(driver, live_server, "dev", "dev-pw")
    driver.find_element(By.LINK_TEXT, "Dash").click()
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button[data-run='SETUP']"))).click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "job-state"), "pending"))
    assert driver.find_element(By.ID, "job-queued").is_displayed()
    with WorkerStep(settings, sqlite_db) as worker:
        assert worker.run_pending() == 1
    wait.until(ec.text_to_be_present_in_element((By.ID, "job-state"), "done"))
    # The notice went with the job: the live part of the page no longer has it.
    assert driver.find_elements(By.ID, "job-queued") == []
    assert "queued; this page follows it" not in driver.find_element(By.TAG_NAME, "body").text
    job_url = driver.current_url
    driver.find_element(By.CSS_SELECTOR, "#job-live a.button[href*='logs?job=']").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "table.logs")))
    assert "/dashboard/logs?job=" in driver.current_url
    logs = driver.find_element(By.CSS_SELECTOR, "table.logs").text
    assert "HELLO" in logs and "Dash" in logs and "Setup" in logs
    # The jobs list, filtered by task in the form.
    driver.get(f"{live_server}/dashboard/jobs")
    Select(driver.find_element(By.NAME, "task")).select_by_visible_text("Dash / Broken")
    driver.find_element(By.CSS_SELECTOR, "#job-filters button[type=submit]").click()
    wait.until(ec.url_contains("task="))
    assert driver.find_elements(By.CSS_SELECTOR, "table.jobs tr[data-job]") == []
    Select(driver.find_element(By.NAME, "task")).select_by_visible_text("Dash / Setup")
    driver.find_element(By.CSS_SELECTOR, "#job-filters button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "table.jobs tr[data-job]")))
    rows = driver.find_elements(By.CSS_SELECTOR, "table.jobs tr[data-job]")
    assert len(rows) == 1 and rows[0].get_attribute("data-job") in job_url
    driver.get(f"{live_server}/dashboard/")
    assert "jobs per hour" in driver.find_element(By.TAG_NAME, "body").text.lower()
    assert driver.find_elements(By.CSS_SELECTOR, "svg.chart rect[data-series='done']")


def test_developer_replays_a_webhook(live_server, browser, sqlite_db):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    with sqlite_db.session() as session:
        token = session.scalars(select(Trigger.token).where(
            Trigger.trigger_name == "INCOMING")).one()
    answer = requests.post(f"{live_server}/webhooks/{token}", json={"order": 7}, timeout=60)
    assert answer.status_code == 200
    driver, wait = browser, _wait(browser)
    _log_in(driver, live_server, "dev", "dev-pw")
    driver.get(f"{live_server}/dashboard/jobs")
    driver.find_element(By.LINK_TEXT, "Replay…").click()
    # No Retry for a webhook job: it would fail without the request.
    assert driver.find_elements(By.XPATH, "//button[text()='Retry']") == []
    driver.find_element(By.ID, "replay-button").click()
    response = wait.until(ec.presence_of_element_located((By.ID, "replay-response")))
    assert response.text == '200 application/json: "hi"'
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "replay of job #1" in body and '{"order": 7}' in body


def _forged_post(driver: Any, url: str) -> int:
    """POST from the page with its own CSRF token, as a hand-made form would."""
    return int(driver.execute_async_script("""
        var done = arguments[arguments.length - 1];
        var token = document.querySelector('meta[name=csrf-token]').content;
        fetch(arguments[0], {method: 'POST', credentials: 'same-origin',
                             body: new URLSearchParams({csrf_token: token})})
          .then(function (r) { done(r.status); }, function () { done(0); });
    """, url))


def test_a_user_sees_the_pages_and_gets_403_on_writes(live_server, browser, sqlite_db,
                                                      settings):
    from selenium.webdriver.common.by import By

    with sqlite_db.session() as session:
        ids = {t.trigger_name: t.id for t in session.scalars(select(Trigger))}
        token = session.get(Trigger, ids["INCOMING"]).token
    requests.post(f"{live_server}/webhooks/{token}", json={}, timeout=60)
    driver = browser
    _log_in(driver, live_server, "reader", "reader-pw")
    for path in ("/dashboard/", "/dashboard/jobs", "/dashboard/jobs/1", "/dashboard/logs"):
        driver.get(live_server + path)
        assert driver.find_elements(By.CSS_SELECTOR, "main h1"), path
        assert driver.find_elements(By.ID, "replay-button") == []
        assert "Retry" not in driver.find_element(By.TAG_NAME, "main").text
    for url in (f"/dashboard/triggers/{ids['SETUP']}/run", "/dashboard/jobs/1/replay",
                "/dashboard/jobs/1/retry"):
        assert _forged_post(driver, live_server + url) == 403, url


def test_a_developer_never_sees_a_secret_value(live_server, browser, sqlite_db, project_id):
    from selenium.webdriver.common.by import By

    driver = browser
    _log_in(driver, live_server, "dev", "dev-pw")
    for path in ("/dashboard/", "/dashboard/jobs", "/dashboard/logs", "/dashboard/links",
                 f"/dashboard/projects/{project_id}", "/dashboard/connections"):
        driver.get(live_server + path)
        assert driver.find_elements(By.CSS_SELECTOR, "main"), path
        assert SECRET_VALUE not in driver.page_source, path
        assert PROTECTED_MARK not in driver.page_source, path
