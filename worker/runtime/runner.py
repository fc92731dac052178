"""Run one handler of one task: build the environment, stack the code layers, call it.

This runs in the calling process; :mod:`worker.runtime.isolation` runs the same thing in a
resource-limited child process.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from connector.errors import JobError
from worker.runtime.context import base_context, link_functions, run_layers
from worker.runtime.environment import Environment
from worker.runtime.jobargs import decode_args
from worker.runtime.policy import USER_MODULE, default_allowlist
from worker.runtime.recordset import RecordSet
from worker.runtime.tracebacks import task_filename

__all__ = ["call_handler", "run_handler"]


def _user_function(namespace: Mapping[str, Any], handler: str, base: Mapping[str, Any]
                   ) -> types.FunctionType:
    if not isinstance(handler, str) or not handler.isidentifier() or handler.startswith("_"):
        raise JobError(f"{handler!r} is not a function name a job can run")
    func = namespace.get(handler)
    if func is None:
        raise JobError(f"the task defines no function {handler}()")
    # Only functions written by users (their __module__ is the sandbox's), never a runtime
    # helper such as log(), and nothing handed over by the context unchanged.
    if (not isinstance(func, types.FunctionType) or func.__module__ != USER_MODULE
            or base.get(handler) is func):
        raise JobError(f"{handler} is not a function defined by the task")
    return func


def _accepts_argument(func: types.FunctionType) -> bool:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
               for p in parameters)


def _seed_deleted(env: Environment, model: str, values: Mapping[str, Mapping[str, Any]]) -> None:
    """Deleted records: their last known values answer field reads without RPC, and any other
    field raises MissingError as Odoo would (the records are gone)."""
    rows = [{**dict(vals), "id": int(rid)} for rid, vals in values.items()]
    env._store(model, rows)
    env._missing.setdefault(model, set()).update(row["id"] for row in rows)


def call_handler(func: types.FunctionType, handler: str, env: Environment, *,
                 records: tuple[Any, ...] | RecordSet | None = None,
                 args: tuple[Any, ...] = (), kwargs: Mapping[str, Any] | None = None) -> Any:
    """Call ``func`` the way its kind of handler is called."""
    if handler == "handle_db":
        if isinstance(records, RecordSet):
            recordset = records
        elif records is not None:
            model, ids = records[0], list(records[1])
            if len(records) > 2 and records[2]:
                _seed_deleted(env, model, records[2])
            recordset = env[model].browse(ids)
        elif args:
            recordset = args[0]
        else:
            raise JobError("handle_db needs records (a (model, ids) pair)")
        return func(recordset)
    if handler == "handle_button":
        data = args[0] if args else None
        return func(data) if _accepts_argument(func) else func()
    if handler == "handle_cron":
        return func()
    if handler == "handle_webhook":
        if not args:
            raise JobError("handle_webhook needs the request")
        return func(args[0])
    # A sub-job: its stored arguments become records and dates again.
    args, call_kwargs = decode_args(args, kwargs, env)
    return func(*args, **call_kwargs)


def run_handler(*, client: Any, task_code: str, handler: str, protected_code: str = "",
                common_code: str = "", records: tuple[Any, ...] | None = None,
                args: Iterable[Any] = (), kwargs: Mapping[str, Any] | None = None,
                params: Mapping[str, Any] | None = None,
                secrets: Mapping[str, Any] | None = None,
                webhooks: Mapping[str, str] | None = None, trigger_name: str | None = None,
                user: Any = None, log: Callable[[str, str], None] | None = None,
                log_transmission: Callable[[str, str], None] | None = None,
                link_api: Any = None, add_job: Callable[..., Any] | None = None,
                allowlist: Iterable[str] | None = None, task_name: str | None = None,
                context: Mapping[str, Any] | None = None,
                texts: Mapping[str, str] | None = None) -> Any:
    """Run ``handler`` of ``task_code`` after the protected and common code; return its value.

    ``handler`` is one of ``handle_db`` (``records=(model, ids)``), ``handle_cron``,
    ``handle_webhook`` (``args=(request,)``), ``handle_button`` (``args=(data,)`` optional) or
    the name of another function of the task (sub-jobs: ``args``/``kwargs``). Code refused by
    the sandbox raises :class:`connector.errors.CodeError`; an unknown handler
    :class:`connector.errors.JobError`; errors of user code propagate unchanged (format them
    with :func:`worker.runtime.tracebacks.format_user_traceback`).

    ``link_api`` is a mapping (or a callable ``env -> mapping``) of ``get_link``, ``set_link``,
    ``search_links`` (task-level functions) and ``record_set_link(record, relation, external,
    sync_date=, allow_many2many=)``, ``record_search_links(records, relation)`` (behind the
    record methods). ``allowlist`` defaults to the settings' import allow-list.
    """
    allowed = tuple(default_allowlist() if allowlist is None else allowlist)
    env = Environment(client, context)
    links = link_functions(link_api, env)
    if links:
        object.__setattr__(env, "_links", links)
    if isinstance(user, int) and not isinstance(user, bool):
        user = env["res.users"].browse(user)
    base = base_context(env=env, log=log, log_transmission=log_transmission, params=params,
                        webhooks=webhooks, trigger_name=trigger_name, user=user,
                        add_job=add_job, links=links, secrets=secrets, texts=texts)
    log_line = base["log"]
    namespace = run_layers(
        base,
        [("protected", protected_code, "<protected>"), ("common", common_code, "<common>"),
         ("task", task_code, task_filename(task_name))],
        secrets=secrets, allowlist=allowed, emit_print=lambda text: log_line(text, "info"),
    )
    func = _user_function(namespace, handler, base)
    return call_handler(func, handler, env, records=records, args=tuple(args), kwargs=kwargs)
