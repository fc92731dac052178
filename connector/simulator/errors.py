"""The exceptions the simulated Odoo raises, and how each protocol serializes them.

Odoo reports an exception by its dotted class name (``odoo.exceptions.MissingError``) in
JSON-RPC and by a fault code in XML-RPC. The classes below carry both so the protocol
layers never need a lookup table. Plain Python exceptions (``ValueError`` from a malformed
domain, ``TypeError`` from a bad argument) are deliberately left as they are: the real
server reports them as ``builtins.ValueError`` with fault code 1 and a traceback.
"""

from __future__ import annotations

import traceback

# Fault codes of odoo/addons/base/controllers/rpc.py (Odoo 17).
FAULT_APPLICATION_ERROR = 1
FAULT_WARNING = 2
FAULT_ACCESS_DENIED = 3
FAULT_ACCESS_ERROR = 4


class OdooException(Exception):
    """Base of the simulated ``odoo.exceptions`` classes."""

    odoo_name = "odoo.exceptions.UserError"
    fault_code = FAULT_WARNING

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UserError(OdooException):
    """``odoo.exceptions.UserError``: a business error shown to the user."""


class ValidationError(UserError):
    """``odoo.exceptions.ValidationError``: a constraint refused the values."""

    odoo_name = "odoo.exceptions.ValidationError"


class MissingError(UserError):
    """``odoo.exceptions.MissingError``: the records do not exist (any more)."""

    odoo_name = "odoo.exceptions.MissingError"


class AccessError(UserError):
    """``odoo.exceptions.AccessError``: the user may not do this on this model."""

    odoo_name = "odoo.exceptions.AccessError"
    fault_code = FAULT_ACCESS_ERROR


class AccessDenied(UserError):
    """``odoo.exceptions.AccessDenied``: wrong credentials."""

    odoo_name = "odoo.exceptions.AccessDenied"
    fault_code = FAULT_ACCESS_DENIED

    def __init__(self, message: str = "Access Denied") -> None:
        super().__init__(message)


class SessionExpired(Exception):
    """``odoo.http.SessionExpiredException``: a web route was called without a session."""

    odoo_name = "odoo.http.SessionExpiredException"

    def __init__(self, message: str = "Session expired") -> None:
        super().__init__(message)


class DatabaseMissing(Exception):
    """What psycopg2 raises when a client names a database the server does not have."""

    odoo_name = "psycopg2.OperationalError"

    def __init__(self, database: str) -> None:
        super().__init__(
            f'connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: '
            f'FATAL:  database "{database}" does not exist\n'
        )


def missing_error(model: str, ids, uid: int) -> MissingError:
    """The MissingError of a write/unlink on deleted records, worded as Odoo 17 does."""
    return MissingError(
        "Record does not exist or has been deleted.\n"
        f"(Record: {model}{tuple(ids)!r}, User: {uid})"
    )


def exception_name(exc: BaseException) -> str:
    """The dotted name Odoo puts in ``error.data.name`` for this exception."""
    name = getattr(exc, "odoo_name", None)
    if name:
        return name
    module = type(exc).__module__
    return f"{module}.{type(exc).__name__}"


def format_debug(exc: BaseException) -> str:
    """A traceback text for ``error.data.debug`` / fault strings of unexpected errors."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def fault_of(exc: BaseException) -> tuple[int, str]:
    """The XML-RPC ``(faultCode, faultString)`` Odoo 17 sends for this exception."""
    if isinstance(exc, OdooException):
        return exc.fault_code, str(exc)
    # Anything else is an application error: code 1 and the whole traceback, whose last
    # line is "ValueError: <message>" exactly as the recorded faults show.
    return FAULT_APPLICATION_ERROR, format_debug(exc)


def json_error(exc: BaseException) -> dict:
    """The JSON-RPC ``error`` object Odoo 17 sends for this exception."""
    if isinstance(exc, SessionExpired):
        code, message = 100, "Odoo Session Expired"
    else:
        code, message = 200, "Odoo Server Error"
    return {
        "code": code,
        "message": message,
        "data": {
            "name": exception_name(exc),
            "debug": format_debug(exc),
            "message": str(exc),
            "arguments": [a if isinstance(a, (str, int, float, bool)) or a is None else str(a)
                          for a in exc.args],
            "context": {},
        },
    }
