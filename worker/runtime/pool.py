"""A pool of warm, long-lived sandbox processes: what :func:`run_isolated` runs jobs in.

Starting a fresh process per job costs a quarter of a second (a new interpreter re-importing
the runtime); a job itself takes a fraction of a millisecond. So sandbox processes live long:

* A **template process** (the "zygote") is started once with ``spawn`` (a clean interpreter,
  not a fork of the threaded worker), imports the runtime and then only forks. Being
  single-threaded, it can fork safely; a fork of it costs a few milliseconds and shares the
  imported modules copy-on-write. It owns the sandbox processes, so it is the one that kills
  and reaps them (no zombies, no pid reuse races) and it kills them all if the worker dies.
* A **sandbox process** is confined by the kernel right after the fork
  (:mod:`worker.runtime.confinement`: unprivileged, no writes, no new processes, no service
  configuration), and serves one job at a time, many jobs over its life. Each job gets
  fresh namespaces and ``env`` (the runner builds them) and its own limits: a CPU timer
  (``ITIMER_PROF``) and an address-space limit relative to the process's current size, both
  lifted after the job; the parent enforces the wall clock. The compiled-code cache and the
  Odoo client (same connection parameters only, dropped after a failed job) are kept.
* The **pool** hands an idle process to each caller (thread-safe), starts processes lazily up
  to ``max_size`` and waits when all are busy. A process that hits a limit, dies or is killed
  is thrown away; one that served ``max_jobs`` jobs or whose resident memory grew more than
  ``max_rss_growth_mb`` since its first job is retired, which bounds leaks.

Processes are bound to one *tenant* (the Odoo connection, secrets, link store and import
allow-list of the job): protected code may import modules, and a module's mutable state
(``xmlrpc.client.Marshaller.dispatch`` …) would otherwise carry one project's doings into the
next project's job and its credentials. A process of another tenant is only replaced (a cheap
fork) when no process of the job's own tenant is idle and the pool is full.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import hashlib
import importlib
import multiprocessing
import os
import pickle
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler, recv_handle, send_handle
from typing import Any

from worker.runtime import confinement
from worker.runtime.exceptions import SandboxError
from worker.runtime.isolation import (
    CONFINEMENT_FAILED,
    ClientCache,
    Limits,
    _death,
    _limit_error,
    _raw,
    _rebuild,
    call_link_store,
    loads_from_sandbox,
    rss_bytes,
    run_job,
)

__all__ = ["DEFAULT_PRELOAD", "SandboxPool", "close_default_pool", "default_pool",
           "tenant_key", "zygote"]

#: Modules the template process imports once, for every sandbox process forked from it.
DEFAULT_PRELOAD = ("worker.runtime.runner", "worker.runtime.isolation", "connector.odoo",
                   "connector.links", "worker.runtime.confinement",
                   # What a sandbox's first job would otherwise import on its own: the
                   # allow-list's usual modules.
                   "requests", "xmlrpc.client", "hashlib", "hmac", "base64", "re", "math")

_SPAWN = multiprocessing.get_context("spawn")


# --------------------------------------------------------------------------------------------
# Sandbox process
# --------------------------------------------------------------------------------------------


def _serve(conn: Connection, raw: bool = False) -> None:
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


# --------------------------------------------------------------------------------------------
# Template process (zygote)
# --------------------------------------------------------------------------------------------


def _exit_status(status: int) -> int:
    """``waitpid`` status as a multiprocessing exit code (``-signal`` when killed)."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _reap(pid: int, grace: float) -> int | None:
    """Wait up to ``grace`` s for ``pid`` to end, then SIGKILL it; its exit code."""
    deadline = time.monotonic() + grace
    try:
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return _exit_status(status)
            time.sleep(0.001)
        os.kill(pid, signal.SIGKILL)
        return _exit_status(os.waitpid(pid, 0)[1])
    except ChildProcessError:
        return None


