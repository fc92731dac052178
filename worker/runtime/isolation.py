"""Run a handler in a separate, resource-limited OS process.

RestrictedPython limits what code can *name*; it cannot stop ``while True: pass``,
``10 ** 10 ** 10`` or ``'x' * 10 ** 10``. So each run happens in a child process with:

* a CPU-time limit (an ``ITIMER_PROF`` timer, with ``RLIMIT_CPU`` behind it);
* a memory limit (``RLIMIT_AS``: allocations fail with ``MemoryError``); the limit is the
  child's size at start plus ``memory_mb``, so the interpreter itself does not count;
* a wall-clock limit enforced by the parent, which kills the child (SIGKILL).

The child re-creates the Odoo client from connection parameters (clients hold sockets and
locks, which do not cross processes). Log lines, data-out records and ``add_job`` calls are
sent to the parent as they happen, so they are kept even if the child is killed later.
Children come from a ``forkserver``: forking the (threaded) worker itself could copy held
locks; the fork server is single-threaded and has the runtime imported already.

Errors come back as the same exception classes when the parent knows them (``UserError``,
``RetryableJobError``, ``CodeError``, built-in exceptions …), with the user-code traceback
(secrets masked) in their ``user_traceback`` attribute; other classes (defined by user code)
become :class:`UserCodeError`.
"""

from __future__ import annotations

import builtins
import math
import multiprocessing
import os
import pickle
import resource
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connector import errors as core_errors
from worker.runtime import exceptions as runtime_exceptions
from worker.runtime.exceptions import SandboxError, SandboxLimitExceeded
from worker.runtime.tracebacks import format_user_traceback, mask_secrets

__all__ = ["Limits", "UserCodeError", "run_isolated"]


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

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["worker.runtime.isolation"])


# --------------------------------------------------------------------------------------------
# Child side
# --------------------------------------------------------------------------------------------


def _vm_size_bytes() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _apply_limits(limits: Limits) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a killed child must not dump core
    # ITIMER_PROF counts this process's CPU time precisely and its SIGPROF (no handler
    # installed) ends the process; RLIMIT_CPU, whole seconds only, is the kernel's backstop.
    signal.setitimer(signal.ITIMER_PROF, float(limits.cpu_seconds))
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = math.ceil(used.ru_utime + used.ru_stime + limits.cpu_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = _vm_size_bytes() + int(limits.memory_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


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


def _child_main(conn: Any, connection: Any, limits: Limits, kwargs: dict[str, Any]) -> None:
    from worker.runtime.runner import run_handler

    try:
        _apply_limits(limits)
        secrets = kwargs.get("secrets")
        if callable(connection):
            client = connection()
        else:
            from connector.odoo import make_client

            client = make_client(**connection)

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
        try:
            value = run_handler(client=client, log=log, log_transmission=log_transmission,
                                **kwargs)
        except MemoryError:
            conn.send(("limit", "memory"))
            return
        except BaseException as exc:  # noqa: BLE001 - every user error goes to the parent
            conn.send(("error", _describe(exc, secrets)))
            return
        finally:
            close = getattr(client, "close", None)
            if callable(close):
                close()
        try:
            payload = pickle.dumps(value)
        except Exception as exc:  # noqa: BLE001
            conn.send(("error", {
                "type": "SandboxError", "traceback": "",
                "message": f"the handler returned a {type(value).__name__}, which cannot leave "
                           f"the sandbox ({exc}); return plain data (str, dict, list, numbers)",
            }))
            return
        conn.send(("result", payload))
    except MemoryError:
        conn.send(("limit", "memory"))
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------------


def _rebuild(info: Mapping[str, Any]) -> BaseException:
    name, message = info.get("type", "Exception"), info.get("message", "")
    exc: BaseException
    if name == "CodeError":
        exc = core_errors.CodeError.__new__(core_errors.CodeError)
        Exception.__init__(exc, message)
        exc.lineno, exc.col, exc.where = info.get("lineno"), info.get("col"), info.get("where")
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
    return SandboxError(f"the task's process ended without an answer (exit code {exitcode})")


def run_isolated(*, connection: Mapping[str, Any] | Callable[[], Any],
                 limits: Limits | None = None,
                 log: Callable[[str, str], None] | None = None,
                 log_transmission: Callable[[str, str], None] | None = None,
                 add_job: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """:func:`run_handler` in a child process with CPU, memory and wall-clock limits.

    ``connection`` holds the keyword arguments of :func:`connector.odoo.make_client` (or is a
    picklable factory returning a client). ``log``/``log_transmission``/``add_job`` are called
    here, in the parent, as the child reports. Every other keyword goes to ``run_handler``
    and must be picklable (``link_api`` must be a picklable ``env -> mapping`` factory; it
    runs in the child). Raises :class:`SandboxLimitExceeded` when a limit is hit.
    """
    limits = limits or Limits()
    kwargs["has_add_job"] = add_job is not None
    parent_conn, child_conn = _CONTEXT.Pipe(duplex=True)
    process = _CONTEXT.Process(target=_child_main, name="syncstudio-task",
                               args=(child_conn, connection, limits, kwargs), daemon=True)
    process.start()
    child_conn.close()
    deadline = time.monotonic() + limits.wall_seconds
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _limit_error("wall", limits)
            if not parent_conn.poll(min(remaining, 0.5)):
                if not process.is_alive() and not parent_conn.poll(0):
                    process.join()
                    raise _death(process.exitcode, limits)
                continue
            try:
                message = parent_conn.recv()
            except (EOFError, OSError):
                process.join(5)
                raise _death(process.exitcode, limits) from None
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
                    parent_conn.send(("ok", result))
                except Exception as exc:  # noqa: BLE001 - reported to the child's caller
                    parent_conn.send(("error", str(exc)))
            elif kind == "limit":
                raise _limit_error(message[1], limits)
            elif kind == "error":
                raise _rebuild(message[1])
            elif kind == "result":
                return pickle.loads(message[1])
    finally:
        parent_conn.close()
        if process.is_alive():
            process.kill()
        process.join(5)
        if hasattr(process, "close") and not process.is_alive():
            process.close()


def warm_up(preload: Iterable[str] = ()) -> None:
    """Start the fork server now (first run is otherwise slower); ``preload`` adds modules."""
    if preload:
        _CONTEXT.set_forkserver_preload(["worker.runtime.isolation", *preload])
    process = _CONTEXT.Process(target=os.getpid)
    process.start()
    process.join()
