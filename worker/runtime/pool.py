"""A pool of warm, long-lived sandbox processes: the worker's side of the sandbox.

Starting a fresh process per job costs a quarter of a second (a new interpreter re-importing the
runtime); a job itself takes a fraction of a millisecond. So sandbox processes live long: they
are forked by a template process (:mod:`worker.runtime.template`) and serve one job after
another (:mod:`worker.runtime.child`).

The **pool** hands an idle process to each caller (thread-safe), starts processes lazily up to
``max_size`` and waits when all are busy. While a job runs it answers the process's requests
(log lines, data-out records, ``add_job``, link-store calls) and enforces the wall clock. A
process that hits a limit, dies or is killed is thrown away; one that served ``max_jobs`` jobs
or whose resident memory grew more than ``max_rss_growth_mb`` since its first job is retired,
which bounds leaks.

Processes are bound to one *tenant* (the Odoo connection, secrets, link store and import
allow-list of the job): protected code may import modules, and a module's mutable state
(``xmlrpc.client.Marshaller.dispatch`` …) would otherwise carry one project's doings into the
next project's job and its credentials. A process of another tenant is only replaced (a cheap
fork) when no process of the job's own tenant is idle and the pool is full.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import pickle
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

from connector.settings import Settings
from worker.runtime.exceptions import SandboxError
from worker.runtime.policy import default_allowlist
from worker.runtime.protocol import (
    LINK_STORE_METHODS,
    Limits,
    death_error,
    limit_error,
    loads_from_sandbox,
    rebuild_error,
)
from worker.runtime.template import Template, Templates, shared_templates

__all__ = ["SandboxPool", "call_link_store", "tenant_key"]

logger = logging.getLogger("syncstudio.sandbox")


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


def tenant_key(connection: Any, kwargs: Mapping[str, Any], link_store: Any = None) -> str:
    """Who a job runs for: its connection, secrets, link store and import allow-list."""
    secrets = kwargs.get("secrets") or {}
    store = None if link_store is None else (type(link_store).__qualname__,
                                             getattr(link_store, "project_id", None))
    parts = (connection, sorted(secrets.items()), kwargs.get("link_api"), store,
             kwargs.get("allowlist"))
    try:
        data = pickle.dumps(parts)
    except Exception:  # noqa: BLE001 - the job itself will fail to pickle with a clear error
        data = repr(parts).encode()
    return hashlib.sha256(data).hexdigest()


class _Child:
    """The parent's record of one sandbox process."""

    __slots__ = ("baseline", "conn", "jobs", "key", "last_used", "pid", "reaped", "template")

    def __init__(self, template: Template, pid: int, conn: Connection, key: str | None) -> None:
        self.template, self.pid, self.conn, self.key = template, pid, conn, key
        self.jobs = 0
        self.baseline: int | None = None  # RSS after its first job
        self.last_used = time.monotonic()
        self.reaped = False


