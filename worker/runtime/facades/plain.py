"""Plain-data copies: what crosses between protected code, task code and the libraries.

A value crosses as a fresh copy built from builtin types only (``str``, ``int``, ``float``,
``bool``, ``None``, ``bytes``, lists, tuples, dicts, sets, dates and times). A subclass becomes
its builtin base without calling any of its methods, so an object whose ``__eq__`` or
``__contains__`` spies cannot run on the other side. With ``objects=True`` the product's own
read-only wrappers (recordsets, links, ``env``, facades) cross as they are: their insides are
private, and they hold nothing the other side may not see.

Exceptions cross the same way (:func:`fresh_exception`): a new exception of the same builtin or
product type, with a copied, masked message and no attributes, cause, context or traceback.
"""

from __future__ import annotations

import builtins
import datetime
import zoneinfo
from collections.abc import Callable
from typing import Any

import dateutil.tz

from worker.runtime.request import HttpRequest, UploadedFile

__all__ = ["Mask", "Opaque", "crossing_types", "fresh_exception", "mask_bytes", "plain",
           "register_exception"]

Mask = Callable[[str], str]

#: How deep a value may nest: deeper is almost certainly a cycle or an attack on the stack.
MAX_DEPTH = 100

_TZINFO_TYPES = frozenset({
    datetime.timezone, zoneinfo.ZoneInfo, dateutil.tz.tzutc, dateutil.tz.tzoffset,
    dateutil.tz.tzlocal, dateutil.tz.tzfile, dateutil.tz.tzstr, dateutil.tz.tzrange,
})
_TIMES = frozenset({datetime.datetime, datetime.date, datetime.time, datetime.timedelta})


class Opaque:
    """Base of the product objects that may cross as they are (facades and the like).

    ``cross(mask)`` returns what the other side gets: ``self`` for objects without data, a
    masked copy for objects holding data (a Response).
    """

    __slots__ = ()

    def cross(self, mask: Mask | None) -> Any:
        """What the other side of a boundary receives."""
        return self


_product_types: tuple[type, ...] | None = None


def crossing_types() -> tuple[type, ...]:
    """The product's wrapper types that cross unchanged (imported late: no import cycle)."""
    global _product_types
    if _product_types is None:
        from connector.links import Links
        from worker.runtime.environment import Environment
        from worker.runtime.rpc import Records

        _product_types = (Records, Links, Environment)
    return _product_types


def mask_bytes(data: bytes, mask: Mask) -> bytes:
    """``data`` with secrets masked where they appear UTF-8 encoded; other bytes unchanged."""
    text = data.decode("utf-8", "surrogateescape")
    masked = mask(text)
    return data if masked == text else masked.encode("utf-8", "surrogateescape")


def _tzinfo_ok(value: datetime.datetime | datetime.time) -> bool:
    return value.tzinfo is None or type(value.tzinfo) in _TZINFO_TYPES


