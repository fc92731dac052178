"""The bundled demo projects (connector/demo/, on the simulators' demo data, as `syncstudio
demo` sets them up) run every handler to completion: Telegram's button, webhook and DB
trigger, Odoo2odoo's DB trigger, cron (with a linked partner) and button with its sub-jobs.

Each handler runs through the worker in a sandbox process, against two simulators: the
project's Odoo and the external Odoo of Odoo2odoo. The Bot API is a local fake.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
import xmlrpc.client
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from connector import jobs
from connector.demo import PROJECTS, project_text
from connector.projects import ProjectImporter, parse
from connector.settings import Settings
from connector.simulator import OdooSimulator
from connector.store import migrate
from connector.store.db import Database
from connector.store.models import Link, Project, ProjectSecret, Trigger
from tests.compat.conftest import Compat, Run, code_check
from tests.support import LocalApi
from worker.executor import execute

TELEGRAM = "Demo Telegram support"
ODOO2ODOO = "Demo Odoo2odoo"
BOT_TOKEN = "123456:demo-bot-token"


class FakeBotApi(LocalApi):
    """The Bot API: every method answers ok; sendMessage calls are what the tests read."""

    def answer(self, request: dict[str, Any]) -> tuple[int, bytes]:
        return 200, b'{"ok": true, "result": {"message_id": 1}}'

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.received
                if r["path"] == f"/bot{BOT_TOKEN}/{method}"]


class Demo(Compat):
    """The demo installation: both projects imported, as `syncstudio demo` does."""

    def __init__(self, settings: Settings, db: Database, odoo: Any, remote: Any,
                 bot: FakeBotApi) -> None:
        super().__init__(settings, db, odoo)
        self.remote = remote
        self.bot = bot
        values = {"ODOO_URL": odoo.url, "ODOO_DB": odoo.database, "REMOTE_URL": remote.url,
                  "REMOTE_DB": remote.database}
        environ = {"SYNCSTUDIO_DEMO_ODOO_PASSWORD": "admin",
                   "SYNCSTUDIO_DEMO_REMOTE_LOGIN": "admin",
                   "SYNCSTUDIO_DEMO_REMOTE_PASSWORD": "admin"}
        with db.session() as session:
            for name in PROJECTS:
                ProjectImporter(session, self.box, check_code=code_check(
                    settings.import_allowlist), environ=environ).import_data(
                        parse(project_text(name, values), source=name))
        # The Manager's `syncstudio secret set` of the Telegram project's two secrets.
        with db.session() as session:
            project = session.scalar(select(Project).where(Project.name == TELEGRAM))
            assert project is not None
            for secret in session.scalars(select(ProjectSecret)
                                          .where(ProjectSecret.project_id == project.id)):
                value = {"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_API_URL": bot.url}
                secret.value_enc = self.box.encrypt(value[secret.key])

    def demo_trigger(self, project: str, name: str) -> Trigger:
        with self.db.session() as session:
            trigger = session.scalar(
                select(Trigger).join(Project, Project.id == Trigger.project_id)
                .where(Project.name == project, Trigger.trigger_name == name))
            assert trigger is not None, (project, name)
            session.expunge(trigger)
            return trigger

    def run_demo(self, project: str, name: str, args: tuple[Any, ...] = ()) -> Run:
        """Record a job of trigger ``name`` of ``project``, run it and its sub-jobs."""
        with self.db.session() as session:
            trigger = session.scalar(
                select(Trigger).join(Project, Project.id == Trigger.project_id)
                .where(Project.name == project, Trigger.trigger_name == name))
            assert trigger is not None
            job_id = jobs.record_trigger_job(session, trigger, args=args, user="demo").id
        execute(self.ctx, job_id)
        return self.finished(job_id)

    def remote_call(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        proxy = xmlrpc.client.ServerProxy(f"{self.remote.url}/xmlrpc/2/object",
                                          allow_none=True)
        return proxy.execute_kw(self.remote.database, 2, "admin", model, method, list(args),
                                kwargs)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    home = tmp_path_factory.mktemp("demo-home")
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home),
                                  "SYNCSTUDIO_BASE_URL": "http://127.0.0.1:8000"})
    db = Database(settings.database_url)
    migrate.upgrade(db)
    odoo = OdooSimulator(database="demo", demo=True, login_cost=0).start(host="127.0.0.1", port=0)
    remote = OdooSimulator(database="remote", demo=True, login_cost=0).start(host="127.0.0.1",
                                                                             port=0)
    bot = FakeBotApi()
    installation = Demo(settings, db, odoo, remote, bot)
    try:
        yield installation
    finally:
        installation.ctx.pool.close()
        bot.shutdown()
        bot.server_close()
        remote.stop()
        odoo.stop()
        db.dispose()


def _update(user_id: int, text: str) -> dict[str, Any]:
    return {"update_id": 1, "message": {"message_id": 5, "text": text,
                                        "from": {"id": user_id, "first_name": "Ann"}}}


# ----------------------------------------------------------------------- Telegram support
def test_telegram_setup_button(demo):
    run = demo.run_demo(TELEGRAM, "SETUP").ok()
    token = demo.demo_trigger(TELEGRAM, "TELEGRAM_UPDATE").token
    assert demo.bot.calls("setWebhook")[-1] == {
        "url": f"http://127.0.0.1:8000/webhooks/{token}"}
    assert run.lines(type="server")[-1].startswith("setWebhook: ")
    assert BOT_TOKEN not in json.dumps(run.logs)


def test_telegram_webhook_and_reply_trigger(demo):
    token = demo.demo_trigger(TELEGRAM, "TELEGRAM_UPDATE").token
    user_id = uuid.uuid4().int % 10**9
    response = demo.client.post(f"/webhooks/{token}", json=_update(user_id, "/start"))
    assert response.status_code == 200 and response.get_json() == {"ok": True}
    [partner] = demo.odoo.call("res.partner", "search_read",
                               [("ref", "=", f"{user_id}@telegram")], ["name"])
    assert partner["name"] == "Telegram: Ann"
    assert demo.bot.calls("sendMessage")[-1]["chat_id"] == user_id

    response = demo.client.post(f"/webhooks/{token}", json=_update(user_id, "Where is it?"))
    assert response.status_code == 200
    messages = demo.odoo.call("mail.message", "search_read",
                              [("model", "=", "res.partner"), ("res_id", "=", partner["id"])],
                              ["body"])
    assert any("Where is it?" in m["body"] for m in messages)

    # An agent answers in the chatter with /telegram; the DB trigger relays it.
    reply = demo.odoo.call("res.partner", "message_post", [partner["id"]],
                           body="/telegram It ships today")
    run = demo.run_demo(TELEGRAM, "ON_TELEGRAM_REPLY", ("mail.message", [reply])).ok()
    assert demo.bot.calls("sendMessage")[-1] == {"chat_id": user_id, "text": "It ships today"}
    bodies = [m["body"] for m in demo.odoo.call(
        "mail.message", "search_read", [("model", "=", "res.partner"),
                                        ("res_id", "=", partner["id"])], ["body"])]
    assert any("Sent to Telegram: It ships today" in body for body in bodies)
    assert BOT_TOKEN not in json.dumps(run.logs)


# ----------------------------------------------------------------------------- Odoo2odoo
def _linked_partner(demo: Demo, name: str) -> tuple[int, int]:
    """A new partner pushed to the external Odoo by the DB trigger: (local id, remote id)."""
    partner = demo.odoo.create("res.partner", {"name": name})
    demo.run_demo(ODOO2ODOO, "ON_PARTNER_CREATED", ("res.partner", [partner])).ok()
    with demo.db.session() as session:
        [link] = session.scalars(select(Link).where(Link.relation == "odoo2odoo_partner",
                                                    Link.ref1 == str(partner)))
        return partner, int(link.ref2)


def test_odoo2odoo_db_trigger_pushes_and_links(demo):
    partner, remote_id = _linked_partner(demo, "Pushed Ada")
    assert demo.remote_call("res.partner", "read", [remote_id], ["name"])[0]["name"] \
        == "Pushed Ada"
    # Running again does not push twice: the link says it is done.
    demo.run_demo(ODOO2ODOO, "ON_PARTNER_CREATED", ("res.partner", [partner])).ok()
    assert demo.remote_call("res.partner", "search_count", [("name", "=", "Pushed Ada")]) == 1


def test_odoo2odoo_cron_pulls_changes(demo):
    partner, remote_id = _linked_partner(demo, "Pulled Bob")
    # The last sync was an hour ago; since then the image changed on the external Odoo.
    with demo.db.session() as session:
        session.execute(update(Link).where(Link.ref1 == str(partner))
                        .values(sync_date=dt.datetime.utcnow() - dt.timedelta(hours=1)))
    image = base64.b64encode(b"\x89PNG new avatar").decode()
    demo.remote_call("res.partner", "write", [remote_id], {"image_1920": image})
    run = demo.run_demo(ODOO2ODOO, "PULL_CHANGES").ok()
    assert any("partner(s) updated from" in line for line in run.lines())
    stored = demo.odoo.read("res.partner", partner, ["image_1920"])["image_1920"]
    assert base64.b64decode(stored) == b"\x89PNG new avatar"


def test_odoo2odoo_cron_without_links_is_a_no_op(tmp_path_factory):
    """Before any partner is linked, the cron returns at once (its first lines)."""
    home = tmp_path_factory.mktemp("demo-empty")
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)})
    db = Database(settings.database_url)
    migrate.upgrade(db)
    odoo = OdooSimulator(database="demo", demo=True, login_cost=0).start(host="127.0.0.1", port=0)
    bot = FakeBotApi()
    try:
        empty = Demo(settings, db, odoo, odoo, bot)
        run = empty.run_demo(ODOO2ODOO, "PULL_CHANGES").ok()
        assert run.result is None and run.lines() == []
        empty.ctx.pool.close()
    finally:
        bot.shutdown()
        bot.server_close()
        odoo.stop()
        db.dispose()


def test_odoo2odoo_upload_all_button_and_its_sub_jobs(demo):
    local = demo.odoo.call("res.partner", "search", [("is_company", "=", False)])
    run = demo.run_demo(ODOO2ODOO, "UPLOAD_ALL").ok()
    assert run.subjobs, "the button splits the upload into sub-jobs"
    assert sum(len(sub.args[0]) for sub in run.subjobs) == len(local)
    with demo.db.session() as session:
        linked = {int(ref) for ref in session.scalars(
            select(Link.ref1).where(Link.relation == "odoo2odoo_partner"))}
    assert set(local) <= linked
    names = {r["name"] for r in demo.remote_call("res.partner", "search_read",
                                                 [("name", "like", "Sync Studio: ")],
                                                 ["name"])}
    assert "Sync Studio: Brandon Freeman" in names
