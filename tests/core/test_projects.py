"""Project YAML import and export."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import select

from connector.errors import CodeError, ProjectFileError
from connector.projects import ProjectImporter, dump_yaml, export_project, parse
from connector.store.crypto import SecretBox
from connector.store.models import OdooConnection, Project, Trigger

PROJECT = """
name: Partner tagging
active: true
odoo: {url: "http://127.0.0.1:8069", database: odootest, login: admin,
       password: "${ODOO_PASSWORD}", protocol: jsonrpc}
params: {PARTNER_RELATION: demo_partner}
secrets: [API_TOKEN]
protected_code: |
  x = 1
common_code: |
  y = 2
tasks:
  - name: Tag new partners
    code: |
      def handle_db(records):
          records.write({"ref": "seen"})
      def handle_cron():
          pass
      def handle_webhook(httprequest):
          pass
      def handle_button(data=None):
          pass
    triggers:
      db:
        - {trigger_name: ON_PARTNER_CREATED, model: res.partner, condition: create,
           domain: "[('is_company', '=', False)]"}
        - {trigger_name: ON_EMAIL_CHANGED, model: res.partner, condition: write,
           before_domain: "[('email', '!=', False)]", watched_fields: [email]}
        - {trigger_name: AFTER_DEADLINE, model: mail.activity, condition: time,
           date_field: date_deadline, delay: 1, delay_unit: days, when: after}
      cron:   [{trigger_name: NIGHTLY, interval: 1, interval_unit: days}]
      webhook: [{trigger_name: INCOMING, type: json}]
      button: [{trigger_name: SETUP, data: {mode: full}}]
