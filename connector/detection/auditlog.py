"""Old values and deletions from OCA ``auditlog`` rows, as an external client reads them.

When the auditlog module is installed and a rule is *subscribed* for a model, every write and
unlink leaves an ``auditlog.log`` row (``method``, ``res_id``) with ``auditlog.log.line`` rows
holding the field's ``old_value``/``new_value`` as text (a many2one as ``"(5, 'Name')"``, empty
as ``False``). This module turns those rows back into read-format values; no I/O here.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

TEXT_TYPES = frozenset({"char", "text", "html", "selection", "date", "datetime", "binary"})


def convert(value: Any, ftype: str | None) -> Any:
    """A text value of an auditlog line as ``read`` would return it for a field of ``ftype``."""
    if value is False or value is None:
        return False
    if ftype in TEXT_TYPES or not isinstance(value, str):
        return value
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    if ftype == "many2one" and isinstance(parsed, tuple):
        return list(parsed)
    if isinstance(parsed, tuple):
        return list(parsed)
    return parsed


def subscribed(rule: Mapping[str, Any] | None, method: str) -> bool:
    """Whether the model's auditlog rule logs ``method`` (write/unlink) with the values needed."""
    if not rule:
        return False
    if method == "unlink":
        return bool(rule.get("log_unlink"))
    return bool(rule.get("log_write"))


def captures(rule: Mapping[str, Any] | None) -> bool:
    """Whether the rule's unlink logs carry the deleted record's values (``capture_record``)."""
    return subscribed(rule, "unlink") and bool(rule and rule.get("capture_record"))


def old_values(current: Mapping[str, Any], lines: Iterable[Mapping[str, Any]],
               types: Mapping[str, str]) -> dict[str, Any]:
    """The values before the first logged write: ``current`` with each field's earliest old value.

    ``lines`` are the lines of the record's write logs since it was last seen; a field without
    a line was not written, so its current value is also its old one.
    """
    old = dict(current)
    seen: set[str] = set()
    for line in sorted(lines, key=lambda ln: (_log_id(ln), int(ln.get("id") or 0))):
        name = line.get("field_name")
        if not name or name in seen or name not in old:
            continue
        seen.add(name)
        old[name] = convert(line.get("old_value"), types.get(name))
    return old


def last_values(lines: Iterable[Mapping[str, Any]], types: Mapping[str, str],
                fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The values a deleted record had, from the lines of its unlink log."""
    wanted = set(fields) if fields is not None else None
    values: dict[str, Any] = {}
    for line in lines:
        name = line.get("field_name")
        if name and (wanted is None or name in wanted):
            values[name] = convert(line.get("old_value"), types.get(name))
    return values


def lines_by_log(lines: Iterable[Mapping[str, Any]]) -> dict[int, list[Mapping[str, Any]]]:
    """Lines grouped by the id of their log."""
    grouped: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for line in lines:
        grouped[_log_id(line)].append(line)
    return grouped


def _log_id(line: Mapping[str, Any]) -> int:
    log = line.get("log_id")
    if isinstance(log, (list, tuple)):
        return int(log[0])
    return int(log or 0)
