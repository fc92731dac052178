"""Project texts on the project page: Developers add, edit and remove them, Users read them,
and a change reaches the worker's view of the project."""

from __future__ import annotations

import html

from sqlalchemy import select

from connector.store.crypto import SecretBox
from connector.store.models import Project, ProjectText
from worker.project_cache import ProjectCache


def texts(sqlite_db, project_id):
    with sqlite_db.session() as session:
        return {t.key: t.value for t in session.get(Project, project_id).texts}


def test_developer_adds_edits_and_removes_a_text(dev, reader, project_id, sqlite_db, settings):
    cache = ProjectCache(settings, SecretBox.from_settings(settings))
    with sqlite_db.session() as session:
        assert cache.get(session, project_id).texts == {}
    url = f"/dashboard/projects/{project_id}/texts"
    assert dev.post(url, data={"key": "WELCOME", "value": "Hello!\r\n\r\nWrite us.\r\n"}
                    ).status_code == 302
    assert texts(sqlite_db, project_id) == {"WELCOME": "Hello!\n\nWrite us.\n"}
    with sqlite_db.session() as session:  # the project's version moved: the worker reloads
        assert cache.get(session, project_id).texts == {"WELCOME": "Hello!\n\nWrite us.\n"}

    page = dev.get(f"/dashboard/projects/{project_id}").get_data(as_text=True)
    assert 'id="texts"' in page and "Add text" in page
    assert '<textarea name="value" rows="4">\nHello!\n\nWrite us.\n</textarea>' in page
    read_only = reader.get(f"/dashboard/projects/{project_id}").get_data(as_text=True)
    assert "<pre>Hello!\n\nWrite us.\n</pre>" in read_only and "Add text" not in read_only
    assert reader.post(url, data={"key": "WELCOME", "value": "x"}).status_code == 403

    assert dev.post(url, data={"key": "WELCOME", "value": "Bye."}).status_code == 302
    refused = dev.post(url, data={"key": "not a name", "value": "x"}, follow_redirects=True)
    assert "A text key must be a name such as WELCOME_MESSAGE" in html.unescape(
        refused.get_data(as_text=True))
    assert texts(sqlite_db, project_id) == {"WELCOME": "Bye."}

    with sqlite_db.session() as session:
        text_id = session.scalars(select(ProjectText.id)).one()
    assert dev.post(f"{url}/{text_id}/delete").status_code == 302
    assert texts(sqlite_db, project_id) == {}
