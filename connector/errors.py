"""The exception tree of Sync Studio.

Every error the product raises on purpose derives from :class:`SyncStudioError`, so callers at
the edges (CLI, web, worker) can turn them into one-line messages and keep the traceback for logs.
Odoo-facing errors live in :mod:`connector.odoo.errors` and derive from :class:`OdooError`.
"""

from __future__ import annotations


class SyncStudioError(Exception):
    """Base class for every error Sync Studio raises on purpose."""


class ConfigurationError(SyncStudioError):
    """Raised when a setting or an environment variable holds a value that cannot be used."""


class ProjectFileError(SyncStudioError):
    """Raised when a project YAML file cannot be read or does not describe a valid project."""


class NotFoundError(SyncStudioError):
    """Raised when a project, task, trigger, job or user named by the caller does not exist."""


class CodeError(SyncStudioError):
    """Raised when task, common or protected code is refused at save time.

    ``lineno`` and ``col`` point at the offending place when it is known.
    """

    def __init__(self, message: str, *, lineno: int | None = None, col: int | None = None,
                 where: str = "code") -> None:
        self.lineno = lineno
        self.col = col
        self.where = where
        position = f" (line {lineno}, column {col})" if lineno is not None else ""
        super().__init__(f"{where}: {message}{position}")


class SecretKeyError(SyncStudioError):
    """Raised when stored secrets cannot be decrypted with the configured key."""


class JobError(SyncStudioError):
    """Raised when a job cannot be run (missing task, trigger or handler)."""


class JobStateError(SyncStudioError):
    """Raised when a job is asked to change state in a way its lifecycle does not allow (e.g.
    retrying a job that has not failed, finishing a job that never started)."""


class OdooError(SyncStudioError):
    """Base class of every error that comes from talking to Odoo; see connector.odoo.errors."""
