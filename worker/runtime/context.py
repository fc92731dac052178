"""The evaluation context of user code, and how the code layers are stacked.

``protected`` code runs first (with ``secrets`` and ``import``), then ``common`` code, then the
task's code. Each layer gets fresh globals holding the base context plus every name not
starting with ``_`` that the layers above defined; ``secrets`` is never passed down. What
protected code shares crosses an explicit boundary (:mod:`worker.runtime.facades.boundary`):
its functions are called with plain-data copies of their arguments and give back plain data
with secrets masked, and their exceptions leave as fresh ones with a masked message. Functions
of an upper layer keep their own globals, so they still see ``secrets`` when task code calls
them, while task code cannot read those globals back (``__globals__``, ``__closure__`` and frames
are refused by the sandbox policy).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from connector.jobs import check_job_options
from worker.runtime import tools
from worker.runtime.exceptions import (
    AccessError,
    MissingError,
    RetryableJobError,
    UserError,
    ValidationError,
)
from worker.runtime.facades.boundary import export
from worker.runtime.jobargs import encode_args
from worker.runtime.namespace import Namespace
from worker.runtime.policy import compile_code, layer_globals
from worker.runtime.tracebacks import secret_masker

__all__ = [
    "LOG_LEVELS", "LINK_FUNCTIONS", "RECORD_LINK_FUNCTIONS", "base_context", "link_functions",
    "run_layers",
]

LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_CRITICAL = (
    "debug", "info", "warning", "error", "critical")
LOG_LEVELS = (LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_CRITICAL)
# Names of link_api entries: module-level functions, and the ones behind record methods.
LINK_FUNCTIONS = ("get_link", "set_link", "search_links")
RECORD_LINK_FUNCTIONS = ("record_set_link", "record_search_links")

_log = logging.getLogger("syncstudio.task")


def _default_log(message: str, level: str) -> None:
    _log.log(logging.getLevelName(level.upper()), "%s", message)


def _default_transmission(recipient: str, data: str) -> None:
    _log.info("data out to %s: %s", recipient, data)


def _pass_through(func: Callable[..., Any], name: str) -> Callable[..., Any]:
    # A plain function in front of what the job layer gives us: a bound method or a
    # functools.partial would expose ``.func``/``.args`` (no underscore) to user code.
    def call(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def link_functions(link_api: Any, env: Any) -> dict[str, Callable[..., Any]]:
    """The link functions of ``link_api``: a mapping, or a callable ``(env) -> mapping``."""
    if link_api is None:
        return {}
    api = link_api(env) if callable(link_api) else link_api
    names = LINK_FUNCTIONS + RECORD_LINK_FUNCTIONS
    return {name: _pass_through(api[name], name) for name in names if api.get(name)}


def base_context(*, env: Any, log: Callable[[str, str], None] | None = None,
                 log_transmission: Callable[[str, str], None] | None = None,
                 params: Mapping[str, Any] | None = None,
                 webhooks: Mapping[str, str] | None = None, trigger_name: str | None = None,
                 user: Any = None, add_job: Callable[..., Any] | None = None,
                 links: Mapping[str, Callable[..., Any]] | None = None,
                 secrets: Mapping[str, Any] | None = None,
                 texts: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The names every layer sees, built around the job layer's callbacks.

    Secret values are masked in log lines and data-out records: logs are visible to every
    dashboard user, and a URL such as Telegram's ``/bot<TOKEN>/`` carries a secret.
    """
    sink = log or _default_log
    out = log_transmission or _default_transmission
    mask = secret_masker(secrets)

    def log_(message: Any, level: str = LOG_INFO) -> None:
        level = str(level).lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
        sink(mask(str(message)), level)

    log_.__name__ = log_.__qualname__ = "log"

    def log_transmission_(recipient_str: Any, data_str: Any = "") -> None:
        data = data_str if isinstance(data_str, str) else str(data_str)
        out(mask(str(recipient_str)), mask(data))

    log_transmission_.__name__ = log_transmission_.__qualname__ = "log_transmission"

    context: dict[str, Any] = {
        "env": env,
        "log": log_,
        "LOG_DEBUG": LOG_DEBUG, "LOG_INFO": LOG_INFO, "LOG_WARNING": LOG_WARNING,
        "LOG_ERROR": LOG_ERROR, "LOG_CRITICAL": LOG_CRITICAL,
        "log_transmission": log_transmission_,
        "log_outgoing_data": log_transmission_,
        "params": Namespace("params", params),
        "webhooks": Namespace("webhooks", webhooks),
        "texts": Namespace("texts", texts),
        "trigger_name": trigger_name,
        "TRIGGER_NAME": trigger_name,
        "trigger": trigger_name,
        "user": user,
        "url2base64": tools.url2base64,
        "url2bin": tools.url2bin,
        "html2plaintext": tools.html2plaintext,
        "type2str": tools.type2str,
        "get_lang": tools.get_lang,
        "DEFAULT_SERVER_DATETIME_FORMAT": tools.DEFAULT_SERVER_DATETIME_FORMAT,
        "DEFAULT_SERVER_DATE_FORMAT": tools.DEFAULT_SERVER_DATE_FORMAT,
        "UserError": UserError,
        "ValidationError": ValidationError,
        "MissingError": MissingError,
        "AccessError": AccessError,
        "RetryableJobError": RetryableJobError,
        "OSError": OSError,
    }
    context.update(tools.libraries())
    if add_job is not None:
        def add_job_(func_name: str, priority: Any = 10, eta: Any = None,
                     max_retries: Any = None, description: Any = None,
                     identity_key: Any = None) -> Callable[..., Any]:
            # Checked before anything is queued, so a bad option raises at the call in task
            # code with a message naming the option, instead of breaking the job's end.
            check_job_options(func_name, priority, eta, max_retries, description, identity_key)
            options = {key: value for key, value in (
                ("priority", priority), ("eta", eta), ("max_retries", max_retries),
                ("description", description), ("identity_key", identity_key))
                if value is not None}
            queue = add_job(func_name, **options)

            def delay(*args: Any, **kwargs: Any) -> Any:
                # Records and dates travel as tagged JSON; anything else JSON cannot hold is
                # refused here, at the call in task code, naming the argument.
                json_args, json_kwargs = encode_args(args, kwargs)
                return queue(*json_args, **json_kwargs)

            return _pass_through(delay, str(func_name))

        add_job_.__name__ = add_job_.__qualname__ = "add_job"
        context["add_job"] = add_job_
    for name in LINK_FUNCTIONS:
        if links and name in links:
            context[name] = links[name]
    return context


