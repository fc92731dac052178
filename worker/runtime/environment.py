"""``env``: the project's Odoo as task code sees it, with the per-run value cache.

The cache makes task code written for the ORM cheap over RPC: reading a field on a record reads
it for the record's whole prefetch group at once, asking only for the fields used so far on the
model; ``fields_get`` is called once per model. Internals live in ``_``-prefixed slots, which the
sandbox's getattr refuses.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from connector.odoo import errors as odoo_errors
from worker.runtime.exceptions import MissingError
from worker.runtime.recordset import RecordSet
from worker.runtime.rpc import (
    DATETIME_FORMAT,
    FIELD_ATTRIBUTES,
    PREFETCH_MAX,
    RELATIONAL,
    Prefetch,
    rpc_error,
)

__all__ = ["Environment"]

# What Odoo's Environment has and RPC cannot give, each with what to write instead.
_ORM_ONLY = {
    "cr": "env.cr (the database cursor) does not exist over RPC: every call commits on its "
          "own; use env['model'] methods (search, read, write …)",
    "registry": "env.registry does not exist over RPC; use env['model'].fields_get()",
    "su": "env.su does not exist over RPC: calls run as the project's Odoo user",
    "invalidate_all": "use records.invalidate_recordset() (drops what this run has read)",
    "flush_all": "writes go to Odoo at once over RPC; there is nothing to flush",
    "clear": "use records.invalidate_recordset() (drops what this run has read)",
}


class Environment:
    """``env``: the project's Odoo as task code sees it.

    ``env['res.partner']`` is an empty recordset of the model; ``env.user``, ``env.uid``,
    ``env.context``, ``env.ref(xml_id)`` and ``env.with_context(...)`` work as in Odoo.
    """

    __slots__ = ("_cache", "_client", "_context", "_fields", "_gen", "_links", "_missing",
                 "_uid", "_wanted")

    # Declared for type checkers only (no values, so no clash with __slots__); set in
    # __init__ through object.__setattr__ because __setattr__ refuses writes.
    _cache: dict[str, dict[int, dict[str, Any]]]
    _client: Any
    _context: dict[str, Any]
    _fields: dict[str, Any]
    _gen: dict[Any, int]
    _links: Any
    _missing: dict[str, set[int]]
    _uid: int | None
    _wanted: dict[str, dict[str, None]]

    def __init__(self, client: Any, context: Mapping[str, Any] | None = None, *,
                 uid: int | None = None, links: Any = None, fields: dict[str, Any] | None = None
                 ) -> None:
        setup = object.__setattr__
        setup(self, "_client", client)
        setup(self, "_context", dict(context or {}))
        setup(self, "_uid", uid)
        setup(self, "_links", links)
        # Field metadata does not depend on the context: environments made by with_context()
        # share it, values (which may be translated) are cached per environment.
        setup(self, "_fields", {} if fields is None else fields)
        setup(self, "_cache", {})    # model -> id -> field -> raw RPC value
        setup(self, "_missing", {})  # model -> ids Odoo no longer has
        setup(self, "_wanted", {})   # model -> fields read so far (ordered)
        setup(self, "_gen", {})      # (model, field) / model -> generation, for memo checks

    # -- public API ---------------------------------------------------------------------------

    def __getitem__(self, model: str) -> RecordSet:
        if not isinstance(model, str) or not model or model.startswith("_"):
            raise KeyError(f"not a model name: {model!r}")
        return RecordSet(self, model, (), model_level=True)

    @property
    def uid(self) -> int:
        """The id of the Odoo user the project connects as."""
        uid = self._uid
        if uid is None:
            uid = int(self._call(lambda: self._client.uid))
            object.__setattr__(self, "_uid", uid)
        return uid

    @property
    def user(self) -> RecordSet:
        """The Odoo user the project connects as (a ``res.users`` record)."""
        return RecordSet(self, "res.users", (self.uid,))

    @property
    def company(self) -> RecordSet:
        """The current company of the project's Odoo user (``env.user.company_id``)."""
        return self.user.company_id

    @property
    def companies(self) -> RecordSet:
        """The companies the project's Odoo user may access (``env.user.company_ids``)."""
        return self.user.company_ids

    @property
    def context(self) -> dict[str, Any]:
        """A copy of the context sent with every call."""
        return dict(self._context)

    @property
    def lang(self) -> str | None:
        """The language of the context, if any."""
        return self._context.get("lang")

    def with_context(self, *args: Mapping[str, Any], **kwargs: Any) -> Environment:
        """A new environment whose context is updated with ``args``/``kwargs``."""
        context = dict(args[0]) if args else dict(self._context)
        context.update(kwargs)
        return Environment(self._client, context, uid=self._uid, links=self._links,
                           fields=self._fields)

    def ref(self, xml_id: str, raise_if_not_found: bool = True) -> RecordSet | None:
        """The record of an external id such as ``base.main_company`` (one RPC)."""
        module, sep, name = str(xml_id).partition(".")
        if not sep:
            raise ValueError(f"external id {xml_id!r} must look like module.name")
        rows = self._call(self._client.search_read, "ir.model.data",
                          [("module", "=", module), ("name", "=", name)], ["model", "res_id"],
                          limit=1)
        if not rows:
            if raise_if_not_found:
                raise ValueError(f"external id not found: {xml_id}")
            return None
        return RecordSet(self, rows[0]["model"], (rows[0]["res_id"],))

    def __getattr__(self, name: str) -> Any:
        if name in _ORM_ONLY:
            raise AttributeError(f"{_ORM_ONLY[name]}")
        raise AttributeError(f"env has no attribute {name!r}; env['model.name'] gives the "
                             "records of a model")

    def __contains__(self, model: Any) -> bool:
        """``'res.partner' in env``: whether the project's Odoo has the model."""
        if not isinstance(model, str) or not model or model.startswith("_"):
            return False
        return bool(self._call(self._client.search_count, "ir.model", [("model", "=", model)]))

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError("env is read-only")

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Pickling would copy the client (and its password) out of the sandbox process.
        raise TypeError("env cannot be pickled")

    def __repr__(self) -> str:
        return f"<Environment uid={self._uid} context={self._context!r}>"

    # -- internals (names start with _ so user code cannot reach them) -----------------------

    def _call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except odoo_errors.OdooError as exc:
            raise rpc_error(exc) from None

    def _base_url(self) -> str:
        """The address of the project's Odoo, as links to it are written (no default port)."""
        url = str(getattr(self._client, "url", "") or "").rstrip("/")
        for scheme, port in (("http://", ":80"), ("https://", ":443")):
            if url.startswith(scheme):
                host, sep, path = url[len(scheme):].partition("/")
                if host.endswith(port):
                    host = host[:-len(port)]
                url = scheme + host + (sep + path if path else "")
        return url

    def _ctx_kwargs(self) -> dict[str, Any]:
        return {"context": dict(self._context)} if self._context else {}

    def _fields_of(self, model: str) -> dict[str, Any]:
        fields = self._fields.get(model)
        if fields is None:
            fields = self._call(self._client.fields_get, model, attributes=FIELD_ATTRIBUTES)
            self._fields[model] = fields
        return fields

    def _field(self, model: str, name: str) -> dict[str, Any] | None:
        if name == "id":
            return {"type": "integer"}
        return self._fields_of(model).get(name)

    def _bump(self, *keys: Any) -> None:
        for key in keys:
            self._gen[key] = self._gen.get(key, 0) + 1

    def _stamp(self, model: str, field: str) -> tuple[int, int]:
        return self._gen.get(model, 0), self._gen.get((model, field), 0)

    def _store(self, model: str, rows: Iterable[Mapping[str, Any]]) -> set[int]:
        cache = self._cache.setdefault(model, {})
        seen: set[int] = set()
        fields: set[str] = set()
        for row in rows:
            rid = row["id"]
            seen.add(rid)
            values = {k: v for k, v in row.items() if k != "id"}
            fields.update(values)
            cache.setdefault(rid, {}).update(values)
        self._bump(*((model, f) for f in fields))
        return seen

    def _fetch(self, model: str, field: str, prefetch: Prefetch, rid: int) -> None:
        """Read ``field`` (and the other fields used on ``model``) for the prefetch group."""
        wanted = self._wanted.setdefault(model, {})
        wanted[field] = None
        cache = self._cache.setdefault(model, {})
        missing = self._missing.setdefault(model, set())
        todo = [i for i in prefetch.ids if i not in missing and field not in cache.get(i, ())]
        if rid not in todo:
            todo.insert(0, rid)
        if len(todo) > PREFETCH_MAX:
            start = todo.index(rid)
            todo = todo[start:start + PREFETCH_MAX]
        # The other fields used so far on this model come along when some of these records
        # lack them (records reached later, e.g. through a relation); cached ones do not.
        fields = [f for f in wanted
                  if f == field or any(f not in cache.get(i, ()) for i in todo)]
        rows = self._call(self._client.read, model, todo, fields, **self._ctx_kwargs())
        seen = self._store(model, rows)
        # Odoo's read leaves deleted ids out of the answer.
        missing.update(i for i in todo if i not in seen)

    def _raw(self, model: str, rid: int, field: str, prefetch: Prefetch) -> Any:
        values = self._cache.get(model, {}).get(rid)
        if values is None or field not in values:
            if rid in self._missing.get(model, ()):
                if values:  # a deleted record handed to handle_db with its last known values
                    raise MissingError(
                        f"{model}({rid},) was deleted; its last known values are "
                        f"{', '.join(sorted(values))} (list {field!r} in the trigger's "
                        "watched_fields to keep it)")
                raise MissingError(f"Record does not exist or has been deleted: "
                                   f"{model}({rid},)")
            self._fetch(model, field, prefetch, rid)
            values = self._cache.get(model, {}).get(rid)
            if values is None or field not in values:
                raise MissingError(f"Record does not exist or has been deleted: "
                                   f"{model}({rid},)")
        return values[field]

    def _related_prefetch(self, model: str, field: str, prefetch: Prefetch,
                          meta: Mapping[str, Any]) -> Prefetch:
        stamp = self._stamp(model, field)
        memo = prefetch.related.get(field)
        if memo is not None and memo[0] == stamp:
            return memo[1]
        cache = self._cache.get(model, {})
        ids: list[int] = []
        for rid in prefetch.ids:
            raw = cache.get(rid, {}).get(field)
            if not raw:
                continue
            if meta["type"] == "many2one":
                ids.append(raw[0] if isinstance(raw, (list, tuple)) else raw)
            else:
                ids.extend(raw)
        group = Prefetch(ids)
        prefetch.related[field] = (stamp, group)
        return group

    def _convert(self, model: str, field: str, raw: Any, prefetch: Prefetch) -> Any:
        meta = self._field(model, field) or {}
        ftype = meta.get("type")
        if ftype in RELATIONAL:
            comodel = meta["relation"]
            if not raw:
                return RecordSet(self, comodel, ())
            group = self._related_prefetch(model, field, prefetch, meta)
            if ftype == "many2one":
                if isinstance(raw, (list, tuple)):
                    rid = raw[0]
                    if len(raw) > 1:  # [id, display_name]: free display names
                        self._cache.setdefault(comodel, {}).setdefault(rid, {}).setdefault(
                            "display_name", raw[1])
                else:
                    rid = raw
                return RecordSet(self, comodel, (rid,), group)
            return RecordSet(self, comodel, tuple(raw), group)
        if ftype == "datetime" and isinstance(raw, str):
            return datetime.datetime.strptime(raw[:19], DATETIME_FORMAT)
        if ftype == "date" and isinstance(raw, str):
            return datetime.date.fromisoformat(raw[:10])
        if ftype == "binary" and isinstance(raw, str):
            # Odoo's ORM gives binary fields as base64 bytes; RPC sends the same as text.
            return raw.encode("ascii")
        return raw

    def _invalidate(self, model: str, ids: Iterable[int] | None = None) -> None:
        cache = self._cache.get(model)
        if cache:
            if ids is None:
                cache.clear()
            else:
                for rid in ids:
                    cache.pop(rid, None)
        self._bump(model)

    def _invalidate_relations(self, model: str, vals: Mapping[str, Any]) -> None:
        # Writing a relation changes the inverse side (parent.child_ids after child.parent_id).
        for name in vals:
            meta = self._field(model, name) or {}
            if meta.get("type") in RELATIONAL:
                self._invalidate(meta["relation"])

    def _drop_relations(self) -> None:
        # After an unlink, any cached relation may point at the deleted records.
        for model, cache in self._cache.items():
            fields = self._fields.get(model, {})
            for values in cache.values():
                for name in [n for n in values if fields.get(n, {}).get("type") in RELATIONAL]:
                    del values[name]
            self._bump(model)

    def _clear(self) -> None:
        for model in list(self._cache):
            self._invalidate(model)
        self._missing.clear()
