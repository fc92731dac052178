"""Run a handler in a separate, resource-limited OS process.

RestrictedPython limits what code can *name*; it cannot stop ``while True: pass``,
``10 ** 10 ** 10`` or ``'x' * 10 ** 10``. So each run happens in a child process with, per job:

* a CPU-time limit (an ``ITIMER_PROF`` timer, with ``RLIMIT_CPU`` behind it);
* a memory limit (``RLIMIT_AS``: allocations fail with ``MemoryError``); the limit is the
  child's size when the job starts plus ``memory_mb``, so the interpreter does not count;
* a wall-clock limit enforced by the parent, which kills the child (SIGKILL).

The child creates the Odoo client from connection parameters (clients hold sockets and
locks, which do not cross processes). Log lines, data-out records and ``add_job`` calls are
sent to the parent as they happen, so they are kept even if the child is killed later.
Sandbox processes are long-lived and serve one job after another
(:mod:`worker.runtime.pool`): a job gets fresh namespaces, fresh limits and a fresh ``env``;
what survives between jobs is the compiled-code cache and the Odoo client (same connection
only, dropped after a failure).

Errors come back as the same exception classes when the parent knows them (``UserError``,
``RetryableJobError``, ``CodeError``, built-in exceptions …), with the user-code traceback
(secrets masked) in their ``user_traceback`` attribute; other classes (defined by user code)
become :class:`UserCodeError`.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import io
import logging
import math
import pickle
import resource
import signal
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from connector import errors as core_errors
from worker.runtime import exceptions as runtime_exceptions
from worker.runtime.exceptions import SandboxError, SandboxLimitExceeded
from worker.runtime.tracebacks import format_user_traceback, mask_secrets

__all__ = ["LINK_STORE_METHODS", "ClientCache", "Limits", "RemoteLinkStore", "UserCodeError",
           "call_link_store", "loads_from_sandbox", "rss_bytes", "run_isolated", "run_job",
           "warm_up"]

logger = logging.getLogger("syncstudio.sandbox")

#: Exit code of a sandbox process that could not be confined (it never serves a job).
CONFINEMENT_FAILED = 71

#: What a sandbox process may ask of the job's link store, which lives in the worker.
LINK_STORE_METHODS = frozenset({"set_odoo_link", "set_external_link", "update", "delete",
                                "search", "search_odoo", "get"})


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run (see ``Settings.job_*``)."""

    cpu_seconds: float = 60.0
    memory_mb: int = 256
    wall_seconds: float = 300.0

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        """The limits configured in :class:`connector.settings.Settings`."""
        return cls(settings.job_cpu_seconds, settings.job_memory_mb, settings.job_wall_seconds)


class UserCodeError(SandboxError):
    """An exception of a class the parent cannot rebuild (e.g. defined by the task)."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name


# Exception classes the parent rebuilds by name (user code can only raise these or its own).
_KNOWN: dict[str, type[BaseException]] = {
    name: getattr(builtins, name) for name in dir(builtins)
    if isinstance(getattr(builtins, name), type)
    and issubclass(getattr(builtins, name), Exception)
    and not issubclass(getattr(builtins, name), (OSError, UnicodeError))
}
_KNOWN.update({name: getattr(runtime_exceptions, name)
               for name in runtime_exceptions.__all__ if name != "SandboxLimitExceeded"})
_KNOWN.update({"OSError": OSError, "ConnectionError": ConnectionError,
               "JobError": core_errors.JobError})

# --------------------------------------------------------------------------------------------
# Child side: one job in a sandbox process (:mod:`worker.runtime.pool` runs many in a row)
# --------------------------------------------------------------------------------------------


def _statm(field: int) -> int:
    # /proc/self/statm: sizes in pages, virtual size first, resident second; one short line,
    # cheaper to read than /proc/self/status, which matters once per job.
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[field]) * resource.getpagesize()
    except (OSError, IndexError, ValueError):
        return 0


def _vm_size_bytes() -> int:
    return _statm(0)


def rss_bytes() -> int:
    """This process's resident set size."""
    return _statm(1)


def _set_soft_limit(limit: int, value: int) -> None:
    hard = resource.getrlimit(limit)[1]
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(limit, (value, hard))