def _zygote_main(ctl: Connection, preload: tuple[str, ...], user: str | None = None,
                 private: tuple[str, ...] = ()) -> None:
    """Import ``preload``, then fork sandbox processes on request and reap them.

    Sandboxes run as ``user`` when this process is root, and may never read ``private``.
    """
    # Ctrl-C reaches the whole process group: the worker decides when sandboxes stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Before any import: no module may keep a copy of the service's configuration. The
    # worker's command line and its multiprocessing key came along with the spawn too.
    confinement.scrub_environment()
    del sys.argv[1:]
    multiprocessing.current_process().authkey = os.urandom(32)
    for name in preload:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    plan = confinement.plan(user, private)
    ctl.send(("ready", plan.warnings))
    # Objects that exist now are never collected: keeping the collector away from them keeps
    # their pages shared between the forks instead of copied on first collection.
    gc.collect()
    gc.freeze()
    children: set[int] = set()
    try:
        while True:
            try:
                request = ctl.recv()
            except (EOFError, OSError):
                return  # the worker is gone
            if request[0] == "spawn":
                raw = len(request) > 1 and request[1] is True
                ours, theirs = socket.socketpair()
                pid = os.fork()
                if pid == 0:  # the sandbox process
                    code = 1
                    try:
                        ctl.close()
                        ours.close()
                        try:
                            confinement.confine(plan, keep_fds=[theirs.fileno()])
                        except Exception as exc:  # noqa: BLE001 - reported, then no jobs
                            print(f"sandbox confinement failed: {exc}", file=sys.stderr)
                            code = CONFINEMENT_FAILED
                            raise SystemExit(code) from None
                        _serve(Connection(theirs.detach()), raw=raw)
                        code = 0
                    finally:
                        os._exit(code)
                theirs.close()
                children.add(pid)
                ctl.send(pid)
                send_handle(ctl, ours.fileno(), 0)
                ours.close()
            elif request[0] == "reap":
                _, pid, grace = request
                ctl.send(_reap(pid, grace) if pid in children else None)
                children.discard(pid)
    finally:
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)


class Zygote:
    """The parent's handle on a template process (thread-safe)."""

    _ctl: Connection | None  # None once closed

    def __init__(self, preload: Iterable[str] = DEFAULT_PRELOAD, *, user: str | None = None,
                 private: Iterable[str] = ()) -> None:
        self.preload = tuple(preload)
        self._lock = threading.Lock()
        self._ctl, theirs = _SPAWN.Pipe(duplex=True)
        self.process = _SPAWN.Process(target=_zygote_main,
                                      args=(theirs, self.preload, user, tuple(private)),
                                      name="syncstudio-sandbox-template", daemon=True)
        self.process.start()
        theirs.close()
        try:
            _, warnings = self._ctl.recv()
        except (EOFError, OSError):
            warnings = ["the sandbox template process ended while starting"]
        for text in warnings:
            _warn_once(text)

    @property
    def alive(self) -> bool:
        """False once the template process has ended."""
        return self._ctl is not None and self.process.is_alive()

    def spawn(self, raw: bool = False) -> tuple[int, Connection]:
        """Fork a sandbox process: its pid and a connection to it."""
        with self._lock:
            if self._ctl is None:
                raise SandboxError("the sandbox template process was stopped")
            try:
                self._ctl.send(("spawn", raw))
                pid = self._ctl.recv()
                fd = recv_handle(self._ctl)
            except (EOFError, OSError) as exc:
                raise SandboxError(f"cannot start a sandbox process ({exc})") from None
        return pid, Connection(fd)

    def reap(self, pid: int, grace: float = 0.0) -> int | None:
        """End sandbox ``pid`` (SIGKILL after ``grace`` s) and return its exit code."""
        with self._lock:
            if self._ctl is None:
                return None
            try:
                self._ctl.send(("reap", pid, grace))
                return self._ctl.recv()
            except (EOFError, OSError):
                return None

    def close(self) -> None:
        """Stop the template process; it kills the sandbox processes it still has."""
        with self._lock:
            ctl, self._ctl = self._ctl, None
        if ctl is not None:
            ctl.close()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


_ZYGOTE: Zygote | None = None
_OLD_ZYGOTES: list[Zygote] = []
_ZYGOTE_LOCK = threading.Lock()
_WARNED: set[str] = set()


def _warn_once(text: str) -> None:
    if text not in _WARNED:
        _WARNED.add(text)
        confinement.logger.warning("sandbox confinement: %s", text)


def _private_paths() -> tuple[str, ...]:
    """What no sandbox may read: the service's home and its own SQLite database file."""
    home = _settings_value("home", None)
    url = str(_settings_value("database_url", ""))
    paths = [str(home)] if home else []
    if url.startswith("sqlite:///"):
        paths.append(url[len("sqlite:///"):].split("?", 1)[0])
    return tuple(paths)


def zygote(preload: Iterable[str] = ()) -> Zygote:
    """The shared template process, started on first use (``preload`` adds modules)."""
    global _ZYGOTE
    with _ZYGOTE_LOCK:
        current = _ZYGOTE
        wanted = tuple(dict.fromkeys((*DEFAULT_PRELOAD, *preload)))
        if current is not None and current.alive and set(wanted) <= set(current.preload):
            return current
        if current is not None:
            # Dead, or asked for more modules: later forks come from a new template; the
            # old one ends with close_default_pool() (its sandboxes may still be serving).
            _OLD_ZYGOTES.append(current)
            wanted = tuple(dict.fromkeys((*current.preload, *wanted)))
        _ZYGOTE = Zygote(wanted, user=_settings_value("sandbox_user", "nobody"),
                         private=_private_paths())
        return _ZYGOTE


