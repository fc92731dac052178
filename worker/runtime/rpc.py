"""What the recordsets send and receive over RPC: constants, conversions, error translation.

Shared by :mod:`worker.runtime.environment` (the cache) and :mod:`worker.runtime.recordset`
(the records), so neither needs the other at import time.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from connector.odoo import errors as odoo_errors
from worker.runtime.exceptions import (
    AccessError,
    MissingError,
    RetryableJobError,
    UserError,
    ValidationError,
)

__all__ = [
    "DATETIME_FORMAT", "DATE_FORMAT", "FIELD_ATTRIBUTES", "PREFETCH_MAX", "RELATIONAL", "X2MANY",
    "Prefetch", "Records", "plain", "rpc_domain", "rpc_error",
]

DATE_FORMAT = "%Y-%m-%d"
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
PREFETCH_MAX = 1000  # as the ORM: one read never asks for more ids than this
RELATIONAL = frozenset({"many2one", "one2many", "many2many"})
X2MANY = frozenset({"one2many", "many2many"})
FIELD_ATTRIBUTES = ["type", "relation", "string"]


class Records:
    """Base of :class:`worker.runtime.recordset.RecordSet`: lets conversions recognise records."""

    __slots__ = ()
    _ids: tuple[int, ...]


def rpc_error(exc: Exception) -> Exception:
    """Turn a client error into what task code can catch (Odoo's names, no client internals)."""
    if isinstance(exc, odoo_errors.MissingRecord):
        return MissingError(exc.message)
    if isinstance(exc, odoo_errors.AccessDenied):
        return AccessError(exc.message)
    if isinstance(exc, odoo_errors.OdooValidationError):
        return ValidationError(exc.message)
    if isinstance(exc, odoo_errors.OdooUserError):
        return UserError(exc.message)
    if isinstance(exc, odoo_errors.OdooRemoteError):
        if exc.name == "builtins.ValueError":
            return ValueError(str(exc))
        if exc.name == "builtins.KeyError":
            return KeyError(str(exc))
        return UserError(str(exc))
    if isinstance(exc, odoo_errors.OdooUnreachable):
        # Odoo down or a dropped connection: worth another try later, per the retry schedule.
        if exc.retryable:
            return RetryableJobError(str(exc))
        return ConnectionError(str(exc))
    return exc


class Prefetch:
    """The ids read together, shared by every record that came from one recordset.

    ``related`` memoises, per relational field, the prefetch group of the records it points
    to, so ``for p in partners: p.parent_id.name`` reads all parents at once.
    """

    __slots__ = ("ids", "related")

    def __init__(self, ids: Iterable[int]) -> None:
        self.ids = tuple(dict.fromkeys(ids))
        self.related: dict[str, tuple[tuple[int, int], Prefetch]] = {}


def plain(value: Any) -> Any:
    """RPC-ready copy of an argument: recordsets become id lists, dates become strings."""
    if isinstance(value, Records):
        return list(value._ids)
    if isinstance(value, datetime.datetime):
        return value.strftime(DATETIME_FORMAT)
    if isinstance(value, datetime.date):
        return value.strftime(DATE_FORMAT)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def rpc_domain(domain: Any) -> list[Any]:
    """A domain with recordsets turned into an id (``=``) or a list of ids (``in``)."""
    if domain is None:
        return []
    if not isinstance(domain, (list, tuple)):
        raise TypeError("a domain is a list such as [('name', '=', 'x')]")
    result: list[Any] = []
    for term in domain:
        if isinstance(term, (list, tuple)) and len(term) == 3:
            left, op, right = term
            if isinstance(right, Records):
                if str(op).lower() in ("in", "not in", "child_of", "parent_of"):
                    right = list(right._ids)
                elif len(right._ids) <= 1:
                    right = right._ids[0] if right._ids else False
                else:
                    right = list(right._ids)
            result.append([left, op, plain(right)])
        else:
            result.append(term)
    return result