def _apply_limits(limits: Limits) -> None:
    # Only *soft* limits change: an unprivileged process can lower a hard limit but never raise
    # it again, and the next job in this process needs its own, fresh budget.
    # ITIMER_PROF counts this process's CPU time from now and its SIGPROF (no handler
    # installed) ends the process; RLIMIT_CPU, whole seconds of the process's life, is the
    # kernel's backstop (SIGXCPU).
    signal.setitimer(signal.ITIMER_PROF, float(limits.cpu_seconds))
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = math.ceil(used.ru_utime + used.ru_stime + limits.cpu_seconds) + 1
    _set_soft_limit(resource.RLIMIT_CPU, cpu)
    # Relative to the process's current size, so the interpreter and what earlier jobs left
    # mapped (arenas, caches) do not eat into this job's allowance.
    memory = _vm_size_bytes() + int(limits.memory_mb) * 1024 * 1024
    _set_soft_limit(resource.RLIMIT_AS, memory)


def _clear_limits() -> None:
    signal.setitimer(signal.ITIMER_PROF, 0)
    for limit in (resource.RLIMIT_CPU, resource.RLIMIT_AS):
        hard = resource.getrlimit(limit)[1]
        resource.setrlimit(limit, (hard, hard))


def _describe(exc: BaseException, secrets: Mapping[str, Any] | None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": type(exc).__name__,
        "message": mask_secrets(str(exc), secrets),
        "traceback": format_user_traceback(exc, secrets),
    }
    if isinstance(exc, core_errors.CodeError):
        info.update(lineno=exc.lineno, col=exc.col, where=exc.where,
                    message=mask_secrets(str(exc), secrets))
    return info


class ClientCache:
    """The Odoo client of a sandbox process, kept between jobs with the same connection.

    Re-using it saves a login per job. It is dropped when the connection parameters change
    and after any failed job, so a broken client (dropped socket, refused login) never
    serves the next job.
    """

    def __init__(self) -> None:
        self.key: Any = None
        self.client: Any = None

    @staticmethod
    def _key(connection: Any) -> Any:
        if connection is None or callable(connection):
            return ("factory", connection)
        return ("params", tuple(sorted(connection.items())))

    def get(self, connection: Any) -> Any:
        """The client for ``connection`` (make_client kwargs, a factory, or None)."""
        key = self._key(connection)
        if self.key != key:
            self.drop()
            if connection is None:
                client = None
            elif callable(connection):
                client = connection()
            else:
                from connector.odoo import make_client

                client = make_client(**connection)
            self.key, self.client = key, client
        return self.client

    def drop(self) -> None:
        """Forget (and close) the cached client."""
        client, self.key, self.client = self.client, None, None
        close = getattr(client, "close", None)
        if callable(close):
            # A broken client is being thrown away: its close() may fail too.
            with contextlib.suppress(Exception):
                close()


