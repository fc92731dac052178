"""``HEAD`` on a webhook URL: services such as Trello check the URL that way before they
register it. The answer is 200 with no body, and no handler runs and no job is recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from connector.store.models import Job, Log


def counts(sqlite_db) -> tuple[int, int]:
    with sqlite_db.session() as session:
        return (session.scalar(select(func.count()).select_from(Job)),
                session.scalar(select(func.count()).select_from(Log)))


@pytest.mark.parametrize(("hook", "allowed"), [("JSON_HOOK", "POST, HEAD"),
                                               ("FORM_HOOK", "GET, POST, HEAD")])
def test_head_answers_200_without_running_the_handler(client, tokens, sqlite_db, hook,
                                                      allowed):
    before = counts(sqlite_db)
    response = client.head(f"/webhooks/{tokens[hook]}")
    assert response.status_code == 200
    assert response.get_data() == b""
    assert response.headers["Allow"] == allowed
    assert counts(sqlite_db) == before, "no job and no log line for a HEAD"


def test_head_does_not_hide_unknown_or_disabled_webhooks(client, tokens, sqlite_db):
    assert client.head("/webhooks/no-such-token").status_code == 404
    assert client.head(f"/webhooks/{tokens['OFF_HOOK']}").status_code == 404
    assert counts(sqlite_db) == (0, 0)


def test_get_runs_the_handler_where_the_trigger_allows_it(client, tokens, sqlite_db):
    answer = client.get(f"/webhooks/{tokens['FORM_HOOK']}?name=Ann")
    assert answer.status_code == 200
    assert answer.get_data(as_text=True).startswith("name=None ip=")
    with sqlite_db.session() as session:
        assert [j.state for j in session.scalars(select(Job))] == ["done"]
    refused = client.get(f"/webhooks/{tokens['JSON_HOOK']}")
    assert refused.status_code == 405
    assert refused.headers["Allow"] == "POST, HEAD"
    assert "accepts POST" in refused.get_json()["error"]


def test_the_webhook_still_works_after_a_head(client, tokens):
    assert client.head(f"/webhooks/{tokens['JSON_HOOK']}").status_code == 200
    answer = client.post(f"/webhooks/{tokens['JSON_HOOK']}", json={"a": 1})
    assert answer.status_code == 200
    assert answer.get_json() == {"echo": {"a": 1}, "greeting": "hello"}
