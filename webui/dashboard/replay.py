"""Replay of a webhook job: its handler runs again, in the sandbox, on the request as the job's
``data_in`` log line recorded it; the response is logged and shown on the dashboard, never sent.

The replay is a new job (its description says which job it replays), so the original keeps its
result and error; Retry stays refused on webhook jobs, whose request was never stored whole.
"""

from __future__ import annotations

import re
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import parse_qsl

from flask import current_app, flash, redirect, url_for
from flask_login import current_user
from sqlalchemy import select, update

from connector import lifecycle
from connector.jobstate import UNFINISHED, JobState
from connector.store.models import Job, Log, Project, Task, Trigger
from webui import webhooks
from webui.auth import role_required
from webui.dashboard import bp, database, get_or_404
from worker.runtime.request import HttpRequest

#: How a replay's response starts in its data_out log line (the job page shows the rest).
REPLAY_PREFIX = "replay response, not sent: "
REPLAY_OF = "replay of job #"
DATA_IN = re.compile(r"(?P<method>[A-Z]+) (?P<path>\S+) from (?P<addr>\S*): (?P<body>.*)\Z",
                     re.S)


class ReplayError(Exception):
    """Why a job cannot be replayed, said to the user."""


def logged_request(message: str, kind: str) -> HttpRequest:
    """The request a data_in log line recorded, as the handler would have received it."""
    found = DATA_IN.match(message)
    if found is None:
        raise ReplayError("its data_in log line does not hold a request this version can read")
    method, path, body = found["method"], found["path"], found["body"]
    fields: dict[str, str] = {}
    if kind == "form" and body and "\n" not in body and "=" in body:
        fields = dict(parse_qsl(body, keep_blank_values=True))
    is_get = method == "GET"
    return HttpRequest(
        method=method, path=path, url=path,
        args=fields if is_get else {}, form={} if is_get else fields,
        data=b"" if is_get else body.encode(),
        content_type="application/json" if kind == "json" else (
            "" if is_get else "application/x-www-form-urlencoded"),
        remote_addr=found["addr"], headers={"X-Syncstudio-Replay": "1"})


def replay_response(lines: list[Log]) -> str | None:
    """The response a replay job logged (status and body), or None."""
    for line in reversed(lines):
        if line.type == "data_out" and line.message.startswith(REPLAY_PREFIX):
            return line.message[len(REPLAY_PREFIX):]
    return None


def _source(job_id: int) -> tuple[Job, Trigger, Project, str]:
    with database().session() as session:
        job = get_or_404(session, Job, job_id)
        if job.function != "handle_webhook":
            raise ReplayError("only webhook jobs are replayed; Retry runs the others again")
        if job.state in UNFINISHED:
            raise ReplayError("it has not ended yet")
        trigger = session.get(Trigger, job.trigger_id) if job.trigger_id else None
        if trigger is None or trigger.kind != "webhook":
            raise ReplayError("its webhook trigger no longer exists")
        project = session.get(Project, job.project_id)
        if project is None or session.get(Task, trigger.task_id) is None:
            raise ReplayError("its task or project no longer exists")
        message = session.scalar(select(Log.message).where(
            Log.job_id == job_id, Log.type == "data_in").order_by(Log.id).limit(1))
        if message is None:
            raise ReplayError("it has no data_in log line (the request was not logged)")
        session.expunge_all()
        return job, trigger, project, message


@bp.post("/jobs/<int:job_id>/replay")
@role_required("developer")
def replay(job_id: int) -> Any:
    """Run a webhook job's handler again on its logged request; show the new job."""
    try:
        original, trigger, project_row, message = _source(job_id)
        built = logged_request(message, trigger.webhook_type or "json")
    except ReplayError as exc:
        flash(f"Job {job_id} cannot be replayed: {exc}.", "error")
        return redirect(url_for("dashboard.job", job_id=job_id))
    from worker.executor import write_log

    ctx = current_app.extensions["syncstudio.worker"]
    handlers = webhooks.pool()
    if not handlers.reserve():
        flash("Every webhook handler slot is taken; replay again in a moment.", "error")
        return redirect(url_for("dashboard.job", job_id=job_id))
    try:
        with ctx.db.autocommit.connect() as conn:
            job = lifecycle.begin(conn, project_id=original.project_id,
                                      task_id=trigger.task_id, trigger_id=trigger.id,
                                      function="handle_webhook",
                                      user=f"{current_user.login} (replay)")
            conn.execute(update(Job).where(Job.id == job.id)
                         .values(description=f"{REPLAY_OF}{job_id}"))
            project = ctx.projects.at_version(conn, original.project_id,
                                              project_row.updated_at)
            write_log(ctx, conn, job, project, message, type="data_in")
            write_log(ctx, conn, job, project, f"{REPLAY_OF}{job_id} by {current_user.login}: "
                      "the response is shown on the dashboard and sent nowhere")
        future = handlers.submit(webhooks.run_handler, ctx, job, project, built)
    except BaseException:
        handlers.release()
        raise
    try:
        outcome = future.result(timeout=handlers.timeout)
    except FutureTimeout:
        answer = f"504: the handler did not answer within {handlers.timeout:g} s"
    else:
        if outcome.state == JobState.FAILED:
            answer = f"500: handler failed: {(outcome.error or 'error').splitlines()[0][:200]}"
        else:
            try:
                response = webhooks.make_response(trigger.webhook_type or "json", outcome.result)
            except (TypeError, ValueError) as exc:
                answer = f"500: cannot send the handler's return value: {exc}"
            else:
                body = response.get_data()[:webhooks.LOGGED_BODY].decode("utf-8", "replace")
                answer = f"{response.status_code} {response.mimetype}: {body}"
    with ctx.db.autocommit.connect() as conn:
        write_log(ctx, conn, job, project, f"{REPLAY_PREFIX}{answer}", type="data_out")
    flash(f"Job {job_id} replayed as job {job.id}; its response is below, sent to nobody.",
          "info")
    return redirect(url_for("dashboard.job", job_id=job.id))