def run_layers(base: Mapping[str, Any], layers: Iterable[tuple[str, str, str]], *,
               secrets: Mapping[str, Any] | None = None, allowlist: Iterable[str] = (),
               emit_print: Callable[[str], None]) -> dict[str, Any]:
    """Execute ``(where, source, filename)`` layers in order; return the last layer's globals.

    Raises :class:`connector.errors.CodeError` if a layer's code is refused, and whatever the
    user code raises while it runs.
    """
    allowed = tuple(allowlist)
    mask = secret_masker(secrets) if secrets else None
    exported: dict[str, Any] = {}
    namespace: dict[str, Any] = {}
    for where, source, filename in layers:
        namespace = layer_globals(where, emit_print=emit_print, allowlist=allowed)
        namespace.update(base)
        namespace.update(exported)
        if where == "protected":
            namespace["secrets"] = Namespace("secrets", secrets, masked=True)
        if source and source.strip():
            code = compile_code(source, where, filename=filename, allowlist=allowed)
            exec(code, namespace)  # noqa: S102 - compiled by RestrictedPython, guarded globals
        for name, value in namespace.items():
            if name.startswith("_") or name == "secrets":
                continue
            if name in base and base[name] is value:
                continue
            # What protected code shares crosses the boundary (plain data, facades, wrapped
            # functions); common code is a Developer's, like task code, and is shared as is.
            exported[name] = export(name, value, mask) if where == "protected" else value
    return namespace