class RemoteLinkStore:
    """The job's link store as the sandbox sees it: every call is a request to the worker.

    The sandbox holds no database connection, URL or credentials; the worker runs the call
    against the own database and answers with plain rows.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self._conn.send(("link", method, args, kwargs))
        kind, value = self._conn.recv()
        if kind == "ok":
            return value
        from connector.links import LinkError

        name, message = value.get("type"), value.get("message", "")
        cls = {"LinkError": LinkError, "ValueError": ValueError, "TypeError": TypeError}
        raise cls.get(name, RuntimeError)(message)

    def set_odoo_link(self, relation: Any, model: Any, record_id: Any, external: Any,
                      **options: Any) -> Any:
        return self._call("set_odoo_link", relation, model, record_id, str(external),
                          **options)

    def set_external_link(self, relation: Any, refs: Any, **options: Any) -> Any:
        if isinstance(refs, Mapping):
            refs = {str(key): str(value) for key, value in refs.items()}
        return self._call("set_external_link", relation, refs, **options)

    def update(self, ids: Any, sync_date: Any = None) -> Any:
        return self._call("update", list(ids), sync_date)

    def delete(self, ids: Any) -> Any:
        return self._call("delete", list(ids))

    def search(self, relation: Any, refs: Any, model: Any = None) -> Any:
        if isinstance(refs, Mapping):
            refs = {str(key): ([str(v) for v in value]
                               if isinstance(value, list | tuple | set | frozenset)
                               else str(value)) for key, value in refs.items()}
        return self._call("search", relation, refs, model)

    def search_odoo(self, relation: Any, model: Any, ids: Any) -> Any:
        return self._call("search_odoo", relation, model, list(ids))

    def get(self, relation: Any, external: Any, model: Any = None) -> Any:
        return self._call("get", relation, str(external), model)


def _raw(source: str) -> tuple[str, Any]:
    """Run ``source`` as plain Python, the RestrictedPython layer bypassed (tests only)."""
    namespace: dict[str, Any] = {"__name__": "__sandbox_raw__"}
    try:
        exec(compile(source, "<raw>", "exec"), namespace)  # noqa: S102 - the test hook
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        return ("raw", {"error": type(exc).__name__, "message": str(exc),
                        "errno": getattr(exc, "errno", None)})
    result = namespace.get("result")
    return ("raw", {"result": result if isinstance(result, str | int | float | bool | None)
                    else repr(result)})


def run_job(conn: Any, connection: Any, limits: Limits, kwargs: dict[str, Any],
            clients: ClientCache) -> tuple[str, Any]:
    """Run one job in this process under ``limits``; return its final message.

    Log lines, data-out records and ``add_job`` calls go to the parent over ``conn`` while
    the job runs. The result is ``("result", pickled value)``, ``("error", description)``
    or ``("limit", "memory")``; the CPU limit ends the process (SIGPROF).
    """
    from worker.runtime.runner import run_handler

    secrets = kwargs.get("secrets")

    def log(message: str, level: str) -> None:
        conn.send(("log", message, level))

    def log_transmission(recipient: str, data: str) -> None:
        conn.send(("transmission", recipient, data))

    def add_job(func_name: str, **options: Any) -> Callable[..., Any]:
        def queue(*args: Any, **call_kwargs: Any) -> Any:
            conn.send(("add_job", func_name, options, args, call_kwargs))
            kind, value = conn.recv()
            if kind == "error":
                raise RuntimeError(f"add_job failed: {value}")
            return value

        return queue

    if kwargs.pop("has_add_job", False):
        kwargs["add_job"] = add_job
    if kwargs.pop("has_link_store", False):
        from connector.links import link_api

        # Duck-typed: the same methods as a LinkStore, answered by the worker.
        kwargs["link_api"] = functools.partial(link_api, cast(Any, RemoteLinkStore(conn)))
    try:
        _apply_limits(limits)
        try:
            client = clients.get(connection)
            value = run_handler(client=client, log=log, log_transmission=log_transmission,
                                **kwargs)
        except MemoryError:
            raise
        except BaseException as exc:  # noqa: BLE001 - every user error goes to the parent
            clients.drop()
            return ("error", _describe(exc, secrets))
        try:
            return ("result", pickle.dumps(value))
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001
            return ("error", {
                "type": "SandboxError", "traceback": "",
                "message": f"the handler returned a {type(value).__name__}, which cannot leave "
                           f"the sandbox ({exc}); return plain data (str, dict, list, numbers)",
            })
    except MemoryError:
        clients.drop()
        return ("limit", "memory")
    finally:
        _clear_limits()


# --------------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------------

# The only classes a sandbox's messages may name: the worker must never run code chosen by a
# sandbox process, which is what unpickling an arbitrary pickle amounts to.
_SAFE_CLASSES = {
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"),
    ("datetime", "timedelta"), ("datetime", "timezone"), ("decimal", "Decimal"),
    ("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset"),
    ("builtins", "bytearray"), ("builtins", "complex"),
}


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_CLASSES:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"a sandbox process sent a {module}.{name}, which cannot leave the sandbox; "
            "return plain data (str, dict, list, numbers, dates)")


def loads_from_sandbox(data: bytes) -> Any:
    """Decode a message of a sandbox process: plain data only (see ``_SAFE_CLASSES``)."""
    return _PlainUnpickler(io.BytesIO(data)).load()


def call_link_store(store: Any, method: Any, args: Any, kwargs: Any) -> tuple[str, Any]:
    """Run a sandbox's link request against ``store``; the answer as ``(kind, value)``."""
    from connector.links import LinkError

    if (store is None or method not in LINK_STORE_METHODS or not isinstance(args, tuple)
            or not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs)):
        return ("error", {"type": "RuntimeError", "message": "links are not available here"})
    try:
        return ("ok", getattr(store, method)(*args, **kwargs))
    except (LinkError, ValueError, TypeError) as exc:
        return ("error", {"type": type(exc).__name__, "message": str(exc)})
    except Exception as exc:  # noqa: BLE001 - the database's own errors stay in the worker log
        logger.exception("a link request of a sandbox failed")
        return ("error", {"type": "RuntimeError",
                          "message": f"the link store failed ({type(exc).__name__}); the "
                                     "worker log has the details"})


