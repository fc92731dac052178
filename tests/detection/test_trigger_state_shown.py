"""A trigger the poller cannot watch shows its state and reason where a user looks: its page,
its project's page, `syncstudio trigger list` and `/metrics`; all clear once it is fixed."""

from __future__ import annotations

import re

from click.testing import CliRunner
from sqlalchemy import update

from connector.cli import main
from connector.store.models import DashboardUser, Trigger
from tests.support import fast_hash
from webui import create_app

from .conftest import import_triggers, make_poller, sim_odoo


def pages(settings, db) -> dict[str, str]:
    with db.session() as session:
        session.merge(DashboardUser(id=1, login="reader", role="user",
                                    password_hash=fast_hash("pw-reader-1")))
        trigger_id, project_id = session.query(Trigger.id, Trigger.project_id).filter(
            Trigger.trigger_name == "NO_FIELD").one()
    client = create_app({"TESTING": True, "SETTINGS": settings, "DATABASE": db}).test_client()
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert client.post("/login", data={"login": "reader", "password": "pw-reader-1",
                                       "csrf_token": token}).status_code == 302
    cli = CliRunner().invoke(main, ["trigger", "list", "--project", "Shown"],
                             env={"SYNCSTUDIO_HOME": str(settings.home),
                                  "SYNCSTUDIO_DATABASE_URL": settings.database_url})
    assert cli.exit_code == 0, cli.output
    return {"trigger": client.get(f"/dashboard/triggers/{trigger_id}").get_data(as_text=True),
            "project": client.get(f"/dashboard/projects/{project_id}").get_data(as_text=True),
            "metrics": client.get("/metrics").get_data(as_text=True), "cli": cli.output}


def test_a_broken_trigger_is_shown_everywhere_and_clears_when_fixed(settings, sqlite_db, sim):
    import_triggers(settings, sqlite_db, sim_odoo(sim), [
        {"trigger_name": "NO_FIELD", "model": "res.partner", "condition": "write",
         "watched_fields": ["emial"]}], name="Shown")
    poller = make_poller(settings, sqlite_db)
    poller.run_once()
    shown = pages(settings, sqlite_db)
    for where in ("trigger", "project", "cli"):
        assert "error" in shown[where] and "emial" in shown[where], (where, shown[where][-2000:])
    assert ('syncstudio_db_trigger_state{project="Shown",state="error",trigger="NO_FIELD"} 1.0'
            in shown["metrics"])

    with sqlite_db.session() as session:
        session.execute(update(Trigger).where(Trigger.trigger_name == "NO_FIELD")
                        .values(watched_fields_json='["email"]'))
    poller.clock = lambda: 1e12  # past any back-off
    poller.run_once()
    shown = pages(settings, sqlite_db)
    assert "emial" not in shown["trigger"] and "emial" not in shown["cli"]
    assert "  ok" in shown["cli"]
    assert ('syncstudio_db_trigger_state{project="Shown",state="ok",trigger="NO_FIELD"} 1.0'
            in shown["metrics"])
