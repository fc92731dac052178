"""Odoo domains evaluated on plain value dicts (as ``read`` returns them), without Odoo.

Change detection needs this for the *before update domain*, which must be checked on the values a
record had before the change (a snapshot or auditlog line: Odoo can no longer answer). The
semantics follow what a real Odoo 17 returns (see ``shared/odoo17/domains.json``): ``!=``,
``not in`` and the negative ``like`` operators include empty values; ``like`` keeps ``_`` and
``%`` as wildcards; ``ilike`` is case- but not accent-insensitive. What cannot be decided from the
record's own values (dotted paths, ``child_of``, names compared with many2one ids) raises
:class:`Unsupported`, so the caller can ask Odoo instead or refuse the trigger.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

OPERATORS = frozenset({"=", "!=", "<>", "<", ">", "<=", ">=", "in", "not in", "like", "not like",
                       "ilike", "not ilike", "=like", "=ilike"})
REMOTE_ONLY = frozenset({"child_of", "parent_of", "any", "not any", "=?"})
NEGATIVE = frozenset({"!=", "<>", "not in", "not like", "not ilike"})
TRUE_LEAF, FALSE_LEAF = (1, "=", 1), (0, "=", 1)


class DomainError(ValueError):
    """The domain text is not a valid Odoo domain."""


class Unsupported(Exception):
    """The domain needs Odoo to be evaluated (dotted path, child_of, name of a relation…)."""


def parse(text: str | Sequence[Any] | None) -> list[Any]:
    """The domain as a list; accepts Odoo's text notation (``"[('a', '=', 1)]"``) or a list."""
    if text is None or text == "":
        return []
    if isinstance(text, str):
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError) as exc:
            raise DomainError(f"not a domain: {text!r} ({exc})") from None
    else:
        value = text
    if not isinstance(value, (list, tuple)):
        raise DomainError(f"a domain is a list, got {type(value).__name__}: {text!r}")
    items = [tuple(item) if isinstance(item, list) else item for item in value]
    for item in items:
        if isinstance(item, str):
            if item not in ("&", "|", "!"):
                raise DomainError(f"unknown domain operator {item!r}")
        elif not (isinstance(item, tuple) and len(item) == 3):
            raise DomainError(f"a domain term is (field, operator, value), got {item!r}")
    return items


def leaves(domain: Sequence[Any]) -> Iterator[tuple[Any, str, Any]]:
    """The (field, operator, value) terms of ``domain``."""
    for item in domain:
        if isinstance(item, tuple):
            yield item


def fields_of(domain: Sequence[Any]) -> set[str]:
    """Fields of the record a domain reads (the first part of a dotted path)."""
    return {str(leaf[0]).split(".", 1)[0] for leaf in leaves(domain)
            if isinstance(leaf[0], str)}


def is_local(domain: Sequence[Any]) -> bool:
    """Whether :func:`matches` can decide ``domain`` from the record's own values alone.

    Values can still make a local domain unsupported (a name compared with a many2one); this
    only rules out what the domain's shape alone excludes.
    """
    for field, op, _value in leaves(domain):
        if (field, op, _value) in (TRUE_LEAF, FALSE_LEAF):
            continue
        if not isinstance(field, str) or "." in field or op not in OPERATORS:
            return False
    return True


def matches(domain: Sequence[Any], values: Mapping[str, Any]) -> bool:
    """Whether the record with ``values`` satisfies ``domain`` (Polish notation, implicit AND)."""
    if not domain:
        return True
    stack: list[bool] = []
    for item in reversed(list(domain)):
        if item == "!":
            stack.append(not stack.pop())
        elif item in ("&", "|"):
            first, second = stack.pop(), stack.pop()
            stack.append(first and second if item == "&" else first or second)
        else:
            stack.append(_leaf(item, values))
    result = stack.pop()
    while stack:  # terms without an operator between them are ANDed
        result = stack.pop() and result
    return result


def _empty(value: Any) -> bool:
    return value is False or value is None or value == "" or value == []


def _plain(value: Any) -> Any:
    """A many2one read as ``[id, name]`` compares as its id."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], int) \
            and isinstance(value[1], str):
        return value[0]
    return value


def _leaf(leaf: tuple[Any, str, Any], values: Mapping[str, Any]) -> bool:
    if leaf == TRUE_LEAF:
        return True
    if leaf == FALSE_LEAF:
        return False
    field, op, expected = leaf
    if not isinstance(field, str) or "." in field or op in REMOTE_ONLY or op not in OPERATORS:
        raise Unsupported(f"{leaf!r} needs Odoo")
    if field not in values:
        raise Unsupported(f"field {field!r} is not among the known values")
    raw = values[field]
    if op in NEGATIVE:
        return not _leaf((field, {"!=": "=", "<>": "=", "not in": "in", "not like": "like",
                                  "not ilike": "ilike"}[op], expected), values)
    many = isinstance(raw, list) and not (len(raw) == 2 and isinstance(raw[1], str))
    current = raw if many else _plain(raw)
    if isinstance(raw, list) and len(raw) == 2 and isinstance(raw[1], str) \
            and isinstance(expected, str) and op not in ("=like", "=ilike", "like", "ilike"):
        raise Unsupported(f"{leaf!r} compares a relation with a name")
    if op == "=":
        if expected is False or expected is None:
            return _empty(current)
        if many:
            return expected in current
        return not _empty(current) and current == expected
    if op == "in":
        wanted = list(expected) if isinstance(expected, (list, tuple)) else [expected]
        if many:
            return bool(set(current) & set(wanted)) or (not current and False in wanted)
        if _empty(current):
            return False in wanted or None in wanted
        return current in wanted
    if op in ("like", "ilike", "=like", "=ilike"):
        if many or isinstance(raw, list) and len(raw) == 2:
            raise Unsupported(f"{leaf!r} matches names of related records")
        if _empty(current):
            return False
        return _like(str(expected), str(current), op)
    # <, >, <=, >=: an empty value is SQL NULL, which compares false.
    if _empty(current) or expected is False or expected is None:
        return False
    try:
        return bool({"<": current < expected, ">": current > expected,
                     "<=": current <= expected, ">=": current >= expected}[op])
    except TypeError:
        raise Unsupported(f"{leaf!r}: cannot compare {current!r} with {expected!r}") from None


def _like(pattern: str, value: str, op: str) -> bool:
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    if op in ("like", "ilike"):
        regex = f".*{regex}.*"
    flags = re.IGNORECASE if op in ("ilike", "=ilike") else 0
    return re.fullmatch(regex, value, flags | re.DOTALL) is not None
