"""Secret masking in every text the product writes, in every spelling task code can produce:
through the real sandbox and worker, then read as a dashboard User and from the own database."""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy import select

from connector import jobs
from connector.masking import MASK, mask_secrets, variants
from connector.projects import ProjectImporter, parse
from connector.store.crypto import SecretBox
from connector.store.models import Job, Log, Trigger
from worker.executor import WorkerContext, execute

SECRET = "Tok/en:9+Ab=c'd\"e\\f"
PROJECT = """
name: Masks
secrets: [TOKEN]
protected_code: |
  def header():
      # A helper building an HTTP header, as protected code does: the value reaches task code.
      return "Bearer " + secrets.TOKEN
  def token():
      return secrets.TOKEN
tasks:
  - name: T
    code: |
      def percent(text, plus):
          out = ""
          for c in text:
              if c.isalnum() or c in "-._~":
                  out += c
              elif c == " " and plus:
                  out += "+"
              else:
                  out += "%%%02X" % ord(c)
          return out

      def handle_button(data):
          t = token()
          forms = [t, t[::-1], t.upper(), t.lower(), repr(t), json.dumps(t),
                   json.dumps({"t": t}), percent(t, False), percent(t, True),
                   b64encode(t.encode()).decode(), b64encode(t.encode()).decode().rstrip("="),
                   b64encode(t.encode()).decode().replace("+", "-").replace("/", "_"),
                   b64encode(("user:" + t).encode()).decode(),
                   b64encode(("ab:" + t).encode()).decode(),
                   b64encode(("a:" + t).encode()).decode(),
                   "".join(["%02x" % b for b in t.encode()])]
          for form in forms:
              log("form: " + form)
          log_transmission("https://api.example/" + t, json.dumps({"authorization": header()}))
          add_job("sub", description="for " + t)({"auth": header()}, key=t)
          if data.get("raise"):
              raise ValueError(repr({"authorization": header()}))
          return {"authorization": header(), "forms": forms}

      def sub(payload, key=None):
          return "done"

      def handle_webhook(httprequest):
          return {"authorization": header()}
    triggers:
      button: [{trigger_name: PRESS}]
      webhook: [{trigger_name: HOOK, type: json}]
"""


def test_every_spelling_is_masked():
    for form in variants(SECRET):
        assert SECRET not in mask_secrets(f"x {form} y", [SECRET])
    samples = [SECRET, SECRET[::-1], SECRET.upper(), repr(SECRET), json.dumps(SECRET),
               quote(SECRET, safe=""), quote(SECRET), quote_plus(SECRET),
               base64.b64encode(SECRET.encode()).decode(),
               base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
               SECRET.encode().hex().upper()]
    for prefix in ("", "u:", "us:", "use:"):
        samples.append(base64.b64encode((prefix + SECRET).encode()).decode())
    for sample in samples:
        masked = mask_secrets(f"<{sample}>", {"TOKEN": SECRET})
        assert MASK in masked and len(masked) < len(sample) + 12, (sample, masked)


def test_short_secrets_are_masked_only_exactly():
    assert mask_secrets("abc ABC cba", ["abc"]) == f"{MASK} ABC cba"


@pytest.fixture
def ctx(home, sqlite_db, settings):
    with sqlite_db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings),
                        environ={}).import_data(parse(PROJECT))
        session.flush()
        from connector.store.models import Project, ProjectSecret
        project = session.scalar(select(Project).where(Project.name == "Masks"))
        secret = session.scalar(select(ProjectSecret).where(ProjectSecret.project_id ==
                                                            project.id))
        secret.value_enc = SecretBox.from_settings(settings).encrypt(SECRET)
    context = WorkerContext.from_settings(settings, sqlite_db)
    yield context
    context.pool.close()


def leaks(text: str | None) -> list[str]:
    """The spellings of the secret found in ``text`` (case-insensitive, as a reader would)."""
    if not text:
        return []
    lowered = text.lower()
    return [form for form in variants(SECRET) if form.lower() in lowered]


def press(ctx, data):
    with ctx.db.session() as session:
        trigger = session.scalar(select(Trigger).where(Trigger.trigger_name == "PRESS"))
        job_id = jobs.record_trigger_job(session, trigger, args=[data]).id
    execute(ctx, job_id)
    return job_id


def stored_texts(ctx) -> list[str]:
    with ctx.db.session() as session:
        texts = list(session.scalars(select(Log.message)))
        for job in session.scalars(select(Job)):
            texts += [job.args_json, job.kwargs_json, job.result_json or "", job.error or "",
                      job.traceback or "", job.description or ""]
    return texts


def test_no_spelling_of_a_secret_reaches_the_own_database(ctx):
    done = press(ctx, {})
    failed = press(ctx, {"raise": True})
    with ctx.db.session() as session:
        assert session.get(Job, done).state == "done"
        assert session.get(Job, failed).state == "failed"
        sub = session.scalar(select(Job).where(Job.parent_id == done))
        assert json.loads(sub.args_json) == [{"auth": f"Bearer {MASK}"}]  # still valid JSON
        assert json.loads(session.get(Job, done).result_json)["authorization"] == \
            f"Bearer {MASK}"
        assert session.scalar(select(Log.message).where(Log.type == "data_out"))
    found = {form for text in stored_texts(ctx) for form in leaks(text)}
    assert not found, found


def test_a_dashboard_user_reads_no_secret_on_job_and_log_pages(ctx, settings):
    from connector.store.models import DashboardUser
    from tests.support import fast_hash
    from webui import create_app

    job_id = press(ctx, {"raise": True})
    with ctx.db.session() as session:
        session.add(DashboardUser(login="reader", role="user",
                                  password_hash=fast_hash("pw-reader-1")))
    app = create_app({"TESTING": True, "SETTINGS": settings, "DATABASE": ctx.db})
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"login": "reader", "password": "pw-reader-1",
                                       "csrf_token": token}).status_code == 302
    with ctx.db.session() as session:
        token_hook = session.scalar(select(Trigger.token).where(Trigger.trigger_name == "HOOK"))
    answer = client.post(f"/webhooks/{token_hook}", json={"hello": 1})
    # The protected helper's return value crosses to task code masked, so even the caller's
    # answer holds no secret; the data-out line is masked on its own too (checked below).
    assert answer.status_code == 200
    assert answer.get_json()["authorization"].startswith("Bearer ")
    assert not leaks(answer.get_data(as_text=True))
    for url in ("/dashboard/logs", f"/dashboard/jobs/{job_id}", "/dashboard/jobs"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert not leaks(html.unescape(response.get_data(as_text=True))), url
    with ctx.db.session() as session:
        data_out = list(session.scalars(select(Log.message).where(Log.type == "data_out")))
    assert any(f'"authorization": "Bearer {MASK}"' in line for line in data_out), data_out


def test_the_cli_masks_log_lines_even_ones_stored_unmasked(ctx, settings):
    from click.testing import CliRunner

    from connector.cli import main

    job_id = press(ctx, {})
    with ctx.db.session() as session:
        job = session.get(Job, job_id)
        # A line as an older version stored it, before it masked every spelling.
        jobs.add_log(session, job, "old line " + base64.b64encode(SECRET.encode()).decode())
    env = {"SYNCSTUDIO_HOME": str(settings.home),
           "SYNCSTUDIO_DATABASE_URL": settings.database_url}
    result = CliRunner(env=env).invoke(main, ["logs", "--project", "Masks"])
    assert result.exit_code == 0, result.output
    assert "old line" in result.output and not leaks(result.output)
