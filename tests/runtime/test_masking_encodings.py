"""A secret's common encodings are masked on every path a job's texts take.

Protected code (which holds the secret) logs, prints, sends, returns and raises the secret in
each encoding; the job runs in a sandbox process through the worker; then everything stored in
the own database and every page a dashboard User can open is searched for each encoding.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import re
import uuid
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy import select

from connector.masking import MASK, mask_secrets
from connector.store.models import Job, Log
from tests.runtime.product import button_project, import_project, run_trigger

SECRET = "Tök/en:9+Ab=c'd\"e\\f<x>&Z"


def encodings(secret: str) -> dict[str, str]:
    """Each encoding by name, as Python's standard library spells it."""
    raw = secret.encode()
    b64 = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    return {
        "upper-cased": secret.upper(), "lower-cased": secret.lower(), "reversed": secret[::-1],
        "base64": b64, "base64 without padding": b64.rstrip("="),
        "urlsafe base64": urlsafe, "urlsafe base64 without padding": urlsafe.rstrip("="),
        "base64 of user:secret": base64.b64encode(b"user:" + raw).decode(),
        "quote": quote(secret), "quote safe=''": quote(secret, safe=""),
        "quote_plus": quote_plus(secret), "URL-encoded twice": quote(quote(secret, safe=""),
                                                                      safe=""),
        "hex": raw.hex(), "upper-case hex": raw.hex().upper(),
        "JSON-escaped": json.dumps(secret)[1:-1],
        "JSON without ASCII escapes": json.dumps(secret, ensure_ascii=False)[1:-1],
        "JSON in JSON": json.dumps(json.dumps(secret))[1:-1],
        "repr of the bytes": repr(raw)[2:-1],
        "base32": base64.b32encode(raw).decode(),
        "HTML-escaped": html.escape(secret),
    }


# Protected code computes the encodings with the sandbox's own libraries (the facades).
PROTECTED = '''
import base64 as _b64
import urllib.parse as _up

def _encodings():
    t = secrets.TOKEN
    raw = t.encode()
    b64 = _b64.b64encode(raw).decode()
    urlsafe = _b64.urlsafe_b64encode(raw).decode()
    escaped_html = (t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                    .replace('"', "&quot;").replace("'", "&#x27;"))
    return {
        "upper-cased": t.upper(), "lower-cased": t.lower(), "reversed": t[::-1],
        "base64": b64, "base64 without padding": b64.rstrip("="),
        "urlsafe base64": urlsafe, "urlsafe base64 without padding": urlsafe.rstrip("="),
        "base64 of user:secret": _b64.b64encode(b"user:" + raw).decode(),
        "quote": _up.quote(t), "quote safe=''": _up.quote(t, safe=""),
        "quote_plus": _up.quote_plus(t),
        "URL-encoded twice": _up.quote(_up.quote(t, safe=""), safe=""),
        "hex": raw.hex(), "upper-case hex": raw.hex().upper(),
        "JSON-escaped": json.dumps(t)[1:-1],
        "JSON without ASCII escapes": json.dumps(t, ensure_ascii=False)[1:-1],
        "JSON in JSON": json.dumps(json.dumps(t))[1:-1],
        "repr of the bytes": repr(raw)[2:-1],
        "base32": _b64.b32encode(raw).decode(),
        "HTML-escaped": escaped_html,
    }

def emit_all():
    for name, text in _encodings().items():
        log("log %s: %s" % (name, text))
        print("print %s: %s" % (name, text))
        log_transmission("https://api.example/" + text, json.dumps({name: text}))

def returned():
    return _encodings()

def fail():
    raise ValueError(" | ".join(_encodings().values()))
'''

TASK = '''
def handle_button():
    emit_all()
    values = returned()
    log("task got: " + " ".join(values.values()))
    return values
'''

FAILING_TASK = '''
def handle_button():
    fail()
'''


def test_the_encodings_are_those_python_produces() -> None:
    """The protected code above spells each encoding as the standard library does."""
    names = re.findall(r'"([^"]+)": ', PROTECTED.split("return {", 1)[1])
    assert set(names) == set(encodings(SECRET)) and len(names) == len(encodings(SECRET))


@pytest.mark.parametrize(("name", "text"), encodings(SECRET).items(), ids=encodings(SECRET))
def test_each_encoding_is_masked_in_a_text(name: str, text: str) -> None:
    masked = mask_secrets(f"before {text} after", {"TOKEN": SECRET})
    assert MASK in masked
    assert text.lower() not in masked.lower(), name


def found(texts: list[str]) -> list[str]:
    """The names of the encodings found in ``texts`` (case-insensitively, as a reader would)."""
    joined = "\n".join(texts).lower()
    return [name for name, text in encodings(SECRET).items() if text.lower() in joined]


@pytest.fixture
def jobs_run(settings, sqlite_db, odoo_sim):
    settings = dataclasses.replace(settings, import_allowlist=("base64", "urllib.parse"))
    runs = {}
    for label, task in (("done", TASK), ("failed", FAILING_TASK)):
        name = f"Encodings {label} {uuid.uuid4().hex[:6]}"
        import_project(settings, sqlite_db,
                       button_project(name, odoo_sim, PROTECTED, task,
                                      secrets={"TOKEN": SECRET}),
                       environ={"TOKEN": SECRET})
        runs[label] = run_trigger(settings, sqlite_db, name, "GO")
    return settings, runs


def test_no_encoding_reaches_the_database_or_the_job_pages(jobs_run, sqlite_db) -> None:
    settings, runs = jobs_run
    assert runs["done"].state == "done", runs["done"].error
    assert runs["failed"].state == "failed"
    # Every path was taken: log, print, data out, result, error and traceback.
    result = runs["done"].result
    assert set(result) == set(encodings(SECRET))
    assert all(MASK in value for value in result.values()), result
    with sqlite_db.session() as session:
        lines = list(session.scalars(select(Log.message)))
        stored = lines + [text for job in session.scalars(select(Job)) for text in (
            job.result_json or "", job.error or "", job.traceback or "")]
        job_ids = list(session.scalars(select(Job.id)))
    for prefix in ("log ", "print ", "task got: "):
        assert any(line.startswith(prefix) for line in lines), prefix
    assert sum("https://api.example/" in line for line in lines) >= len(encodings(SECRET))
    assert "ValueError" in runs["failed"].error + runs["failed"].traceback
    assert not found(stored)
    assert not found([runs[label].readable for label in runs])

    pages = []
    client = reader_client(settings, sqlite_db)
    for url in ["/dashboard/logs", "/dashboard/jobs",
                *(f"/dashboard/jobs/{job_id}" for job_id in job_ids)]:
        response = client.get(url)
        assert response.status_code == 200, url
        pages.append(html.unescape(response.get_data(as_text=True)))
    assert any("print base64" in page for page in pages)
    assert not found(pages)


def reader_client(settings, sqlite_db):
    """A test client logged in as a dashboard User (the lowest role)."""
    from connector.store.models import DashboardUser
    from tests.support import fast_hash
    from webui import create_app

    with sqlite_db.session() as session:
        session.add(DashboardUser(login="reader", role="user",
                                  password_hash=fast_hash("pw-reader-1")))
    app = create_app({"TESTING": True, "SETTINGS": settings, "DATABASE": sqlite_db})
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"login": "reader", "password": "pw-reader-1",
                                       "csrf_token": token}).status_code == 302
    return client
