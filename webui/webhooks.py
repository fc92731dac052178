"""The webhook relay: ``/webhooks/<token>`` runs the trigger's ``handle_webhook`` at once.

Bad input never reaches the handler and never gives a 5xx: an unknown token is 404, a disabled
trigger, task or project is 404 with the reason, a malformed body 400, a body over the limit 413,
a wrong method 405. The handler's own exception is a 500 with a short message; the job keeps the
full traceback. Every response is logged as data out.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import bindparam, select
from werkzeug.exceptions import RequestEntityTooLarge

from connector import jobs
from connector.store.models import Project, Task, Trigger
from worker.runtime.request import HttpRequest

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

METHODS = {"json": ("POST",), "form": ("GET", "POST")}
LOGGED_BODY = 4000  # characters of a request or response kept in the data logs


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message), status


def _build_request(kind: str) -> HttpRequest | tuple[Response, int]:
    limit = current_app.config["SETTINGS"].webhook_max_body
    too_large = f"the body is larger than the limit of {limit} bytes"
    if request.content_length is not None and request.content_length > limit:
        return _error(413, too_large)
    try:
        built = HttpRequest.from_werkzeug(request)
    except RequestEntityTooLarge:
        return _error(413, too_large)
    except ValueError as exc:  # werkzeug refuses some malformed multipart bodies this way
        return _error(400, f"malformed body: {exc}")
    if len(built.data) > limit:
        return _error(413, too_large)
    if kind == "json":
        if not built.data.strip():
            return _error(400, "this webhook expects a JSON body, the body is empty")
        try:
            json.loads(built.data)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, f"the body is not valid JSON: {exc}")
    return built


@dataclasses.dataclass(frozen=True)
class _Hook:
    """The trigger behind a token, with the reason it is disabled (None when it is active)."""

    trigger_id: int
    project_id: int
    task_id: int
    webhook_type: str
    disabled: str | None
    version: Any = None  # the project's updated_at, for the project cache


_TRIGGERS, _TASKS, _PROJECTS = Trigger.__table__, Task.__table__, Project.__table__
_HOOK = (
    select(_TRIGGERS.c.id, _TRIGGERS.c.project_id, _TRIGGERS.c.task_id, _TRIGGERS.c.webhook_type,
           _TRIGGERS.c.active, _TRIGGERS.c.trigger_name, _TASKS.c.active, _TASKS.c.name,
           _PROJECTS.c.active, _PROJECTS.c.name, _PROJECTS.c.updated_at)
    .join(_TASKS, _TRIGGERS.c.task_id == _TASKS.c.id)
    .join(_PROJECTS, _TRIGGERS.c.project_id == _PROJECTS.c.id)
    .where(_TRIGGERS.c.token == bindparam("token"), _TRIGGERS.c.kind == "webhook")
)


def _find_trigger(conn: Any, token: str) -> _Hook | None:
    row = conn.execute(_HOOK, {"token": token}).first()
    if row is None:
        return None
    (trigger_id, project_id, task_id, kind, trigger_active, trigger_name, task_active,
     task_name, project_active, project_name, version) = row
    disabled = None
    for what, active, name in (("project", project_active, project_name),
                               ("task", task_active, task_name),
                               ("trigger", trigger_active, trigger_name)):
        if not active:
            disabled = f"the {what} {name!r} of this webhook is disabled"
            break
    return _Hook(trigger_id, project_id, task_id, kind or "json", disabled, version)


def _make_response(kind: str, result: Any) -> Response:
    """Turn a handler's return value into a response (SPEC §5's rules).

    ``data``, ``(data, status)``, ``(data, headers)`` or ``(data, status, headers)``; a JSON
    webhook sends data as JSON unless the handler set its own Content-Type.
    """
    status, headers = 200, None
    if isinstance(result, tuple) and 2 <= len(result) <= 3:
        if len(result) == 3:
            result, status, headers = result
        elif isinstance(result[1], int):
            result, status = result
        else:
            result, headers = result
    header_items = list(headers.items() if isinstance(headers, dict) else headers or [])
    typed = any(str(key).lower() == "content-type" for key, _value in header_items)
    if result is None:
        response = Response(b"", status=status)
    elif isinstance(result, dict | list) or (kind == "json" and not typed):
        response = Response(json.dumps(result), status=status, mimetype="application/json")
    elif isinstance(result, bytes):
        response = Response(result, status=status)
    else:
        response = Response(str(result), status=status, mimetype="text/plain")
    for key, value in header_items:
        response.headers[str(key)] = str(value)
    return response


@bp.route("/<token>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def relay(token: str) -> Any:
    """Run the webhook trigger named by ``token`` with this request."""
    from worker.executor import run_started, write_log

    ctx = current_app.extensions["syncstudio.worker"]
    # One autocommit connection for the request's own statements, each atomic by itself.
    with ctx.db.autocommit.connect() as conn:
        hook = _find_trigger(conn, token)
        if hook is None:
            return _error(404, "no webhook has this URL (unknown or regenerated token)")
        if hook.disabled:
            return _error(404, hook.disabled)
        if request.method not in METHODS[hook.webhook_type]:
            return _error(405, f"this webhook accepts {' or '.join(METHODS[hook.webhook_type])}")
        built = _build_request(hook.webhook_type)
        if not isinstance(built, HttpRequest):
            return built
        # Started at once: it runs right here, so the dispatcher must never send it.
        job = jobs.begin_job(conn, project_id=hook.project_id, task_id=hook.task_id,
                             trigger_id=hook.trigger_id, function="handle_webhook",
                             user=built.remote_addr)
        project = ctx.projects.at_version(conn, hook.project_id, hook.version)
        # Data lines go through write_log: it masks the project's secrets in them.
        write_log(ctx, conn, job, project, f"{request.method} {request.path} from "
                  f"{built.remote_addr}: "
                  f"{built.data[:LOGGED_BODY].decode('utf-8', 'replace')}", type="data_in")
        outcome = run_started(ctx, job, project, call_args=(built,), conn=conn)
        if outcome.state == "failed":
            short = (outcome.error or "error").splitlines()[0][:200]
            write_log(ctx, conn, job, project, f"500: handler failed: {short}", type="data_out")
            return _error(500, f"the webhook handler failed (job {job.id}): {short}")
        try:
            response = _make_response(hook.webhook_type, outcome.result)
        except (TypeError, ValueError) as exc:
            write_log(ctx, conn, job, project,
                      f"500: cannot send the handler's return value: {exc}", type="data_out")
            return _error(500, "the webhook handler returned a value that cannot be sent: "
                          f"{exc}")
        body = response.get_data()[:LOGGED_BODY].decode("utf-8", "replace")
        write_log(ctx, conn, job, project, f"{response.status_code}: {body}", type="data_out")
        return response