# --------------------------------------------------------------------------------------------
# Pool
# --------------------------------------------------------------------------------------------


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

    __slots__ = ("baseline", "conn", "jobs", "key", "last_used", "pid", "reaped", "zygote")

    def __init__(self, zygote: Zygote, pid: int, conn: Connection, key: str | None) -> None:
        self.zygote, self.pid, self.conn, self.key = zygote, pid, conn, key
        self.jobs = 0
        self.baseline: int | None = None  # RSS after its first job
        self.last_used = time.monotonic()
        self.reaped = False


class SandboxPool:
    """Warm sandbox processes for :meth:`run` (see the module documentation).

    ``max_size``: processes at most (callers wait when all are busy); ``max_jobs``: jobs per
    process before it is replaced; ``max_rss_growth_mb``: resident-memory growth since a
    process's first job that retires it; ``preload``: modules of the template process.
    """

    def __init__(self, max_size: int = 4, *, max_jobs: int = 500,
                 max_rss_growth_mb: float = 64.0, preload: Iterable[str] = ()) -> None:
        if max_size < 1 or max_jobs < 1:
            raise ValueError("max_size and max_jobs must be at least 1")
        self.max_size = max_size
        self.max_jobs = max_jobs
        self.max_rss_growth = int(max_rss_growth_mb * 1024 * 1024)
        self.preload = tuple(preload)
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
            template = zygote(self.preload)
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
        return child.zygote.reap(child.pid, grace)

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
            from worker.runtime.policy import default_allowlist

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
                    raise _limit_error("wall", limits)  # the finally clause kills it
                try:
                    message = loads_from_sandbox(conn.recv_bytes())
                except (EOFError, OSError):
                    exitcode = self._end(child, grace=2.0)
                    if exitcode is None and self._closed:
                        raise SandboxError("the sandbox pool was closed while the task "
                                           "ran") from None
                    raise _death(exitcode, limits) from None
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
                    raise _limit_error(message[1], limits)
                elif kind in ("error", "result", "raw"):
                    done = True
                    self._release(child, message[2])
                    if kind == "error":
                        raise _rebuild(message[1])
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


_DEFAULT: SandboxPool | None = None
_DEFAULT_LOCK = threading.Lock()


def _settings_value(name: str, default: Any) -> Any:
    from connector.errors import ConfigurationError
    from connector.settings import Settings

    try:
        return getattr(Settings.from_env(), name, default)
    except ConfigurationError:
        return default


def default_pool() -> SandboxPool:
    """The process-wide pool of :func:`run_isolated`, sized from the settings."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = SandboxPool(
                max_size=_settings_value("worker_threads", 4),
                max_jobs=_settings_value("sandbox_max_jobs", 500),
                max_rss_growth_mb=_settings_value("sandbox_max_rss_growth_mb", 64.0))
        return _DEFAULT


def configure_default_pool(**options: Any) -> SandboxPool:
    """Replace the default pool by ``SandboxPool(**options)`` (the old one is closed)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        old, _DEFAULT = _DEFAULT, SandboxPool(**options)
    if old is not None:
        old.close()
    return _DEFAULT


def close_default_pool() -> None:
    """Kill the default pool's processes and the template process (worker shutdown)."""
    global _DEFAULT, _ZYGOTE
    with _DEFAULT_LOCK:
        pool, _DEFAULT = _DEFAULT, None
    if pool is not None:
        pool.close()
    with _ZYGOTE_LOCK:
        templates = [*_OLD_ZYGOTES, *([_ZYGOTE] if _ZYGOTE is not None else [])]
        _ZYGOTE = None
        _OLD_ZYGOTES.clear()
    for template in templates:
        template.close()


def _forget_after_fork() -> None:
    # A forked copy of this process must not drive the parent's sandboxes and template (the
    # sandboxes forked by the template run this too: harmless, they have no pool).
    global _DEFAULT, _DEFAULT_LOCK, _ZYGOTE, _ZYGOTE_LOCK
    _DEFAULT, _ZYGOTE = None, None
    _OLD_ZYGOTES.clear()
    _DEFAULT_LOCK, _ZYGOTE_LOCK = threading.Lock(), threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
# Registered after multiprocessing's own exit handler, so it runs first: sandboxes are killed
# and reaped by their template before multiprocessing terminates the template itself.
atexit.register(close_default_pool)
