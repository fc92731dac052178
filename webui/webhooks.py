"""The webhook relay: ``/webhooks/<token>`` runs the trigger's ``handle_webhook`` at once.

Bad input never reaches the handler and never gives a 5xx: an unknown token is 404, a disabled
trigger, task or project is 404 with the reason, a malformed body 400, a body over the limit 413,
a wrong method 405. ``HEAD`` answers 200 with no body for every active webhook, without running
the handler or recording a job (services such as Trello check a URL that way before they
register it). The handler's own exception is a 500 with a short message; the job keeps the
full traceback. Every response is logged as data out.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import bindparam, select
from werkzeug.exceptions import RequestEntityTooLarge

from connector import lifecycle
from connector.jobstate import JobState
from connector.store.models import Project, Task, Trigger
from webui.auth import public
from webui.security import webhook_headers
from worker.runtime.request import HttpRequest

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

METHODS = {"json": ("POST",), "form": ("GET", "POST")}
LOGGED_BODY = 4000  # characters of a request or response kept in the data logs
MAX_JSON_DEPTH = 100  # nesting levels of a JSON body; json.loads recurses once per level
POOL = "syncstudio.webhook_pool"
RETRY_AFTER = "5"  # seconds a caller is told to wait when every handler slot is taken


class HandlerPool:
    """Webhook handlers run here, never in the thread serving the request's peers.

    ``threads`` handlers run at once and ``queue`` more wait; a request beyond that is
    refused at once (503), so handlers can never take every thread of the web server, and
    ``/health`` and the dashboard stay answered. A slot is freed when its handler ends, not
    when its caller gave up waiting, so the bound holds even for handlers past their time.
    """

    def __init__(self, threads: int, queue: int, timeout: float) -> None:
        self.timeout = timeout
        self.capacity = threads + queue
        self._slots = threading.BoundedSemaphore(self.capacity)
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="syncstudio-webhook")

    def reserve(self) -> bool:
        """Take a slot for one handler; False when every slot is taken."""
        return self._slots.acquire(blocking=False)

    def release(self) -> None:
        """Give back a slot reserved for a handler that will not run."""
        self._slots.release()

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` in the slot reserved for it; the slot is freed when it ends."""
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _f: self._slots.release())
        return future

    def shutdown(self) -> None:
        """Stop taking handlers (tests)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def json_too_deep(data: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``data`` nests arrays or objects deeper than ``limit`` (without parsing it,
    so a hostile body cannot exhaust the stack); brackets inside strings do not count."""
    depth, in_string, escaped = 0, False, False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


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
        if json_too_deep(built.data):
            return _error(400, f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            json.loads(built.data)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
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
    html_pages: bool = False


_TRIGGERS, _TASKS, _PROJECTS = Trigger.__table__, Task.__table__, Project.__table__
_HOOK = (
    select(_TRIGGERS.c.id, _TRIGGERS.c.project_id, _TRIGGERS.c.task_id, _TRIGGERS.c.webhook_type,
           _TRIGGERS.c.active, _TRIGGERS.c.trigger_name, _TASKS.c.active, _TASKS.c.name,
           _PROJECTS.c.active, _PROJECTS.c.name, _PROJECTS.c.updated_at,
           _TRIGGERS.c.html_pages)
    .join(_TASKS, _TRIGGERS.c.task_id == _TASKS.c.id)
    .join(_PROJECTS, _TRIGGERS.c.project_id == _PROJECTS.c.id)
    .where(_TRIGGERS.c.token == bindparam("token"), _TRIGGERS.c.kind == "webhook")
)


def _find_trigger(conn: Any, token: str) -> _Hook | None:
    row = conn.execute(_HOOK, {"token": token}).first()
    if row is None:
        return None
    (trigger_id, project_id, task_id, kind, trigger_active, trigger_name, task_active,
     task_name, project_active, project_name, version, html_pages) = row
    disabled = None
    for what, active, name in (("project", project_active, project_name),
                               ("task", task_active, task_name),
                               ("trigger", trigger_active, trigger_name)):
        if not active:
            disabled = f"the {what} {name!r} of this webhook is disabled"
            break
    return _Hook(trigger_id, project_id, task_id, kind or "json", disabled, version,
                 bool(html_pages))


def make_response(kind: str, result: Any) -> Response:
    """Turn a handler's return value into a response.

    ``data``, ``(data, status)``, ``(data, headers)`` or ``(data, status, headers)``; a JSON
    webhook sends data as JSON unless the handler set its own Content-Type; bytes without
    one are ``application/octet-stream`` (a browser never renders them as a page).
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
    elif isinstance(result, bytes):
        response = Response(result, status=status, mimetype="application/octet-stream")
    elif isinstance(result, dict | list) or (kind == "json" and not typed):
        response = Response(json.dumps(result), status=status, mimetype="application/json")
    else:
        response = Response(str(result), status=status, mimetype="text/plain")
    for key, value in header_items:
        response.headers[str(key)] = str(value)
    return response


def pool() -> HandlerPool:
    """This app's handler pool, made on first use."""
    app = current_app
    found = app.extensions.get(POOL)
    if found is None:
        settings = app.config["SETTINGS"]
        found = app.extensions.setdefault(POOL, HandlerPool(
            settings.webhook_threads, settings.webhook_queue, settings.webhook_timeout))
    return found


def _busy() -> Response:
    response, status = _error(503, "every webhook handler slot is taken; retry later")
    response.status_code = status
    response.headers["Retry-After"] = RETRY_AFTER
    return response


@bp.route("/<token>", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
@public
def relay(token: str) -> Any:
    """Run the webhook trigger named by ``token`` with this request."""
    response = _relay(token)
    if isinstance(response, tuple):
        response, status = response
        response.status_code = status
    hook = getattr(request, "_syncstudio_hook", None)
    return webhook_headers(response, html_pages=bool(hook and hook.html_pages))


def run_handler(ctx: Any, job: Any, project: Any, built: HttpRequest) -> Any:
    """Run ``handle_webhook`` of the started ``job`` on ``built``; returns its outcome."""
    from worker.executor import run_started

    # No connection held while the handler runs: twenty slow handlers must not drain the
    # pool that /health and the dashboard need too.
    return run_started(ctx, job, project, call_args=(built,))


def _relay(token: str) -> Any:
    ctx = current_app.extensions["syncstudio.worker"]
    # One autocommit connection for the request's own statements, each atomic by itself.
    with ctx.db.autocommit.connect() as conn:
        hook = _find_trigger(conn, token)
        if hook is None:
            return _error(404, "no webhook has this URL (unknown or regenerated token)")
        if hook.disabled:
            return _error(404, hook.disabled)
        request._syncstudio_hook = hook  # type: ignore[attr-defined]
        methods = METHODS[hook.webhook_type]
        if request.method == "HEAD":
            # Services such as Trello check a URL with HEAD before they register it: say the
            # webhook exists, without running the handler or recording a job.
            answer = Response(b"", status=200)
            answer.headers["Allow"] = ", ".join((*methods, "HEAD"))
            return answer
        if request.method not in methods:
            refused, status = _error(405, f"this webhook accepts {' or '.join(methods)}")
            refused.headers["Allow"] = ", ".join((*methods, "HEAD"))
            return refused, status
        built = _build_request(hook.webhook_type)
        if not isinstance(built, HttpRequest):
            return built
        handlers = pool()
        if not handlers.reserve():
            return _busy()
        try:
            return _start(ctx, conn, hook, built, handlers)  # closes conn before waiting
        except BaseException:
            if not getattr(request, "_syncstudio_submitted", False):
                handlers.release()
            raise


def logged_body(built: HttpRequest) -> str:
    """The body as the data_in line shows it: a parsed form's (or a GET's query) fields,
    URL-encoded, since werkzeug leaves no raw body once it has parsed a form."""
    if built.data:
        return built.data.decode("utf-8", "replace")
    fields = built.form or (built.args if built.method == "GET" else {})
    return urlencode(fields)


def _log_out(ctx: Any, job: Any, project: Any, message: str) -> None:
    from worker.executor import write_log

    # write_log masks the project's secrets in the line.
    with ctx.db.autocommit.connect() as conn:
        write_log(ctx, conn, job, project, message, type="data_out")


def _start(ctx: Any, conn: Any, hook: _Hook, built: HttpRequest, handlers: HandlerPool) -> Any:
    """Record the job, run its handler in the pool and answer with what it returned."""
    # Started at once: it runs right here, so the dispatcher must never send it.
    job = lifecycle.begin(conn, project_id=hook.project_id, task_id=hook.task_id,
                          trigger_id=hook.trigger_id, function="handle_webhook",
                          user=built.remote_addr)
    from worker.executor import write_log

    project = ctx.projects.at_version(conn, hook.project_id, hook.version)
    write_log(ctx, conn, job, project, f"{request.method} {request.path} from "
              f"{built.remote_addr}: {logged_body(built)[:LOGGED_BODY]}", type="data_in")
    request._syncstudio_submitted = True  # type: ignore[attr-defined]
    future = handlers.submit(run_handler, ctx, job, project, built)
    conn.close()  # given back to the pool while the handler runs; reopened for the answer
    try:
        outcome = future.result(timeout=handlers.timeout)
    except FutureTimeout:
        _log_out(ctx, job, project,
                 f"504: the handler did not answer within {handlers.timeout:g} s")
        return _error(504, f"the webhook handler did not answer within "
                      f"{handlers.timeout:g} s (job {job.id})")
    if outcome.state == JobState.FAILED:
        short = (outcome.error or "error").splitlines()[0][:200]
        _log_out(ctx, job, project, f"500: handler failed: {short}")
        return _error(500, f"the webhook handler failed (job {job.id}): {short}")
    try:
        response = make_response(hook.webhook_type, outcome.result)
    except (TypeError, ValueError) as exc:
        _log_out(ctx, job, project, f"500: cannot send the handler's return value: {exc}")
        return _error(500, "the webhook handler returned a value that cannot be sent: "
                      f"{exc}")
    body = response.get_data()[:LOGGED_BODY].decode("utf-8", "replace")
    _log_out(ctx, job, project, f"{response.status_code}: {body}")
    return response
