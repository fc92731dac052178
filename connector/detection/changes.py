"""Pure change detection: rows read from Odoo and the last known states in, changes and events out.

Odoo stamps ``write_date`` with the *transaction start* and RPC returns it in whole seconds, so a
row's ``write_date`` alone cannot say whether this version was already delivered. The last known
state of each record (kept in the own database as a snapshot) holds the ``write_date`` and a
fingerprint of the fields the triggers read: a row is a change when either differs. That makes
re-reading a look-back window harmless (same version → no change) while a second write in the same
second, or a late commit with an old ``write_date``, still shows up (new fingerprint or newer
``write_date`` than known).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connector.detection import rules as rl


@dataclasses.dataclass(frozen=True)
class Known:
    """The last delivered version of a record: its write_date, fingerprint and field values."""

    write_date: str | None
    fingerprint: str | None
    values: Mapping[str, Any]
    key: int | None = None  # primary key of the snapshot row, for bulk updates


@dataclasses.dataclass(frozen=True)
class Change:
    """One new version of one record: created or updated, with old values when known."""

    id: int
    created: bool
    old: Mapping[str, Any] | None
    new: Mapping[str, Any]
    write_date: str | None
    fingerprint: str


def fingerprint(values: Mapping[str, Any]) -> str:
    """A stable digest of field values (JSON with sorted keys, SHA-256)."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def values_of(row: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """The tracked values of a row read from Odoo (missing fields as False, like Odoo)."""
    return {name: row.get(name, False) for name in fields}


def classify(rows: Iterable[Mapping[str, Any]], known: Mapping[int, Known],
             fields: Sequence[str], horizon: str | None,
             extra: Sequence[str] = ()) -> list[Change]:
    """The rows that are new versions, in id order.

    ``horizon``: a record never seen before is a creation when its ``create_date`` is at or after
    it (records older than the horizon existed before the trigger and are updates). ``extra``
    fields count in the fingerprint without being kept as values: a trigger that fires on any
    write needs a broad fingerprint to notice a second write in the same second.
    """
    changes: list[Change] = []
    for row in sorted(rows, key=lambda r: int(r["id"])):
        rid = int(row["id"])
        write_date = row.get("write_date") or None
        new = values_of(row, fields)
        digest = fingerprint({**values_of(row, extra), **new} if extra else new)
        state = known.get(rid)
        if state is not None:
            if state.write_date == write_date and state.fingerprint == digest:
                continue  # the version already delivered, seen again through the look-back
            if state.write_date and write_date and write_date < state.write_date:
                continue  # an older version than delivered cannot be new
            old = state.values if all(name in state.values for name in fields) else None
            changes.append(Change(rid, False, old, new, write_date, digest))
            continue
        created_at = row.get("create_date") or ""
        created = horizon is None or created_at >= horizon
        changes.append(Change(rid, created, None, new, write_date, digest))
    return changes


def events(rule_list: Iterable[rl.Rule], changes: Sequence[Change],
           remote: Mapping[int, set[int]] | None = None) -> dict[int, list[int]]:
    """For each rule id, the sorted ids of the records it fires for.

    ``remote`` holds, per rule whose apply-on domain Odoo must decide, the ids Odoo matched.
    """
    result: dict[int, list[int]] = {}
    for rule in rule_list:
        if rule.condition not in rl.CHANGE_CONDITIONS:
            continue
        matched = (remote or {}).get(rule.id)
        ids = [change.id for change in changes
               if rl.fires(rule, change.created, change.old, change.new,
                           None if matched is None else change.id in matched)]
        if ids:
            result[rule.id] = sorted(ids)
    return result


def candidates(rule: rl.Rule, changes: Sequence[Change]) -> list[int]:
    """Ids passing every test of ``rule`` but the apply-on domain (which Odoo checks)."""
    return sorted(change.id for change in changes
                  if rl.fires(rule, change.created, change.old, change.new, remote_match=True))


def batches(ids: Sequence[int], size: int) -> list[list[int]]:
    """``ids`` in order, cut into lists of at most ``size``."""
    return [list(ids[i:i + size]) for i in range(0, len(ids), size)]
