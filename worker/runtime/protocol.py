"""What crosses the boundary between the worker and a sandbox process, in both directions.

Both sides speak over one connection (:mod:`multiprocessing.connection`). The worker sends
``("run", connection, limits, kwargs)`` (or ``("raw", source)`` for the OS-boundary tests, or
``("exit",)``); the sandbox answers with messages while the job runs (``("log", …)``,
``("transmission", …)``, ``("add_job", …)``, ``("link", …)``, answered by the worker) and ends
with ``("result", pickled value, rss)``, ``("error", description, rss)``, ``("raw", …, rss)`` or
``("limit", kind)``. This module holds the pieces both sides must agree on: the limits, how an
exception is described by the sandbox and rebuilt by the worker, and the one decoder the worker
uses on a sandbox's bytes.
"""

from __future__ import annotations

import builtins
import io
import pickle
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from connector import errors as core_errors
from connector.settings import Settings
from worker.runtime import exceptions as runtime_exceptions
from worker.runtime.exceptions import SandboxError, SandboxLimitExceeded
from worker.runtime.tracebacks import format_user_traceback, mask_secrets

__all__ = ["CONFINEMENT_FAILED", "LINK_STORE_METHODS", "Limits", "UserCodeError", "death_error",
           "describe_error", "limit_error", "loads_from_sandbox", "rebuild_error"]

#: Exit code of a sandbox process that could not be confined (it never serves a job).
CONFINEMENT_FAILED = 71

#: What a sandbox process may ask of the job's link store, which lives in the worker.
LINK_STORE_METHODS = frozenset({"set_odoo_link", "set_external_link", "update", "delete",
                                "search", "search_odoo", "get"})


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run; the defaults are those of ``Settings.job_*``."""

    cpu_seconds: float = Settings.default("job_cpu_seconds")
    memory_mb: int = Settings.default("job_memory_mb")
    wall_seconds: float = Settings.default("job_wall_seconds")

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        """The limits configured in :class:`connector.settings.Settings`."""
        return cls(settings.job_cpu_seconds, settings.job_memory_mb, settings.job_wall_seconds)


class UserCodeError(SandboxError):
    """An exception of a class the parent cannot rebuild (e.g. defined by the task)."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name


# --------------------------------------------------------------------------------------------
# Errors: described by the sandbox, rebuilt by the worker
# --------------------------------------------------------------------------------------------

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


def describe_error(exc: BaseException, secrets: Mapping[str, Any] | None) -> dict[str, Any]:
    """The sandbox's description of ``exc``: plain data, secrets masked."""
    info: dict[str, Any] = {
        "type": type(exc).__name__,
        "message": mask_secrets(str(exc), secrets),
        "traceback": format_user_traceback(exc, secrets),
    }
    if isinstance(exc, core_errors.CodeError):
        info.update(lineno=exc.lineno, col=exc.col, where=exc.where,
                    message=mask_secrets(str(exc), secrets))
    return info


def rebuild_error(info: Mapping[str, Any]) -> BaseException:
    """The worker's exception for a sandbox's :func:`describe_error`; the masked user-code
    traceback is in its ``user_traceback`` attribute."""
    name, message = info.get("type", "Exception"), info.get("message", "")
    exc: BaseException
    if name == "CodeError":
        exc = core_errors.CodeError.__new__(core_errors.CodeError)
        Exception.__init__(exc, message)
        # describe_error always sends a CodeError's where (a str).
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


def limit_error(kind: str, limits: Limits) -> SandboxLimitExceeded:
    """The error of a job that hit its ``cpu``, ``memory`` or ``wall`` limit."""
    if kind == "cpu":
        text = f"task exceeded its CPU time limit of {limits.cpu_seconds:g} s"
    elif kind == "memory":
        text = f"task exceeded its memory limit of {limits.memory_mb} MB"
    else:
        text = f"task exceeded its wall-clock limit of {limits.wall_seconds:g} s"
    return SandboxLimitExceeded(text, limit=kind)


def death_error(exitcode: int | None, limits: Limits) -> SandboxError:
    """The error of a job whose sandbox process ended without an answer."""
    if exitcode is not None and exitcode < 0:
        signum = -exitcode
        if signum in (signal.SIGPROF, signal.SIGXCPU):
            return limit_error("cpu", limits)
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


# --------------------------------------------------------------------------------------------
# Decoding what a sandbox sends
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
