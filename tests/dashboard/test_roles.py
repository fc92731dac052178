"""Role rules: Users only read, Developers never see secret values or protected code, Managers
see and edit everything; no page ever shows a secret's value."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connector.store.crypto import SecretBox
from connector.store.models import Job, Project, ProjectSecret, Task, Trigger

from .conftest import PROTECTED_MARK, SECRET_VALUE


@pytest.fixture
def ids(sqlite_db, project_id):
    with sqlite_db.session() as session:
        triggers = {t.trigger_name: t.id for t in session.scalars(select(Trigger))}
        tasks = {t.name: t.id for t in session.scalars(select(Task))}
        param_id = session.get(Project, project_id).params[0].id
    return {"project": project_id, "param": param_id, **triggers, **tasks}


def write_endpoints(ids):
    p = ids["project"]
    return [
        (f"/dashboard/projects/{p}/params", {"key": "K", "value": "v"}),
        (f"/dashboard/projects/{p}/params/{ids['param']}/delete", {}),
        (f"/dashboard/projects/{p}/secrets", {"key": "API_TOKEN", "value": "x"}),
        (f"/dashboard/projects/{p}/code/common", {"code": "X = 1\n"}),
        (f"/dashboard/projects/{p}/code/protected", {"code": "X = 1\n"}),
        (f"/dashboard/tasks/{ids['Setup']}", {"code": "def handle_cron():\n    pass\n"}),
        (f"/dashboard/triggers/{ids['SETUP']}/run", {}),
        (f"/dashboard/triggers/{ids['NIGHTLY']}/run", {}),
        (f"/dashboard/triggers/{ids['SETUP']}/data", {"data": "{}"}),
        (f"/dashboard/triggers/{ids['SETUP']}/active", {}),
        (f"/dashboard/triggers/{ids['INCOMING']}/regenerate", {}),
        ("/dashboard/jobs/1/retry", {}),
    ]


def read_pages(ids):
    return [f"/dashboard/projects/{ids['project']}", f"/dashboard/tasks/{ids['Setup']}",
            f"/dashboard/triggers/{ids['SETUP']}", f"/dashboard/triggers/{ids['INCOMING']}",
            f"/dashboard/triggers/{ids['NIGHTLY']}", "/dashboard/projects", "/dashboard/jobs",
            "/dashboard/logs", "/dashboard/links"]


def snapshot(sqlite_db):
    with sqlite_db.session() as session:
        project = session.scalars(select(Project)).one()
        return (project.updated_at, session.scalar(select(Job.id).order_by(Job.id.desc())),
                [(s.key, s.value_enc) for s in project.secrets],
                [t.token for t in session.scalars(select(Trigger))])


def test_user_reads_everything_but_secrets_and_protected_code(reader, ids):
    for url in read_pages(ids):
        response = reader.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert SECRET_VALUE not in page
        assert PROTECTED_MARK not in page
    page = reader.get(f"/dashboard/projects/{ids['project']}").get_data(as_text=True)
    assert "API_TOKEN" in page and "OTHER_TOKEN" in page
    assert "visible to Managers only" in page
    assert "def shout" in page  # common code is readable
    assert "Run now" not in page and "Save param" not in page and "Regenerate" not in page
    assert "/webhooks/" in page  # the webhook URL itself is shown


def test_user_gets_403_on_every_write(reader, ids, sqlite_db):
    before = snapshot(sqlite_db)
    for url, data in write_endpoints(ids):
        assert reader.post(url, data=data).status_code == 403, url
    assert snapshot(sqlite_db) == before


def test_developer_cannot_see_or_set_secrets_or_protected_code(dev, ids, sqlite_db):
    page = dev.get(f"/dashboard/projects/{ids['project']}").get_data(as_text=True)
    assert SECRET_VALUE not in page and PROTECTED_MARK not in page
    assert "API_TOKEN" in page and "Protected code is visible to Managers only" in page
    assert "Set secret" not in page
    assert "Save param" in page and "Save common code" in page and "Run now" in page
    before = snapshot(sqlite_db)
    p = ids["project"]
    assert dev.post(f"/dashboard/projects/{p}/secrets",
                    data={"key": "API_TOKEN", "value": "x"}).status_code == 403
    assert dev.post(f"/dashboard/projects/{p}/code/protected",
                    data={"code": "X = 1\n"}).status_code == 403
    assert snapshot(sqlite_db) == before


def test_developer_edits_params_common_code_and_triggers(dev, ids, sqlite_db):
    p = ids["project"]
    assert dev.post(f"/dashboard/projects/{p}/params",
                    data={"key": "GREETING", "value": "bonjour"}).status_code == 302
    assert dev.post(f"/dashboard/projects/{p}/params",
                    data={"key": "NEW_ONE", "value": "1"}).status_code == 302
    assert dev.post(f"/dashboard/projects/{p}/code/common",
                    data={"code": "def shout(t):\n    return t + '!'\n"}).status_code == 302
    assert dev.post(f"/dashboard/triggers/{ids['SETUP']}/data",
                    data={"data": "mode: partial\n"}).status_code == 302
    with sqlite_db.session() as session:
        project = session.get(Project, p)
        assert {x.key: x.value for x in project.params} == {"GREETING": "bonjour",
                                                             "NEW_ONE": "1"}
        assert project.common_code.endswith("return t + '!'\n")
        assert session.get(Trigger, ids["SETUP"]).data == {"mode": "partial"}
    param = next(x for x in project.params if x.key == "NEW_ONE")
    assert dev.post(f"/dashboard/projects/{p}/params/{param.id}/delete").status_code == 302
    with sqlite_db.session() as session:
        assert [x.key for x in session.get(Project, p).params] == ["GREETING"]


def test_developer_regenerates_a_webhook_url(dev, ids, sqlite_db, app):
    with sqlite_db.session() as session:
        old = session.get(Trigger, ids["INCOMING"]).token
    response = dev.post(f"/dashboard/triggers/{ids['INCOMING']}/regenerate")
    assert response.status_code == 302
    with sqlite_db.session() as session:
        new = session.get(Trigger, ids["INCOMING"]).token
    assert new and new != old
    page = dev.get(f"/dashboard/triggers/{ids['INCOMING']}").get_data(as_text=True)
    assert f"http://127.0.0.1:8000/webhooks/{new}" in page or f"/webhooks/{new}" in page
    assert app.test_client().post(f"/webhooks/{old}", json={}).status_code == 404
    assert app.test_client().post(f"/webhooks/{new}", json={}).status_code == 200


def test_manager_sees_protected_code_and_sets_secrets_never_shown(boss, ids, sqlite_db,
                                                                  settings):
    p = ids["project"]
    page = boss.get(f"/dashboard/projects/{p}").get_data(as_text=True)
    assert PROTECTED_MARK in page
    assert SECRET_VALUE not in page
    assert "Set secret" in page
    assert ">set<" in page and ">not set<" in page  # API_TOKEN set, OTHER_TOKEN not
    assert boss.post(f"/dashboard/projects/{p}/secrets",
                     data={"key": "OTHER_TOKEN", "value": "brand-new-value"}).status_code == 302
    assert boss.post(f"/dashboard/projects/{p}/code/protected",
                     data={"code": "_x = 'changed'\n"}).status_code == 302
    box = SecretBox.from_settings(settings)
    with sqlite_db.session() as session:
        secret = session.scalars(select(ProjectSecret).where(
            ProjectSecret.key == "OTHER_TOKEN")).one()
        assert box.decrypt(secret.value_enc) == "brand-new-value"
        assert session.get(Project, p).protected_code == "_x = 'changed'\n"
    for url in read_pages(ids):
        text = boss.get(url).get_data(as_text=True)
        assert "brand-new-value" not in text and SECRET_VALUE not in text
    assert "not set" not in boss.get(f"/dashboard/projects/{p}").get_data(as_text=True)


def assert_dashboard_headers(response, url):
    csp = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, url
    assert "unsafe-inline" not in csp, url
    assert response.headers.get("X-Frame-Options") == "DENY", url
    assert response.headers.get("X-Content-Type-Options") == "nosniff", url


@pytest.mark.parametrize("who", ["reader", "dev", "boss", "anonymous"])
def test_security_headers_on_every_route(request, app, ids, who):
    client = (app.test_client() if who == "anonymous"
              else request.getfixturevalue(who))
    for url in [*read_pages(ids), "/login", "/", "/dashboard/", "/health", "/metrics",
                "/dashboard/no-such-page"]:
        assert_dashboard_headers(client.get(url), url)
    for url, data in write_endpoints(ids):
        assert_dashboard_headers(client.post(url, data=data), url)