def _rebuild(info: Mapping[str, Any]) -> BaseException:
    name, message = info.get("type", "Exception"), info.get("message", "")
    exc: BaseException
    if name == "CodeError":
        exc = core_errors.CodeError.__new__(core_errors.CodeError)
        Exception.__init__(exc, message)
        # _describe always sends a CodeError's where (a str).
        exc.lineno, exc.col = info.get("lineno"), info.get("col")
        exc.where = cast(str, info.get("where"))
    elif name == "SandboxError":
        exc = SandboxError(message)
    elif name in _KNOWN:
        exc = _KNOWN[name](message)
    else:
        exc = UserCodeError(name, message)
    exc.user_traceback = info.get("traceback", "")  # type: ignore[attr-defined]
    return exc


def _limit_error(kind: str, limits: Limits) -> SandboxLimitExceeded:
    if kind == "cpu":
        text = f"task exceeded its CPU time limit of {limits.cpu_seconds:g} s"
    elif kind == "memory":
        text = f"task exceeded its memory limit of {limits.memory_mb} MB"
    else:
        text = f"task exceeded its wall-clock limit of {limits.wall_seconds:g} s"
    return SandboxLimitExceeded(text, limit=kind)


def _death(exitcode: int | None, limits: Limits) -> SandboxError:
    if exitcode is not None and exitcode < 0:
        signum = -exitcode
        if signum in (signal.SIGPROF, signal.SIGXCPU):
            return _limit_error("cpu", limits)
        if signum == signal.SIGKILL:
            # Not ours (we raise the wall-clock error before killing): the kernel's hard CPU
            # limit or, more likely, the out-of-memory killer.
            return SandboxError("the task's process was killed by the system (SIGKILL), "
                                "probably for lack of memory")
        return SandboxError(f"the task's process died ({signal.Signals(signum).name})")
    if exitcode == CONFINEMENT_FAILED:
        return SandboxError("the sandbox process could not be confined, so it ran nothing; "
                            "the worker's log says why")
    return SandboxError(f"the task's process ended without an answer (exit code {exitcode})")


def run_isolated(*, connection: Mapping[str, Any] | Callable[[], Any] | None,
                 limits: Limits | None = None,
                 log: Callable[[str, str], None] | None = None,
                 log_transmission: Callable[[str, str], None] | None = None,
                 add_job: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """:func:`run_handler` in a sandbox process with CPU, memory and wall-clock limits.

    ``connection`` holds the keyword arguments of :func:`connector.odoo.make_client` (or is a
    picklable factory returning a client, or None for no client). ``log``/
    ``log_transmission``/``add_job`` are called here, in the parent, as the child reports;
    so are the methods of ``link_store`` (a :class:`connector.links.LinkStore`), which the
    child's link functions call: the child never opens the own database. Every other
    keyword goes to ``run_handler`` and must be picklable. Raises
    :class:`SandboxLimitExceeded` when a limit is hit. The process comes from the shared
    :func:`worker.runtime.pool.default_pool`.
    """
    from worker.runtime.pool import default_pool

    return default_pool().run(connection=connection, limits=limits, log=log,
                              log_transmission=log_transmission, add_job=add_job, **kwargs)


def warm_up(preload: Iterable[str] = (), processes: int = 1) -> None:
    """Start the sandbox processes now (the first run is otherwise slower).

    ``preload`` adds modules the template process imports once for all sandbox processes.
    """
    from worker.runtime.pool import default_pool, zygote

    zygote(preload)
    default_pool().warm_up(processes)
