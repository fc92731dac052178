"""The RPC calls of change detection, each reading only the fields it needs, in pages.

Pages are keyed on ``id`` (``id > last`` ordered by id), not on offsets: a record rewritten
between two pages keeps its id, so no other record shifts out of the page it belonged to. A record
rewritten behind the key is still in the look-back window and is seen by a later scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from connector.detection.rules import LOG_FIELDS
from connector.odoo import OdooClient
from connector.odoo.errors import OdooRemoteError

# Archived records change and get deleted too; detection must see them.
ALL_RECORDS = {"active_test": False}


def pages(client: OdooClient, model: str, domain: Sequence[Any], fields: Sequence[str],
          page: int) -> Iterator[list[dict[str, Any]]]:
    """Pages of ``search_read`` results in id order; a short page ends the scan."""
    last = 0
    while True:
        key = [("id", ">", last)] if last else []
        rows = client.search_read(model, [*domain, *key], list(fields), limit=page, order="id asc",
                                  context=ALL_RECORDS)
        if rows:
            yield rows
            last = int(rows[-1]["id"])
        if len(rows) < page:
            return


def newest_write(client: OdooClient, model: str) -> str | None:
    """The newest ``write_date`` of the model (None when it has no records)."""
    rows = client.search_read(model, [], ["write_date"], limit=1, order="write_date desc, id desc",
                              context=ALL_RECORDS)
    return rows[0]["write_date"] if rows else None


def all_ids(client: OdooClient, model: str) -> set[int]:
    """Every id of the model, archived ones included."""
    return set(client.search(model, [], context=ALL_RECORDS))


def matching(client: OdooClient, model: str, ids: Sequence[int], domain: Sequence[Any],
             page: int) -> set[int]:
    """The ids among ``ids`` that Odoo says match ``domain``."""
    found: set[int] = set()
    for start in range(0, len(ids), page):
        chunk = list(ids[start:start + page])
        found.update(client.search(model, [("id", "in", chunk), *domain], context=ALL_RECORDS))
    return found


# Left out of broad fingerprints: big, or not comparable from a read.
BULKY_TYPES = frozenset({"binary", "one2many", "many2many", "html", "text", "properties",
                         "properties_definition", "json"})


def describe(client: OdooClient, model: str) -> tuple[dict[str, str], list[str]]:
    """(field name → type, stored scalar fields for a broad fingerprint) of the model."""
    info = client.fields_get(model, ["type", "store"])
    types = {name: spec.get("type", "") for name, spec in info.items()}
    broad = sorted(name for name, spec in info.items()
                   if spec.get("store") and spec.get("type") not in BULKY_TYPES
                   and name not in ("id", *LOG_FIELDS, "__last_update"))
    return types, broad


def auditlog_rule(client: OdooClient, model: str) -> dict[str, Any] | None:
    """The subscribed auditlog rule of ``model``, or None (also when auditlog is not installed)."""
    try:
        rows = client.search_read("auditlog.rule", [("model_id.model", "=", model),
                                                    ("state", "=", "subscribed")],
                                  ["log_type", "log_write", "log_unlink", "capture_record"],
                                  limit=1)
    except OdooRemoteError:
        return None  # no such model: the module is not installed, or the user may not read it
    return dict(rows[0]) if rows else None


def auditlog_logs(client: OdooClient, model: str, method: str, since: str,
                  ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """auditlog.log rows of ``model`` for ``method`` since ``since`` (optionally for ``ids``)."""
    domain: list[Any] = [("model_id.model", "=", model), ("method", "=", method),
                         ("create_date", ">=", since)]
    if ids is not None:
        domain.append(("res_id", "in", list(ids)))
    return client.search_read("auditlog.log", domain, ["res_id", "create_date"], order="id asc")


def auditlog_unlinks(client: OdooClient, model: str, after_id: int,
                     since: str | None = None) -> list[dict[str, Any]]:
    """Unlink logs of ``model`` with an id above ``after_id`` (created since ``since`` if given)."""
    domain: list[Any] = [("model_id.model", "=", model), ("method", "=", "unlink"),
                         ("id", ">", after_id)]
    if since is not None:
        domain.append(("create_date", ">=", since))
    return client.search_read("auditlog.log", domain, ["res_id", "create_date"], order="id asc")


def newest_log_id(client: OdooClient, model: str, method: str) -> int:
    """The id of the newest ``method`` log of ``model`` (0 when there is none)."""
    rows = client.search_read("auditlog.log", [("model_id.model", "=", model),
                                               ("method", "=", method)],
                              ["id"], order="id desc", limit=1)
    return int(rows[0]["id"]) if rows else 0


def auditlog_lines(client: OdooClient, log_ids: Sequence[int],
                   fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Lines of the given logs (only the named fields' lines when ``fields`` is given)."""
    if not log_ids:
        return []
    domain: list[Any] = [("log_id", "in", list(log_ids))]
    if fields is not None:
        domain.append(("field_name", "in", list(fields)))
    return client.search_read("auditlog.log.line", domain,
                              ["log_id", "field_name", "old_value", "new_value"], order="id asc")