class SandboxPool:
    """Warm sandbox processes for :meth:`run` (see the module documentation).

    ``max_size``: processes at most (callers wait when all are busy); ``max_jobs``: jobs per
    process before it is replaced; ``max_rss_growth_mb``: resident-memory growth since a
    process's first job that retires it; ``preload``: modules of the template process;
    ``templates``: where processes are forked from (default: this process's shared ones).
    """

    def __init__(self, max_size: int = Settings.default("worker_threads"), *,
                 max_jobs: int = Settings.default("sandbox_max_jobs"),
                 max_rss_growth_mb: float = Settings.default("sandbox_max_rss_growth_mb"),
                 preload: Iterable[str] = (), templates: Templates | None = None) -> None:
        if max_size < 1 or max_jobs < 1:
            raise ValueError("max_size and max_jobs must be at least 1")
        self.max_size = max_size
        self.max_jobs = max_jobs
        self.max_rss_growth = int(max_rss_growth_mb * 1024 * 1024)
        self.preload = tuple(preload)
        self.templates = templates
        self._cond = threading.Condition()
        self._idle: list[_Child] = []       # most recently used last
        self._children: set[_Child] = set()  # idle and busy
        self._starting = 0
        self._closed = False
        self.started = 0  # processes started so far (for tests and benchmarks)
        self.retired = 0  # processes ended so far, for any reason
        self._raw = False  # tests of the OS boundary set it: see _run_raw()

    # -- processes ------------------------------------------------------------------------

    @property
    def pids(self) -> list[int]:
        """The pids of the live sandbox processes."""
        with self._cond:
            return sorted(child.pid for child in self._children)

    def _start(self, key: str | None) -> _Child:
        try:
            template = (self.templates or shared_templates()).get(self.preload)
            pid, conn = template.spawn(raw=self._raw)
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._cond.notify()
            raise
        child = _Child(template, pid, conn, key)
        with self._cond:
            self._starting -= 1
            self.started += 1
            if self._closed:
                closed = True
            else:
                closed = False
                self._children.add(child)
        if closed:
            self._end(child, grace=0.0)
            raise SandboxError("the sandbox pool is closed")
        return child

    def _end(self, child: _Child, grace: float = 0.0) -> int | None:
        """Stop ``child`` (SIGKILL after ``grace`` s); its exit code if it was still ours."""
        with self._cond:
            if child.reaped:
                return None
            child.reaped = True
            self._children.discard(child)
            if child in self._idle:
                self._idle.remove(child)
            self.retired += 1
            self._cond.notify()
        if grace > 0:
            with contextlib.suppress(OSError):
                child.conn.send_bytes(pickle.dumps(("exit",)))
        child.conn.close()
        return child.template.reap(child.pid, grace)

    def resize(self, max_size: int) -> None:
        """Allow up to ``max_size`` processes (extra idle ones end as they are released)."""
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        with self._cond:
            self.max_size = max_size
            self._cond.notify_all()

    def warm_up(self, count: int = 1) -> None:
        """Start up to ``count`` processes now, not bound to any tenant yet."""
        for _ in range(count):
            with self._cond:
                if self._closed or len(self._children) + self._starting >= self.max_size:
                    return
                self._starting += 1
            child = self._start(None)
            self._release(child, None)

    def _acquire(self, key: str) -> _Child:
        while True:
            victim = None
            child: _Child | None
            with self._cond:
                while True:
                    if self._closed:
                        raise SandboxError("the sandbox pool is closed")
                    mine = [c for c in self._idle if c.key in (key, None)]
                    if mine:
                        # Most recently used first: it is warm (client, code cache).
                        child = max(mine, key=lambda c: (c.key == key, c.last_used))
                        self._idle.remove(child)
                        break
                    if len(self._children) + self._starting < self.max_size:
                        child = None
                        self._starting += 1
                        break
                    if self._idle:
                        # Full, and no process of this tenant is free: replace the one
                        # unused for longest.
                        victim = min(self._idle, key=lambda c: c.last_used)
                        self._idle.remove(victim)
                        child = None
                        self._starting += 1
                        break
                    self._cond.wait()
            if victim is not None:
                self._end(victim, grace=0.0)
            if child is None:
                return self._start(key)
            if child.conn.poll(0):
                # An idle process has nothing to say: it died (EOF) or is confused.
                self._end(child, grace=0.0)
                continue
            child.key = key
            return child

    def _release(self, child: _Child, rss: int | None) -> None:
        child.last_used = time.monotonic()
        if rss is not None:
            child.jobs += 1
            if child.baseline is None:
                child.baseline = rss
            if (child.jobs >= self.max_jobs or rss - child.baseline > self.max_rss_growth):
                self._end(child, grace=1.0)
                return
        with self._cond:
            if child.reaped:
                return
            if self._closed or len(self._children) > self.max_size:
                closed = True  # closed, or shrunk by resize()
            else:
                closed = False
                self._idle.append(child)
                self._cond.notify()
        if closed:
            self._end(child, grace=0.0)

    # -- jobs -----------------------------------------------------------------------------

    def run(self, *, connection: Mapping[str, Any] | Callable[[], Any] | None,
            limits: Limits | None = None,
            log: Callable[[str, str], None] | None = None,
            log_transmission: Callable[[str, str], None] | None = None,
            add_job: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """Run a handler in a sandbox process: see :func:`worker.runtime.run_isolated`."""
        limits = limits or Limits()
        link_store = kwargs.pop("link_store", None)
        kwargs["has_add_job"] = add_job is not None
        kwargs["has_link_store"] = link_store is not None
        if kwargs.get("allowlist") is None:
            # Resolved here: a sandbox has no configuration to read it from.
            kwargs["allowlist"] = default_allowlist()
        # Pickled before taking a process, so an unpicklable argument is the caller's error.
        request = bytes(ForkingPickler.dumps(("run", connection, limits, kwargs)))
        key = tenant_key(connection, kwargs, link_store)
        for _ in range(3):
            child = self._acquire(key)
            try:
                child.conn.send_bytes(request)
            except OSError:
                self._end(child, grace=0.0)  # died while idle: the job has not started
                continue
            return self._wait(child, limits, log, log_transmission, add_job, link_store)
        raise SandboxError("could not hand the job to a sandbox process")

    def _run_raw(self, source: str, wall_seconds: float = 10.0) -> dict[str, Any]:
        """Run plain Python in a sandbox process of this pool: for tests of the OS boundary.

        Refused unless a test set ``pool._raw = True`` before the pool's first process
        started; task code never reaches a pool, and the worker's pools never set it.
        """
        if not self._raw:
            raise SandboxError("this pool does not run raw Python")
        child = self._acquire("raw-python-tests")
        child.conn.send_bytes(pickle.dumps(("raw", source)))
        return dict(self._wait(child, Limits(wall_seconds=wall_seconds), None, None, None,
                               None))

    def _wait(self, child: _Child, limits: Limits, log: Callable[[str, str], None] | None,
              log_transmission: Callable[[str, str], None] | None,
              add_job: Callable[..., Any] | None, link_store: Any = None) -> Any:
        conn = child.conn
        deadline = time.monotonic() + limits.wall_seconds
        done = False
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not conn.poll(remaining):
                    raise limit_error("wall", limits)  # the finally clause kills it
                try:
                    message = loads_from_sandbox(conn.recv_bytes())
                except (EOFError, OSError):
                    exitcode = self._end(child, grace=2.0)
                    if exitcode is None and self._closed:
                        raise SandboxError("the sandbox pool was closed while the task "
                                           "ran") from None
                    raise death_error(exitcode, limits) from None
                kind = message[0]
                if kind == "log":
                    if log is not None:
                        log(message[1], message[2])
                elif kind == "transmission":
                    if log_transmission is not None:
                        log_transmission(message[1], message[2])
                elif kind == "add_job":
                    _, func_name, options, args, call_kwargs = message
                    try:
                        assert add_job is not None
                        result = add_job(func_name, **options)(*args, **call_kwargs)
                        conn.send(("ok", result))
                    except Exception as exc:  # noqa: BLE001 - reported to the child's caller
                        conn.send(("error", str(exc)))
                elif kind == "link":
                    _, method, args, call_kwargs = message
                    conn.send(call_link_store(link_store, method, args, call_kwargs))
                elif kind == "limit":
                    raise limit_error(message[1], limits)
                elif kind in ("error", "result", "raw"):
                    done = True
                    self._release(child, message[2])
                    if kind == "error":
                        raise rebuild_error(message[1])
                    if kind == "raw":
                        return message[1]
                    try:
                        return loads_from_sandbox(message[1])
                    except pickle.UnpicklingError as exc:
                        raise SandboxError(str(exc)) from None
        finally:
            if not done:
                # Killed by a limit, dead, or the caller's callback failed mid-job: never
                # hand out a process whose state or conversation is unknown.
                self._end(child, grace=0.0)

    # -- shutdown -------------------------------------------------------------------------

    def close(self) -> None:
        """Kill every sandbox process of the pool (running jobs fail); refuse new jobs."""
        with self._cond:
            self._closed = True
            children = list(self._children)
            self._cond.notify_all()
        for child in children:
            self._end(child, grace=0.0)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
