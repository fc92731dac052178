"""The original module's demo tasks run here with at most cosmetic changes: a Telegram webhook,
the Odoo2odoo ``handle_db`` that copies partners to a second Odoo and links them, and a button
that uploads partners in sub-jobs."""

from __future__ import annotations

import json
import uuid
import xmlrpc.client

import pytest
from sqlalchemy import select

from connector import jobs
from connector.projects import ProjectImporter, parse
from connector.store.crypto import SecretBox
from connector.store.models import Job, Link, Log, Trigger
from tests.support import LocalApi
from worker.executor import WorkerContext, execute
from worker.service import Service


class FakeTelegram(LocalApi):
    """A local stand-in for the Bot API: records every sendMessage call."""

    @property
    def sent(self) -> list[dict]:
        return [{"path": r["path"], **json.loads(r["body"])} for r in self.received]

    def answer(self, request: dict) -> tuple[int, bytes]:
        return 200, b'{"ok": true, "result": {"message_id": 1}}'


TELEGRAM = """
name: Telegram support {marker}
odoo: {{url: "{url}", database: {db}, login: admin, password: admin}}
params:
  TELEGRAM_API: "{api}"
  TELEGRAM_WELCOME_MESSAGE: "Welcome! Write us anything."
  PARTNER_NAME_PREFIX: "Telegram: "
secrets: {{TELEGRAM_BOT_TOKEN: "${{BOT_TOKEN}}"}}
protected_code: |
  import requests as _requests

  def send_message(chat_id, text):
      url = "%s/bot%s/sendMessage" % (params.TELEGRAM_API, secrets.TELEGRAM_BOT_TOKEN)
      data = {{"chat_id": chat_id, "text": text}}
      log_transmission("telegram chat %s" % chat_id, json.dumps(data))
      return _requests.post(url, json=data, timeout=10).json()
tasks:
  - name: Process Telegram updates
    code: |
      def handle_webhook(httprequest):
          update = json.loads(httprequest.data.decode("utf-8"))
          message = update["message"]
          sender = message["from"]
          ref = "%s@telegram" % sender["id"]
          partner = env["res.partner"].search([("ref", "=", ref)])
          if message["text"] == "/start":
              if not partner:
                  partner = env["res.partner"].create({{
                      "name": params.PARTNER_NAME_PREFIX + sender["first_name"], "ref": ref}})
              send_message(sender["id"], params.TELEGRAM_WELCOME_MESSAGE)
          else:
              partner.message_post(body=message["text"])
          return {{"ok": True}}
    triggers:
      webhook: [{{trigger_name: TELEGRAM_UPDATE, type: json}}]
"""


@pytest.fixture
def telegram():
    server = FakeTelegram()
    yield server
    server.shutdown()
    server.server_close()


def read(sim, model, domain, fields):
    proxy = xmlrpc.client.ServerProxy(f"{sim.url}/xmlrpc/2/object", allow_none=True)
    return proxy.execute_kw(sim.database, 2, "admin", model, "search_read", [domain, fields])


def test_telegram_webhook(settings, sqlite_db, odoo_sim, telegram):
    from webui import create_app

    marker = uuid.uuid4().hex[:6]
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings),
                        environ={"BOT_TOKEN": "123:SECRET"}).import_data(parse(TELEGRAM.format(
                            marker=marker, url=odoo_sim.url, db=odoo_sim.database,
                            api=telegram.url)))
        token = session.scalar(select(Trigger.token).where(Trigger.kind == "webhook"))
    client = create_app({"TESTING": True, "SETTINGS": settings,
                         "DATABASE": sqlite_db}).test_client()
    user_id = int(uuid.uuid4().int % 10**9)

    def update(text):
        return {"update_id": 1, "message": {"message_id": 5, "text": text,
                                            "from": {"id": user_id, "first_name": "Ann"}}}

    response = client.post(f"/webhooks/{token}", json=update("/start"))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"ok": True}
    [partner] = read(odoo_sim, "res.partner", [("ref", "=", f"{user_id}@telegram")], ["name"])
    assert partner["name"] == "Telegram: Ann"
    assert telegram.sent == [{"path": "/bot123:SECRET/sendMessage", "chat_id": user_id,
                              "text": "Welcome! Write us anything."}]
    response = client.post(f"/webhooks/{token}", json=update("Where is my order?"))
    assert response.status_code == 200, response.get_data(as_text=True)
    bodies = [m["body"] for m in read(odoo_sim, "mail.message",
                                      [("model", "=", "res.partner"),
                                       ("res_id", "=", partner["id"])], ["body"])]
    assert any("Where is my order?" in body for body in bodies)
    with sqlite_db.session() as session:
        logs = [(line.type, line.message) for line in session.scalars(select(Log))]
    assert any(t == "data_out" and f"telegram chat {user_id}" in m for t, m in logs)
    assert not any("123:SECRET" in m for _t, m in logs)


