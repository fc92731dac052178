"""The relay's answers are sandboxed; deep, odd and huge input is a 4xx; the web process
answers /health and the dashboard while every handler slot is busy."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from connector.store.models import Task, Trigger
from webui import create_app
from webui.webhooks import json_too_deep


def test_answers_are_sandboxed_and_bytes_are_not_a_page(client, tokens, sqlite_db):
    response = client.post(f"/webhooks/{tokens['JSON_HOOK']}?mode=headers", json={})
    assert response.status_code == 202 and response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox;") and "default-src 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    missing = client.post("/webhooks/no-such-token", json={})
    assert missing.status_code == 404 and "sandbox" in missing.headers["Content-Security-Policy"]
    with sqlite_db.session() as session:
        session.scalars(select(Task).where(Task.name == "Form")).one().code = (
            "def handle_webhook(httprequest):\n    return b'<script>x</script>'\n")
        session.scalars(select(Trigger).where(
            Trigger.trigger_name == "FORM_HOOK")).one().html_pages = True
    raw = client.get(f"/webhooks/{tokens['FORM_HOOK']}")
    assert raw.mimetype == "application/octet-stream"
    # Opted into HTML pages: images and styles load, script still never runs.
    assert raw.headers["Content-Security-Policy"].startswith("sandbox allow-forms;")
    assert "allow-scripts" not in raw.headers["Content-Security-Policy"]


def test_deeply_nested_json_is_a_400(client, tokens):
    for body in ("[" * 1000 + "]" * 1000, '{"a":' * 5000 + "1" + "}" * 5000):
        response = client.post(f"/webhooks/{tokens['JSON_HOOK']}", data=body,
                               content_type="application/json")
        assert response.status_code == 400 and "deeper" in response.get_json()["error"]
    assert not json_too_deep(b'["[[[[[[", {"a": "{{{{"}]', limit=2)


def test_deep_button_data_is_refused_not_a_500(app, sqlite_db):
    from connector.store.models import DashboardUser
    from tests.dashboard.conftest import csrf_token
    from tests.support import fast_hash

    with sqlite_db.session() as session:
        session.add(DashboardUser(login="d", role="developer",
                                  password_hash=fast_hash("pw")))
    web = app.test_client()
    web.post("/login", data={"login": "d", "password": "pw", "csrf_token": csrf_token(web)})
    token = csrf_token(web, "/dashboard/projects")
    for data in ("[" * 1000 + "]" * 1000, "- " * 3000 + "x"):
        response = web.post("/dashboard/triggers/1/data", data={"data": data,
                                                                "csrf_token": token})
        assert response.status_code < 500


nested = st.recursive(st.none() | st.integers() | st.text(max_size=5),
                      lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                      max_leaves=20)


@hsettings(max_examples=40, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(min_value=1, max_value=3000), inner=nested,
       which=st.sampled_from(["JSON_HOOK", "FORM_HOOK"]),
       header_size=st.sampled_from([0, 100, 8000, 60000]),
       body=st.binary(max_size=300).filter(lambda b: not _utf8(b)),
       chunked=st.booleans(), charset=st.sampled_from(["", "; charset=latin-1",
                                                       "; charset=utf-16", "; charset=bogus"]))
@pytest.mark.slow
def test_hostile_bodies_never_give_a_server_error(client, tokens, depth, inner, which,
                                                  header_size, body, chunked, charset):
    import json

    deep = ("[" * depth + json.dumps(inner) + "]" * depth).encode()
    for data, ctype in ((deep, "application/json"), (body, "application/json"),
                        (body, "application/x-www-form-urlencoded")):
        headers = {"Content-Type": ctype + charset, "X-Huge": "h" * header_size}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
            # No Content-Length: the body is read to its end, as a server hands on a
            # chunked one (wsgi.input_terminated).
            response = client.post(f"/webhooks/{tokens[which]}", input_stream=io.BytesIO(data),
                                   headers=headers,
                                   environ_overrides={"wsgi.input_terminated": True})
        else:
            response = client.post(f"/webhooks/{tokens[which]}", data=data, headers=headers)
        assert response.status_code < 500, response.get_data(as_text=True)


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


HANDLERS = 20


@pytest.fixture
def busy_server(app, settings) -> Iterator[tuple[str, str]]:
    """The web process as served (waitress, its real thread count), with a handler that
    sleeps 1 s and room for :data:`HANDLERS` of them at once."""
    from waitress import create_server

    from webui.server import threads_for

    slow = create_app({"TESTING": True, "DATABASE": app.extensions["syncstudio.db"],
                       "SETTINGS": dataclasses.replace(settings, webhook_threads=8,
                                                       webhook_queue=HANDLERS - 8)})
    db = app.extensions["syncstudio.db"]
    with db.session() as session:
        session.scalars(select(Task).where(Task.name == "Form")).one().code = (
            "def handle_webhook(httprequest):\n    time.sleep(1)\n    return 'slept'\n")
        token = session.scalars(select(Trigger).where(
            Trigger.trigger_name == "FORM_HOOK")).one().token
    server = create_server(slow, host="127.0.0.1", port=0, threads=threads_for(slow))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}", token
    server.close()
    thread.join(timeout=10)


@pytest.mark.slow
def test_health_and_dashboard_answer_while_every_handler_is_busy(busy_server):
    base, token = busy_server
    answers: list[int] = []

    def call() -> None:
        answers.append(requests.get(f"{base}/webhooks/{token}", timeout=120).status_code)

    callers = [threading.Thread(target=call) for _ in range(HANDLERS)]
    for caller in callers:
        caller.start()
    time.sleep(0.3)  # the handlers have taken their slots
    assert requests.get(f"{base}/health", timeout=5).status_code == 200
    assert requests.get(f"{base}/login", timeout=5).status_code == 200
    # One more than the bound is refused at once, never queued behind the others.
    extra = requests.get(f"{base}/webhooks/{token}", timeout=5)
    assert extra.status_code in (200, 503)
    if extra.status_code == 503:
        assert extra.headers["Retry-After"]
    for caller in callers:
        caller.join(timeout=120)
    assert len(answers) == HANDLERS and all(code in (200, 503, 504) for code in answers)