def plain(value: Any, *, mask: Mask | None = None, objects: bool = False,
          functions: Callable[[Any], Any] | None = None, what: str = "value") -> Any:
    """A plain-data copy of ``value``, strings (and bytes) masked with ``mask``.

    ``objects`` lets the product's wrappers and :class:`Opaque` objects through;
    ``functions`` turns a function into what crosses instead (else functions are refused).
    Raises :class:`TypeError` naming ``what`` for anything else.
    """
    memo: dict[int, Any] = {}

    def copy(item: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ValueError(f"{what} is nested more than {MAX_DEPTH} levels deep")
        cls = type(item)
        if item is None or cls is bool:
            return item
        if isinstance(item, str):
            text = str.__str__(item)
            return mask(text) if mask else text
        if isinstance(item, int):
            return int.__int__(item)
        if isinstance(item, float):
            return float.__float__(item)
        if isinstance(item, (bytes, bytearray)):
            data = bytes(memoryview(item))
            data = mask_bytes(data, mask) if mask else data
            return bytearray(data) if isinstance(item, bytearray) else data
        if cls in _TIMES:
            if isinstance(item, (datetime.datetime, datetime.time)) and not _tzinfo_ok(item):
                raise TypeError(f"{what}: a time with a tzinfo of type "
                                f"{type(item.tzinfo).__name__} cannot cross; use "
                                "timezone('Area/City') or datetime.timezone")
            return item
        key = id(item)
        if key in memo:
            return memo[key]
        if isinstance(item, dict):
            result: Any = {}
            memo[key] = result
            for k, v in dict.items(item):
                result[copy(k, depth + 1)] = copy(v, depth + 1)
            return result
        if isinstance(item, list):
            result = []
            memo[key] = result
            result.extend(copy(v, depth + 1) for v in list.__iter__(item))
            return result
        if isinstance(item, tuple):
            result = tuple(copy(v, depth + 1) for v in tuple.__iter__(item))
            memo[key] = result
            return result
        if isinstance(item, (set, frozenset)):
            items = set.__iter__(item) if isinstance(item, set) else frozenset.__iter__(item)
            copies = [copy(v, depth + 1) for v in items]
            result = set(copies) if isinstance(item, set) else frozenset(copies)
            memo[key] = result
            return result
        if objects:
            if isinstance(item, Opaque):
                return item.cross(mask)
            if isinstance(item, crossing_types()):
                return item
            if cls is UploadedFile:
                return UploadedFile(copy(item.filename, depth + 1),
                                    copy(item.content_type, depth + 1),
                                    copy(item.content, depth + 1))
            if cls is HttpRequest:
                fields = {name: copy(getattr(item, name), depth + 1)
                          for name in HttpRequest.__dataclass_fields__}
                return HttpRequest(**fields)
        if functions is not None and callable(item):
            return functions(item)
        raise TypeError(f"{what}: a {cls.__name__} object cannot cross between protected "
                        "and task code; pass plain data (str, numbers, lists, dicts, dates)")

    return copy(value, 0)


# --------------------------------------------------------------------------------------------
# Exceptions
# --------------------------------------------------------------------------------------------

_REFUSED_BUILTINS = frozenset({BaseExceptionGroup, ExceptionGroup, SystemExit, KeyboardInterrupt,
                               GeneratorExit})
_SAFE_EXCEPTIONS: set[type[BaseException]] = {
    value for value in vars(builtins).values()
    if isinstance(value, type) and issubclass(value, BaseException)
    and value not in _REFUSED_BUILTINS
}


def register_exception(cls: type[BaseException]) -> type[BaseException]:
    """Let exceptions of ``cls`` (a product type) cross a boundary with their type."""
    _SAFE_EXCEPTIONS.add(cls)
    return cls


def _register_runtime_exceptions() -> None:
    from worker.runtime import exceptions

    for name in exceptions.__all__:
        register_exception(getattr(exceptions, name))


_register_runtime_exceptions()


def _safe_base(cls: type[BaseException], keep: Callable[[type], bool] | None) -> type:
    for base in cls.__mro__:
        if base in _SAFE_EXCEPTIONS or (keep is not None and keep(base)):
            return base
    return Exception


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the error itself
        return ""


def fresh_exception(exc: BaseException, mask: Mask | None = None, *,
                    keep: Callable[[type], bool] | None = None) -> BaseException:
    """A new exception standing for ``exc``: same type when it is a builtin or product type
    (or one ``keep`` accepts), else the nearest such base with the type's name in the message;
    arguments copied as plain data and masked; nothing else of ``exc`` is kept.

    Raise it outside the ``except`` block that caught ``exc``, so it has no ``__context__``.
    """
    cls = type(exc)
    target = _safe_base(cls, keep)
    if target is cls:
        try:
            return cls(*plain(exc.args, mask=mask))
        except Exception:  # noqa: BLE001 - args that do not copy, or a picky __init__
            pass
    message = _text(exc)
    if target is not cls:
        message = f"{cls.__name__}: {message}" if message else cls.__name__
    message = mask(message) if mask else message
    for candidate in target.__mro__:
        try:
            return candidate(message)
        except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError takes five arguments
            continue
    return Exception(message)
