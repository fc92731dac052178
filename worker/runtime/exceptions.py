"""Exceptions of the task runtime.

Two families live here:

* the exceptions *task code* sees and raises (``UserError``, ``ValidationError``,
  ``RetryableJobError`` …): they derive from plain :class:`Exception`, like Odoo's, so handlers
  can raise and catch them without knowing anything about Sync Studio;
* the errors the *runtime* raises about a run (:class:`SandboxError` and friends): they derive
  from :class:`connector.errors.SyncStudioError` so the edges turn them into one-line messages.
"""

from __future__ import annotations

from connector.errors import SyncStudioError

__all__ = [
    "AccessError", "MissingError", "RetryableJobError", "SandboxError", "SandboxLimitExceeded",
    "SandboxViolation", "UserError", "ValidationError",
]


class UserError(Exception):
    """An error meant for a human; also what Odoo's ``UserError`` becomes over RPC."""


class ValidationError(UserError):
    """A constraint refused values (Odoo's ``ValidationError``)."""


class MissingError(UserError):
    """The record does not exist or has been deleted (Odoo's ``MissingError``)."""


class AccessError(UserError):
    """The Odoo user lacks the rights for the call (Odoo's ``AccessError``)."""


class RetryableJobError(Exception):
    """Raise it to run the job again later (temporary failure: network, Odoo down …).

    The job layer catches it and schedules the next attempt; any other exception fails the job.
    """


class SandboxError(SyncStudioError):
    """Base of the errors the runtime raises about a run of user code."""


class SandboxViolation(SandboxError, AttributeError):
    """User code reached for something the sandbox refuses (private attribute, frame …).

    It is also an ``AttributeError`` so ``hasattr`` and ``getattr(x, name, default)`` written by
    users behave as with any missing attribute.
    """


class SandboxLimitExceeded(SandboxError):
    """The run exceeded its CPU-time, memory or wall-clock limit and was stopped."""

    def __init__(self, message: str, *, limit: str = "") -> None:
        super().__init__(message)
        self.limit = limit
