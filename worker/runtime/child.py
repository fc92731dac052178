"""The sandbox process's side: serve jobs one after another, each under its own limits.

A sandbox process is forked by the template process (:mod:`worker.runtime.template`) and
confined by the kernel before it serves anything. Then :func:`serve` answers the worker's
requests (:mod:`worker.runtime.protocol`) until told to exit or the worker goes away. Each job
gets fresh namespaces and ``env`` (the runner builds them) and its own limits: a CPU timer
(``ITIMER_PROF``, with ``RLIMIT_CPU`` behind it) and an address-space limit (``RLIMIT_AS``)
relative to the process's current size, so the interpreter does not count; both are lifted after
the job, and the worker enforces the wall clock. What survives between jobs is the compiled-code
cache and the Odoo client (same connection only, dropped after a failed job).

The process creates the Odoo client from connection parameters (clients hold sockets and locks,
which do not cross processes). Log lines, data-out records, ``add_job`` calls and link-store
calls go to the worker as they happen, so they are kept even if the process is killed later.
"""

from __future__ import annotations

import contextlib
import functools
import math
import pickle
import resource
import signal
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any, cast

from worker.runtime.protocol import Limits, describe_error

__all__ = ["ClientCache", "RemoteLinkStore", "rss_bytes", "run_job", "serve"]


def _statm(field: int) -> int:
    # /proc/self/statm: sizes in pages, virtual size first, resident second; one short line,
    # cheaper to read than /proc/self/status, which matters once per job.
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[field]) * resource.getpagesize()
    except (OSError, IndexError, ValueError):
        return 0


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
    memory = _statm(0) + int(limits.memory_mb) * 1024 * 1024
    _set_soft_limit(resource.RLIMIT_AS, memory)


def _clear_limits() -> None:
    signal.setitimer(signal.ITIMER_PROF, 0)
    for limit in (resource.RLIMIT_CPU, resource.RLIMIT_AS):
        hard = resource.getrlimit(limit)[1]
        resource.setrlimit(limit, (hard, hard))


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
            return ("error", describe_error(exc, secrets))
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


def serve(conn: Connection, raw: bool = False) -> None:
    """A sandbox process's life: run jobs until told to exit or the parent goes away.

    ``raw``: also accept ``("raw", source)``, plain Python for the tests of the OS boundary
    (only a pool whose ``_raw`` attribute a test set asks for it).
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a killed sandbox must not dump core
    clients = ClientCache()
    try:
        while True:
            try:
                request = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                return
            if request[0] == "raw" and raw:
                conn.send((*_raw(request[1]), rss_bytes()))
                continue
            if request[0] != "run":
                return
            _, connection, limits, kwargs = request
            kind, value = run_job(conn, connection, limits, kwargs, clients)
            conn.send((kind, value, rss_bytes()))
            del request, kwargs, value
    finally:
        clients.drop()
