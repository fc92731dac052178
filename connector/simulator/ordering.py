"""``order`` specifications (``"date desc, name asc"``) translated to SQLite ORDER BY.

PostgreSQL puts NULLs last when ascending and first when descending, and the recorded
server compares text byte by byte (C collation); SQLite's BINARY collation already compares
UTF-8 bytes, so only the NULL placement needs spelling out.
"""

from __future__ import annotations

import re

from .database import View, quote
from .models import Model

_ORDER_RE = re.compile(
    r"^(\s*([a-z0-9:_]+|\"[a-z0-9:_]+\")(\.id)?(\s+(desc|asc))?(\s+(nulls\s+(first|last)))?"
    r"\s*(,|$))+(?<!,)$", re.IGNORECASE)
_TERM_RE = re.compile(
    r"^\s*\"?([a-z0-9:_]+)\"?(\.id)?(?:\s+(desc|asc))?(?:\s+nulls\s+(first|last))?\s*$",
    re.IGNORECASE)


def _invalid(order: str) -> ValueError:
    return ValueError(
        f'Invalid "order" specified ({order}). A valid "order" specification is a '
        "comma-separated list of valid field names (optionally followed by asc/desc for "
        "the direction)")


def order_by(view: View, model: Model, order: str | None, alias: str = "t",
             _depth: int = 0) -> str:
    """The ORDER BY expression list for ``order`` (the model's default when empty)."""
    spec = order or model.order
    if not _ORDER_RE.match(spec):
        raise _invalid(spec)
    terms = []
    seen_id = False
    for part in spec.split(","):
        match = _TERM_RE.match(part)
        if not match:
            raise _invalid(spec)
        name, _dot_id, direction, nulls = match.groups()
        desc = (direction or "asc").lower() == "desc"
        fld = model.fields.get(name)
        if fld is None:
            raise ValueError(f"Invalid field {name!r} on model {model.name!r}")
        nulls_sql = f" NULLS {nulls.upper()}" if nulls else (
            " NULLS FIRST" if desc else " NULLS LAST")
        direction_sql = " DESC" if desc else " ASC"
        if name == "id":
            seen_id = True
        for expr in _expressions(view, model, fld, alias, _depth):
            terms.append(f"{expr}{direction_sql}{nulls_sql}")
    if not seen_id:
        terms.append(f"{alias}.id ASC")  # a deterministic tie-break
    return ", ".join(terms)


def _expressions(view: View, model: Model, fld, alias: str, depth: int) -> list[str]:
    registry = view.registry
    if fld.name == "id":
        return [f"{alias}.id"]
    if fld.delegate and model.delegate:
        parent = registry[model.delegate[1]]
        pfield = parent.fields[fld.name]
        if not pfield.column:
            return []
        return [f"(SELECT p.{quote(pfield.column)} FROM {view.src(parent)} AS p "
                f"WHERE p.id = {alias}.{quote(fld.delegate)})"]
    if not fld.column:
        return []  # Odoo ignores non-stored fields in an order (with a warning)
    column = f"{alias}.{quote(fld.column)}"
    if fld.type == "boolean":
        return [f"COALESCE({column}, 0)"]
    comodel = registry.models.get(fld.relation) if fld.type == "many2one" else None
    if comodel is not None and depth < 1:
        # Odoo orders a many2one by the comodel's own _order.
        first = comodel.order.split(",")[0].split()[0]
        cfield = comodel.fields.get(first)
        if cfield is not None and cfield.column:
            return [f"(SELECT c.{quote(cfield.column)} FROM {view.src(comodel)} AS c "
                    f"WHERE c.id = {column})"]
    return [column]