"""


@pytest.fixture
def box(settings):
    return SecretBox.from_settings(settings)


def do_import(db, box, text, environ=None, check_code=None, prune=False):
    with db.session() as session:
        importer = ProjectImporter(session, box, environ=environ or {"ODOO_PASSWORD": "pw"},
                                   check_code=check_code)
        return importer.import_data(parse(text), prune=prune).id


def test_import_creates_everything_and_encrypts_the_password(db, box):
    # A password long enough that a Fernet token cannot contain it by chance ("pw" could).
    do_import(db, box, PROJECT, environ={"ODOO_PASSWORD": "odoo-admin-password"})
    with db.session() as session:
        project = session.scalar(select(Project))
        assert project.name == "Partner tagging"
        assert {p.key: p.value for p in project.params} == {"PARTNER_RELATION": "demo_partner"}
        assert [s.key for s in project.secrets] == ["API_TOKEN"]
        assert project.secrets[0].value_enc is None
        conn = session.scalar(select(OdooConnection))
        assert conn.password_enc and "odoo-admin-password" not in conn.password_enc
        assert box.decrypt(conn.password_enc) == "odoo-admin-password"
        triggers = {t.trigger_name: t for t in session.scalars(select(Trigger))}
        assert set(triggers) == {"ON_PARTNER_CREATED", "ON_EMAIL_CHANGED", "AFTER_DEADLINE",
                                 "NIGHTLY", "INCOMING", "SETUP"}
        assert triggers["ON_EMAIL_CHANGED"].watched_fields == ["email"]
        assert triggers["AFTER_DEADLINE"].delay_unit == "days"
        assert triggers["SETUP"].data == {"mode": "full"}
        assert len(triggers["INCOMING"].token) >= 40
        assert triggers["ON_PARTNER_CREATED"].handler == "handle_db"


def test_reimport_updates_in_place_and_keeps_the_webhook_token(db, box):
    do_import(db, box, PROJECT)
    with db.session() as session:
        token = session.scalar(select(Trigger.token).where(Trigger.trigger_name == "INCOMING"))
    changed = PROJECT.replace("demo_partner", "other").replace(
        "      button: [{trigger_name: SETUP, data: {mode: full}}]\n", "")
    do_import(db, box, changed)
    with db.session() as session:
        assert session.scalar(select(Trigger.token).where(
            Trigger.trigger_name == "INCOMING")) == token
        # Only in the database now: kept without --prune ...
        assert session.scalar(select(Trigger).where(Trigger.trigger_name == "SETUP"))
    do_import(db, box, changed, prune=True)
    with db.session() as session:
        # ... deleted with it.
        assert session.scalar(select(Trigger).where(Trigger.trigger_name == "SETUP")) is None
        assert len(list(session.scalars(select(Project)))) == 1
        assert session.scalar(select(Project)).params[0].value == "other"


def test_export_round_trips_without_secret_values(db, box):
    do_import(db, box, PROJECT)
    with db.session() as session:
        text = dump_yaml(export_project(session.scalar(select(Project))))
    assert "pw" not in yaml.safe_load(text)["odoo"].values()
    assert "password" not in yaml.safe_load(text)["odoo"]
    data = yaml.safe_load(text)
    assert data["secrets"] == ["API_TOKEN"]
    assert data["tasks"][0]["triggers"]["db"][1]["watched_fields"] == ["email"]
    assert "def handle_db(records):\n" in data["tasks"][0]["code"]
    # the exported file imports again to the same project
    do_import(db, box, text)
    with db.session() as session:
        assert len(list(session.scalars(select(Trigger)))) == 6


def test_secret_from_environment_is_stored_encrypted(db, box):
    text = PROJECT.replace("secrets: [API_TOKEN]", "secrets: {API_TOKEN: '${TOKEN}'}")
    do_import(db, box, text, environ={"ODOO_PASSWORD": "pw", "TOKEN": "tok-123"})
    with db.session() as session:
        secret = session.scalar(select(Project)).secrets[0]
        assert box.decrypt(secret.value_enc) == "tok-123"


@pytest.mark.parametrize("mutation,message", [
    (lambda t: "name: [unclosed", "not valid YAML at line 1"),
    (lambda t: "- just a list", "must be a mapping"),
    (lambda t: t.replace("name: Partner tagging\n", ""), "'name' is required"),
    (lambda t: t.replace("condition: create,", "condition: created,"),
     "tasks[0].triggers.db[0].condition: must be one of"),
    (lambda t: t.replace("ON_PARTNER_CREATED", "on partner"), "must be an identifier"),
    (lambda t: t.replace("ON_EMAIL_CHANGED", "ON_PARTNER_CREATED"), "used twice"),
    (lambda t: t.replace("\"[('is_company', '=', False)]\"", "\"[('is_company'\""),
     "not a valid domain"),
    (lambda t: t.replace("protocol: jsonrpc", "protocol: soap"), "odoo.protocol"),
    (lambda t: t.replace("secrets: [API_TOKEN]", "secrets: {API_TOKEN: plain}"),
     "secret values never live in the file"),
    (lambda t: t.replace("interval: 1,", "interval: 0,"), "above 0"),
    (lambda t: t.replace("delay: 1,", "delay: soon,"), "delay: must be a whole number"),
    (lambda t: t.replace("delay: 1,", "delay: -2,"), "delay: must be 0 or more, got -2"),
    (lambda t: t.replace("data: {mode: full}", "data: {on: 2026-12-01}"),
     "data: only JSON's types"),
    (lambda t: t.replace("[API_TOKEN]", "[API_TOKEN]\nlimits: {cpu: 1}"),
     "limits: unknown key 'cpu' (line 8); allowed: cpu_seconds, memory_mb"),
])
def test_bad_project_files_give_one_clear_line(db, box, mutation, message):
    with pytest.raises(ProjectFileError) as info:
        do_import(db, box, mutation(PROJECT))
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    with db.session() as session:
        assert session.scalar(select(Project)) is None


def test_missing_environment_variable_is_named(db, box):
    with pytest.raises(ProjectFileError, match="ODOO_PASSWORD is not set"):
        do_import(db, box, PROJECT, environ={"OTHER": "1"})


def test_code_check_refusal_is_reported_with_position(db, box):
    def check(source, where, require_handler):
        if "handle_db" in source:
            raise CodeError("invalid syntax", lineno=2, col=5, where=where)

    with pytest.raises(ProjectFileError,
                       match=r"tasks\[0\]\.code: task: invalid syntax \(line 2, column 5\)"):
        do_import(db, box, PROJECT, check_code=check)


def test_limits_round_trip_and_bad_limits(db, box):
    text = PROJECT.replace("active: true\n",
                           "active: true\nlimits: {cpu_seconds: 5, memory_mb: 128}\n")
    do_import(db, box, text)
    with db.session() as session:
        project = session.scalar(select(Project))
        assert (project.job_cpu_seconds, project.job_memory_mb, project.job_wall_seconds) == \
            (5, 128, None)
        assert export_project(project)["limits"] == {"cpu_seconds": 5, "memory_mb": 128}
    with pytest.raises(ProjectFileError, match="limits.memory_mb: must be above 0"):
        do_import(db, box, PROJECT.replace("active: true\n",
                                           "active: true\nlimits: {memory_mb: -1}\n"))
