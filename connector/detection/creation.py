"""Pure creation detection: rows read from Odoo and a cursor in, new record ids out.

Odoo returns ``create_date`` as whole-second strings while it stores microseconds, so the query
uses ``>=`` on the cursor's second and the cursor remembers which ids it already delivered at that
second: same-second records are neither lost nor delivered twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class CreationCursor:
    """The newest ``create_date`` delivered and the ids delivered at that very second."""

    last: str | None = None
    seen: frozenset[int] = frozenset()

    def to_state(self) -> dict[str, Any]:
        """A JSON-able form for the own database."""
        return {"last": self.last, "seen": sorted(self.seen)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> CreationCursor:
        """The cursor saved by :meth:`to_state` (an empty cursor for None)."""
        if not state:
            return cls()
        return cls(last=state.get("last"), seen=frozenset(state.get("seen") or ()))


def domain_since(cursor: CreationCursor) -> list[Any]:
    """The search domain that finds every record not yet delivered (and a few already seen)."""
    return [("create_date", ">=", cursor.last)] if cursor.last else []


def new_records(rows: Iterable[Mapping[str, Any]],
                cursor: CreationCursor) -> tuple[list[int], CreationCursor]:
    """Split ``rows`` (``id``, ``create_date``) into new ids and the advanced cursor.

    Rows may come in any order; the ids come back sorted.
    """
    new: list[int] = []
    last, seen = cursor.last, set(cursor.seen)
    for row in sorted(rows, key=lambda r: (r["create_date"] or "", r["id"])):
        created = row["create_date"] or ""
        rid = int(row["id"])
        if last is not None and created < last:
            continue
        if created == last and rid in seen:
            continue
        new.append(rid)
        if last is None or created > last:
            last, seen = created, {rid}
        else:
            seen.add(rid)
    return sorted(new), CreationCursor(last=last, seen=frozenset(seen))


def batches(ids: list[int], size: int) -> list[list[int]]:
    """``ids`` in order, cut into lists of at most ``size``."""
    return [ids[i:i + size] for i in range(0, len(ids), size)]
