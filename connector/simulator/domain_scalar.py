"""Leaves on stored scalar columns, with Odoo 17's NULL semantics on PostgreSQL.

``!=``, ``not in`` and ``not like`` also match NULL; ``= False`` matches NULL (and false for
booleans); ``ilike`` folds case with Python's ``str.lower`` (PostgreSQL folds "È" too, which
SQLite's ASCII-only lower() would not) and keeps ``_``/``%`` as wildcards.
"""

from __future__ import annotations

from datetime import datetime

from .models import Field

TRUE_SQL, FALSE_SQL = "1=1", "0=1"


def to_datetime_value(value, operator: str = "="):
    """The stored form (microseconds kept) of a datetime given in a domain or a write."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if not isinstance(value, str):
        return value
    text = value.strip().replace("T", " ")
    if len(text) == 10:
        # A bare date: Odoo compares against the start or the end of that day.
        text += " 23:59:59" if operator in (">", "<=") else " 00:00:00"
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text, fmt).strftime("%Y-%m-%d %H:%M:%S.%f")
        except ValueError:
            continue
    return value


def _value(fld: Field, value, operator: str = "="):
    """A domain value in the form the column stores."""
    if value is None or (value is False and fld.type != "boolean"):
        return None
    if fld.type == "boolean":
        return 1 if value else 0
    if fld.type == "datetime":
        return to_datetime_value(value, operator)
    if fld.type == "date" and isinstance(value, str):
        return value[:10]  # PostgreSQL casts a datetime text to its date
    return value


def scalar_condition(fld: Field, column: str, operator: str, right, params: list) -> str:
    """SQL for a leaf on a stored scalar column (NULL semantics of PostgreSQL/Odoo)."""
    boolean = fld.type == "boolean"
    if operator in ("=", "!="):
        if right is False or right is None or (boolean and not right):
            if boolean:
                return (f"({column} IS NULL OR {column} = 0)" if operator == "="
                        else f"{column} = 1")
            return f"{column} IS NULL" if operator == "=" else f"{column} IS NOT NULL"
        if boolean:
            return f"{column} = 1" if operator == "=" else f"({column} IS NULL OR {column} = 0)"
        params.append(_value(fld, right))
        if operator == "=":
            return f"{column} = ?"
        return f"({column} != ? OR {column} IS NULL)"
    if operator in ("in", "not in"):
        values = right if isinstance(right, (list, tuple)) else [right]
        falsy = any(v is False or v is None for v in values)
        if boolean:
            truthy = any(bool(v) for v in values)
            falsy = falsy or any(v is not None and not v for v in values)
            conds = ([f"{column} = 1"] if truthy else []) + (
                [f"({column} IS NULL OR {column} = 0)"] if falsy else [])
            if operator == "in":
                return "(" + " OR ".join(conds) + ")" if conds else FALSE_SQL
            return f"(NOT ({' OR '.join(conds)}))" if conds else TRUE_SQL
        real = [_value(fld, v) for v in values if v is not False and v is not None]
        marks = ",".join("?" * len(real))
        params.extend(real)
        if operator == "in":
            conds = ([f"{column} IN ({marks})"] if real else []) + (
                [f"{column} IS NULL"] if falsy else [])
            return "(" + " OR ".join(conds) + ")" if conds else FALSE_SQL
        if not real:
            return f"{column} IS NOT NULL" if falsy else TRUE_SQL
        if falsy:
            return f"({column} NOT IN ({marks}) AND {column} IS NOT NULL)"
        return f"({column} NOT IN ({marks}) OR {column} IS NULL)"
    if operator in ("<", ">", "<=", ">="):
        if right is False or right is None:
            return FALSE_SQL
        params.append(_value(fld, right, operator))
        return f"{column} {operator} ?"
    if operator in ("like", "not like", "ilike", "not ilike", "=like", "=ilike"):
        text = "" if right is False or right is None else str(right)
        pattern = text if operator.startswith("=") else f"%{text}%"
        insensitive = "ilike" in operator
        if insensitive:
            pattern = pattern.lower()
        target = f"py_lower({column})" if insensitive else column
        params.append(pattern)
        cond = f"{target} LIKE ? ESCAPE '\\'"
        if operator.startswith("not"):
            return f"(NOT ({cond}) OR {column} IS NULL)"
        return cond
    if operator in ("child_of", "parent_of", "any", "not any"):
        raise ValueError(f"Invalid operator {operator!r} for field {fld.model}.{fld.name}")
    raise ValueError(f"Invalid leaf {(fld.name, operator, right)}")