ODOO2ODOO = """
name: Odoo2odoo {marker}
odoo: {{url: "{url}", database: {db}, login: admin, password: admin}}
params: {{URL: "{remote_url}", DB: {remote_db}, UPLOAD_ALL_PARTNER_PREFIX: "Sync Studio: ",
          MARKER: "{marker}"}}
secrets: {{USERNAME: "${{REMOTE_USER}}", PASSWORD: "${{REMOTE_PASSWORD}}"}}
protected_code: |
  import xmlrpc.client as _xmlrpc

  def _remote():
      common = _xmlrpc.ServerProxy("%s/xmlrpc/2/common" % params.URL)
      uid = common.login(params.DB, secrets.USERNAME, secrets.PASSWORD)
      return uid, _xmlrpc.ServerProxy("%s/xmlrpc/2/object" % params.URL)

  def remote_create_partner(vals):
      uid, models = _remote()
      log_transmission(params.URL, json.dumps(vals))
      return models.execute_kw(params.DB, uid, secrets.PASSWORD, "res.partner", "create", [vals])
common_code: |
  PARTNER_REL = "odoo2odoo_partner"
tasks:
  - name: Sync new partners
    code: |
      def handle_db(records):
          for partner in records:
              remote_id = remote_create_partner({{"name": partner.name}})
              partner.set_link(PARTNER_REL, remote_id)
    triggers:
      db:
        - {{trigger_name: ON_PARTNER_CREATED, model: res.partner, condition: create,
           domain: "[('name', 'like', '{marker}')]"}}
  - name: Upload all partners
    code: |
      def handle_button():
          partners = env["res.partner"].search([("name", "like", params.MARKER)])
          ids = partners.ids
          for start in range(0, len(ids), 2):
              add_job("upload", description="partners %d+" % start)(ids[start:start + 2])

      def upload(ids):
          for partner in env["res.partner"].browse(ids):
              if partner.search_links(PARTNER_REL):
                  continue
              remote_id = remote_create_partner(
                  {{"name": params.UPLOAD_ALL_PARTNER_PREFIX + partner.name}})
              partner.set_link(PARTNER_REL, remote_id)
    triggers:
      button: [{{trigger_name: UPLOAD_ALL}}]
"""


@pytest.fixture
def remote_odoo():
    from connector.simulator import OdooSimulator

    sim = OdooSimulator(database="remote", demo=False, login_cost=0)
    sim.start(host="127.0.0.1", port=0)
    yield sim
    sim.stop()


def odoo2odoo(settings, sqlite_db, odoo_sim, remote_odoo) -> str:
    marker = uuid.uuid4().hex[:6]
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings),
                        environ={"REMOTE_USER": "admin", "REMOTE_PASSWORD": "admin"}).import_data(
            parse(ODOO2ODOO.format(marker=marker, url=odoo_sim.url, db=odoo_sim.database,
                                   remote_url=remote_odoo.url, remote_db=remote_odoo.database)))
    return marker


def create(sim, names):
    proxy = xmlrpc.client.ServerProxy(f"{sim.url}/xmlrpc/2/object")
    return proxy.execute_kw(sim.database, 2, "admin", "res.partner", "create",
                            [[{"name": n} for n in names]])


def links(sqlite_db):
    with sqlite_db.session() as session:
        return {int(link.ref1): link.ref2 for link in session.scalars(select(Link))}


def test_odoo2odoo_pushes_new_partners_and_links_them(settings, sqlite_db, odoo_sim,
                                                      remote_odoo):
    marker = odoo2odoo(settings, sqlite_db, odoo_sim, remote_odoo)
    service = Service(settings, sqlite_db)
    service.start_worker(threads=1)
    try:
        service.poller.run_once()
        ids = create(odoo_sim, [f"Ann {marker}", f"Bob {marker}"])
        assert service.poller.run_once().jobs == 1
        service.dispatcher.run_once()
        service.drain()
    finally:
        service.stop()
    with sqlite_db.session() as session:
        job = session.scalar(select(Job))
        assert job.state == "done", job.traceback
    remote = {r["id"]: r["name"] for r in read(remote_odoo, "res.partner",
                                               [("name", "like", marker)], ["name"])}
    linked = links(sqlite_db)
    assert sorted(linked) == sorted(ids)
    assert {remote[int(linked[i])] for i in ids} == {f"Ann {marker}", f"Bob {marker}"}


def test_button_uploads_partners_in_sub_jobs(settings, sqlite_db, odoo_sim, remote_odoo):
    marker = odoo2odoo(settings, sqlite_db, odoo_sim, remote_odoo)
    ids = create(odoo_sim, [f"P{i} {marker}" for i in range(5)])
    ctx = WorkerContext.from_settings(settings, sqlite_db)
    with sqlite_db.session() as session:
        button = session.scalar(select(Trigger).where(Trigger.trigger_name == "UPLOAD_ALL"))
        job_id = jobs.record_trigger_job(session, button, user="ann").id
    outcome = execute(ctx, job_id)
    assert outcome is not None and outcome.state == "done", outcome
    with sqlite_db.session() as session:
        children = list(session.scalars(select(Job).where(Job.parent_id == job_id)
                                        .order_by(Job.id)))
    assert [c.args for c in children] == [[ids[0:2]], [ids[2:4]], [ids[4:5]]]
    assert [c.description for c in children] == ["partners 0+", "partners 2+", "partners 4+"]
    for child in children:
        assert execute(ctx, child.id).state == "done"
    assert sorted(links(sqlite_db)) == sorted(ids)
    names = [r["name"] for r in read(remote_odoo, "res.partner", [("name", "like", marker)],
                                     ["name"])]
    assert sorted(names) == sorted(f"Sync Studio: P{i} {marker}" for i in range(5))
    # clicking again uploads nothing twice: the links say they are there already
    with sqlite_db.session() as session:
        again = jobs.record_trigger_job(session, button, user="ann").id
    execute(ctx, again)
    with sqlite_db.session() as session:
        for child in session.scalars(select(Job).where(Job.parent_id == again)):
            execute(ctx, child.id)
    assert len(read(remote_odoo, "res.partner", [("name", "like", marker)], ["id"])) == 5
    ctx.pool.close()
