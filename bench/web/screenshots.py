"""``python -m bench.web.screenshots``: pictures of the dashboard's home, jobs and logs pages
for the user guide, taken by real headless Chromium and written to ``docs/img/``.

A throw-away own database gets a few projects, a connection with poll statistics, a DB
trigger in error and some thousands of jobs and log lines (the benchmark's generator), so the
pages look as they do in use. Needs ``chromium`` and ``chromedriver`` (apt) and selenium.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import threading
from pathlib import Path

from sqlalchemy import select, update
from werkzeug.serving import make_server

from bench.web import pages
from connector.store.models import OdooConnection, PollStat, Project, Trigger, utcnow
from webui import create_app

CHROMIUM = os.environ.get("SYNCSTUDIO_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SYNCSTUDIO_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
OUT = Path(__file__).resolve().parents[2] / "docs" / "img"
SHOTS = (("dashboard-home.png", "/dashboard/"),
         ("dashboard-jobs.png", "/dashboard/jobs?size=25"),
         ("dashboard-logs.png", "/dashboard/logs?level=error&group=task"))


def _stage(db: object) -> None:
    """What the home page should show: one connection down with a trigger in error."""
    from connector.store.db import Database

    assert isinstance(db, Database)
    now = utcnow()
    with db.session() as session:
        down = OdooConnection(name="staging", url="http://odoo-staging:8069",
                              database="staging", login="sync")
        session.add(down)
        session.flush()
        session.add(PollStat(connection_id=down.id, minute=now.replace(second=0, microsecond=0),
                             cycles=4, failed_cycles=4, updated_at=now,
                             error="Odoo is unreachable at http://odoo-staging:8069: "
                                   "connection refused"))
        staged = session.scalars(select(Project).where(Project.name == "Shop 4")).one()
        staged.connection_id = down.id
        session.execute(update(Trigger).where(Trigger.project_id == staged.id,
                                              Trigger.kind == "db").values(
            poll_state="waiting", poll_state_at=now,
            poll_error="Odoo is unreachable at http://odoo-staging:8069: connection refused"))
        first = session.scalars(select(Trigger).where(Trigger.kind == "db")
                                .order_by(Trigger.id)).first()
        assert first is not None
        session.execute(update(Trigger).where(Trigger.id == first.id).values(
            poll_state="error", poll_state_at=now - dt.timedelta(minutes=3),
            poll_error="res.partner has no field 'x_shop_ref' — check the trigger's domain, "
                       "watched fields and date field"))


def main(argv: list[str] | None = None) -> None:
    """Build the demo database, serve it, and take each picture."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    with tempfile.TemporaryDirectory(prefix="syncstudio-shots-") as home, \
            pages.backend("sqlite", home) as (db, settings):
        pages.fill(db, settings, 3000, 20000)
        _stage(db)
        app = create_app({"SETTINGS": settings, "DATABASE": db})
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        profile = tempfile.mkdtemp(prefix="syncstudio-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--window-size=1280,1000", "--hide-scrollbars",
                     f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER),
                                  options=options)
        try:
            driver.get(f"{base}/login")
            driver.find_element(By.NAME, "login").send_keys("bench")
            driver.find_element(By.NAME, "password").send_keys("bench")
            driver.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
            args.out.mkdir(parents=True, exist_ok=True)
            for name, path in SHOTS:
                driver.get(base + path)
                driver.find_element(By.CSS_SELECTOR, "main h1")
                target = args.out / name
                driver.save_screenshot(str(target))
                print(f"{target} ({target.stat().st_size:,} bytes)")
        finally:
            driver.quit()
            server.shutdown()
            shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
