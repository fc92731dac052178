"""The webhook relay: every documented response shape and every bad-input case."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from connector.store.models import Job, Log


def jobs_of(sqlite_db):
    with sqlite_db.session() as session:
        return list(session.scalars(select(Job).order_by(Job.id)))


def logs_of(sqlite_db, job_id):
    with sqlite_db.session() as session:
        return [(line.type, line.message) for line in session.scalars(
            select(Log).where(Log.job_id == job_id).order_by(Log.id))]


def test_json_handler_returns_json_and_is_logged(client, tokens, sqlite_db):
    response = client.post(f"/webhooks/{tokens['JSON_HOOK']}", json={"a": 1})
    assert response.status_code == 200
    assert response.get_json() == {"echo": {"a": 1}, "greeting": "hello"}
    [job] = jobs_of(sqlite_db)
    assert job.state == "done" and job.function == "handle_webhook"
    lines = logs_of(sqlite_db, job.id)
    assert lines[0][0] == "data_in" and '{"a": 1}' in lines[0][1]
    assert ("server", "mode json") in lines
    assert lines[-1][0] == "data_out" and lines[-1][1].startswith("200: ")


@pytest.mark.parametrize("mode,status,body,headers", [
    ("none", 200, b"", {}),
    ("status", 201, b'{"created": true}', {}),
    ("headers", 202, b"<b>hi</b>", {"X-Sync": "1", "Content-Type": "text/html"}),
    ("pair", 200, b'"text"', {"X-Pair": "yes", "Content-Type": "application/json"}),
])
def test_return_shapes(client, tokens, mode, status, body, headers):
    response = client.post(f"/webhooks/{tokens['JSON_HOOK']}?mode={mode}", json={})
    assert response.status_code == status
    assert response.data == body
    for key, value in headers.items():
        assert response.headers[key] == value


def test_form_webhook(client, tokens):
    response = client.post(f"/webhooks/{tokens['FORM_HOOK']}", data={"name": "Ann"},
                           environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 200
    assert response.data == b"name=Ann ip=10.1.2.3"
    assert client.get(f"/webhooks/{tokens['FORM_HOOK']}?name=x").status_code == 200


def test_handler_exception_is_500_without_traceback_and_job_keeps_it(client, tokens,
                                                                     sqlite_db):
    response = client.post(f"/webhooks/{tokens['JSON_HOOK']}?mode=boom", json={})
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "the handler broke" in text and "Traceback" not in text
    [job] = jobs_of(sqlite_db)
    assert job.state == "failed"
    assert "ValueError" in job.error and "Traceback" in job.traceback


def test_retryable_error_in_a_webhook_fails_instead_of_replaying(client, tokens, sqlite_db):
    response = client.post(f"/webhooks/{tokens['JSON_HOOK']}?mode=retry", json={})
    assert response.status_code == 500
    assert [j.state for j in jobs_of(sqlite_db)] == ["failed"]


@pytest.mark.parametrize("case,status,fragment", [
    ("unknown", 404, "no webhook has this URL"),
    ("disabled", 404, "is disabled"),
    ("bad_json", 400, "not valid JSON"),
    ("empty_json", 400, "body is empty"),
    ("too_large", 413, "larger than the limit"),
    ("wrong_method", 405, "accepts POST"),
])
def test_bad_input(client, tokens, sqlite_db, case, status, fragment):
    url = f"/webhooks/{tokens['JSON_HOOK']}"
    if case == "unknown":
        response = client.post("/webhooks/not-a-token", json={})
    elif case == "disabled":
        response = client.post(f"/webhooks/{tokens['OFF_HOOK']}", json={})
    elif case == "bad_json":
        response = client.post(url, data=b"{nope", content_type="application/json")
    elif case == "empty_json":
        response = client.post(url, data=b"", content_type="application/json")
    elif case == "too_large":
        response = client.post(url, data=b"[" + b"1," * 600_000 + b"1]",
                               content_type="application/json")
    else:
        response = client.get(url)
    assert response.status_code == status
    assert fragment in response.get_json()["error"]
    assert jobs_of(sqlite_db) == []


@hsettings(max_examples=60, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=2000),
       content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded",
                                     "multipart/form-data", "multipart/form-data; boundary=x",
                                     "text/plain", "", "application/json; charset=latin-1"]),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
       which=st.sampled_from(["JSON_HOOK", "FORM_HOOK", "missing"]),
       header=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
def test_random_input_never_gives_a_server_error(client, tokens, body, content_type, method,
                                                 which, header):
    token = tokens.get(which, "missing-token")
    response = client.open(f"/webhooks/{token}?mode=json", method=method, data=body,
                           headers={"Content-Type": content_type, "X-Random": header})
    assert response.status_code < 500, response.get_data(as_text=True)
    json.loads(response.data) if response.mimetype == "application/json" else None
