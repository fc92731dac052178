"""The template process ("zygote") that forks every sandbox process, and its handle.

Starting a fresh interpreter per sandbox costs a quarter of a second; a fork of a process that
has already imported the runtime costs a few milliseconds and shares the imported modules
copy-on-write. So a template process is started once with ``spawn`` (a clean interpreter, not a
fork of the threaded worker), forgets the service's configuration, imports the runtime and then
only forks. Being single-threaded, it can fork safely. It owns the sandbox processes, so it is
the one that kills and reaps them (no zombies, no pid reuse races), and it kills them all if the
worker goes away.

:class:`Template` is the worker's handle on one such process; :class:`Templates` is the set a
worker uses: the current template (made on first use, as configured: the user sandboxes run as,
the paths they may never read) and the retired ones whose sandboxes are still serving.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle

from connector.settings import Settings
from worker.runtime import confinement
from worker.runtime.child import serve
from worker.runtime.exceptions import SandboxError
from worker.runtime.protocol import CONFINEMENT_FAILED

__all__ = ["DEFAULT_PRELOAD", "Template", "Templates", "reset_shared_templates",
           "shared_templates"]

#: Modules the template process imports once, for every sandbox process forked from it.
DEFAULT_PRELOAD = ("worker.runtime.runner", "worker.runtime.child", "connector.odoo",
                   "connector.links", "worker.runtime.confinement",
                   # What a sandbox's first job would otherwise import on its own: the
                   # allow-list's usual modules.
                   *Settings.default("import_allowlist"))


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


def _fork_sandbox(ctl: Connection, plan: confinement.Plan, raw: bool) -> int:
    """Fork one sandbox process, hand the worker its pid and connection; its pid."""
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
            serve(Connection(theirs.detach()), raw=raw)
            code = 0
        finally:
            os._exit(code)
    theirs.close()
    ctl.send(pid)
    send_handle(ctl, ours.fileno(), 0)
    ours.close()
    return pid


def template_main(ctl: Connection, preload: tuple[str, ...], user: str | None = None,
                  private: tuple[str, ...] = ()) -> None:
    """The template process: import ``preload``, then fork sandboxes on request and reap them.

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
                children.add(_fork_sandbox(ctl, plan, raw))
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


_SPAWN = multiprocessing.get_context("spawn")


class Template:
    """The worker's handle on one template process (thread-safe)."""

    _ctl: Connection | None  # None once closed

    def __init__(self, preload: Iterable[str] = DEFAULT_PRELOAD, *, user: str | None = None,
                 private: Iterable[str] = (), warn: Callable[[str], None] | None = None) -> None:
        self.preload = tuple(preload)
        self.user, self.private = user, tuple(private)
        self.live = 0  # sandbox processes forked and not reaped yet
        self._lock = threading.Lock()
        self._ctl, theirs = _SPAWN.Pipe(duplex=True)
        self.process = _SPAWN.Process(target=template_main,
                                      args=(theirs, self.preload, user, self.private),
                                      name="syncstudio-sandbox-template", daemon=True)
        self.process.start()
        theirs.close()
        try:
            _, warnings = self._ctl.recv()
        except (EOFError, OSError):
            warnings = ["the sandbox template process ended while starting"]
        for text in warnings:
            (warn or _log_warning)(text)

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
            self.live += 1
        return pid, Connection(fd)

    def reap(self, pid: int, grace: float = 0.0) -> int | None:
        """End sandbox ``pid`` (SIGKILL after ``grace`` s) and return its exit code."""
        with self._lock:
            self.live = max(0, self.live - 1)
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


def _log_warning(text: str) -> None:
    confinement.logger.warning("sandbox confinement: %s", text)


class Templates:
    """The template processes of one worker: the current one, made on first use, and the
    retired ones, closed once the sandboxes forked from them have all ended.

    ``user`` and ``private`` are what :func:`template_main` takes (by default those of the
    default settings: the home ``./var`` and its database file); :meth:`configure` changes
    them for the templates started from then on.
    """

    def __init__(self, *, user: str | None = Settings.default("sandbox_user"),
                 private: Iterable[str] | None = None) -> None:
        if private is None:
            private = Settings.from_env({}).private_paths
        self.user, self.private = user, tuple(private)
        self._current: Template | None = None
        self._retired: list[Template] = []
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def configure(self, *, user: str | None, private: Iterable[str]) -> None:
        """Fork later sandboxes from a template with these options (a new one if they
        differ from the current template's)."""
        with self._lock:
            self.user, self.private = user, tuple(private)

    def get(self, preload: Iterable[str] = ()) -> Template:
        """The template to fork from: it has imported ``preload`` (on top of
        :data:`DEFAULT_PRELOAD`) and has the configured options."""
        wanted = tuple(dict.fromkeys((*DEFAULT_PRELOAD, *preload)))
        with self._lock:
            idle = [old for old in self._retired if old.live == 0]
            self._retired = [old for old in self._retired if old.live > 0]
            current = self._current
            if (current is None or not current.alive or not set(wanted) <= set(current.preload)
                    or (current.user, current.private) != (self.user, self.private)):
                if current is not None:
                    # Later forks come from a new template; the old one ends once its
                    # sandboxes have (they may still be serving), or with close().
                    self._retired.append(current)
                    wanted = tuple(dict.fromkeys((*current.preload, *wanted)))
                current = self._current = Template(wanted, user=self.user,
                                                   private=self.private, warn=self._warn)
        for old in idle:
            old.close()
        return current

    def _warn(self, text: str) -> None:
        if text not in self._warned:
            self._warned.add(text)
            _log_warning(text)

    def close(self) -> None:
        """Stop every template process (and so every sandbox process forked from them)."""
        with self._lock:
            templates = [*self._retired, *([self._current] if self._current else [])]
            self._current, self._retired = None, []
        for template in templates:
            template.close()


_SHARED: Templates | None = None
_SHARED_LOCK = threading.Lock()
_HOOKED = False


def shared_templates() -> Templates:
    """This process's :class:`Templates`, made on first use (and forgotten by a fork of it)."""
    global _SHARED, _HOOKED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Templates()
            if not _HOOKED:
                _HOOKED = True
                os.register_at_fork(after_in_child=_forget_after_fork)
                # Registered after multiprocessing's own exit handler, so it runs first: the
                # sandboxes are killed and reaped by their template before multiprocessing
                # terminates the template itself.
                atexit.register(reset_shared_templates)
        return _SHARED


def reset_shared_templates() -> None:
    """Stop this process's template processes; the next :func:`shared_templates` starts
    afresh."""
    global _SHARED
    with _SHARED_LOCK:
        templates, _SHARED = _SHARED, None
    if templates is not None:
        templates.close()


def _forget_after_fork() -> None:
    # A forked copy of this process must not drive the parent's templates (the sandboxes
    # forked by a template run this too: harmless, they have none).
    global _SHARED, _SHARED_LOCK
    _SHARED, _SHARED_LOCK = None, threading.Lock()
