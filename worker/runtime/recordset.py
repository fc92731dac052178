"""Odoo recordsets over RPC: ``env['res.partner'].search(...)``, ``partner.name`` …

Task code expects the Odoo ORM; a :class:`RecordSet` gives it the look of it with RPC
underneath. Values come from the environment's cache (:mod:`worker.runtime.environment`), which
reads a field for the whole prefetch group at once; ``write``/``create``/``unlink`` and other
method calls invalidate what they may have changed.

The wrappers keep the environment in ``_``-prefixed slots, which the sandbox's getattr refuses,
and refuse attribute assignment and pickling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, cast

from worker.runtime.exceptions import UserError
from worker.runtime.guards import allow_name_attribute
from worker.runtime.record_extras import RecordExtras, base64_text, no_op
from worker.runtime.recordenv import ORM_ONLY, RecordEnvironment
from worker.runtime.rpc import RELATIONAL, X2MANY, Prefetch, plain, rpc_domain

__all__ = ["RecordEnvironment", "RecordSet"]

# ORM cache methods: over RPC they drop what this run has read, so the next read asks Odoo.
_INVALIDATE = frozenset({"invalidate_recordset", "invalidate_model", "invalidate_cache"})
_FLUSH = frozenset({"flush_recordset", "flush_model"})


@allow_name_attribute
class RecordSet(RecordExtras):
    """An ordered set of records of one model, read lazily over RPC."""

    __slots__ = ("_env", "_ids", "_model", "_model_level", "_prefetch")

    def __init__(self, env: RecordEnvironment, model: str, ids: Iterable[int],
                 prefetch: Prefetch | None = None, *, model_level: bool = False) -> None:
        ids = tuple(ids)
        setup = object.__setattr__
        setup(self, "_env", env)
        # ``env['model']`` itself: methods called on it are model methods (no ids sent), as
        # odoorpc calls them; every other recordset sends its ids, even when empty.
        setup(self, "_model_level", model_level)
        setup(self, "_model", model)
        setup(self, "_ids", ids)
        setup(self, "_prefetch", prefetch if prefetch is not None else Prefetch(ids))

    # -- identity -----------------------------------------------------------------------------

    @property
    def _name(self) -> str:
        # Odoo spells the model name ``_name``; the sandbox lets user code read this one.
        return self._model

    @property
    def env(self) -> RecordEnvironment:
        """The environment of the records."""
        return self._env

    @property
    def ids(self) -> list[int]:
        """The record ids, in order."""
        return list(self._ids)

    @property
    def id(self) -> int | bool:
        """The id of a single record (``False`` for an empty recordset)."""
        if not self._ids:
            return False
        self.ensure_one()
        return self._ids[0]

    def ensure_one(self) -> RecordSet:
        """Return the recordset if it holds exactly one record, else raise ``ValueError``."""
        if len(self._ids) != 1:
            raise ValueError(f"Expected singleton: {self!r}")
        return self

    def __repr__(self) -> str:
        inner = ", ".join(str(i) for i in self._ids)
        return f"{self._model}({inner}{',' if len(self._ids) == 1 else ''})"

    def __len__(self) -> int:
        return len(self._ids)

    def __bool__(self) -> bool:
        return bool(self._ids)

    def __iter__(self) -> Iterator[RecordSet]:
        for rid in self._ids:
            yield RecordSet(self._env, self._model, (rid,), self._prefetch)

    def __contains__(self, item: Any) -> bool:
        # As Odoo: a single record of the same model, or a field name.
        if isinstance(item, RecordSet):
            if item._model != self._model:
                raise TypeError(f"inconsistent models in: {item!r} in {self!r}")
            return len(item._ids) == 1 and item._ids[0] in self._ids
        if isinstance(item, str):
            return self._env._field(self._model, item) is not None
        raise TypeError(f"unsupported operand types in: {item!r} in {self!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordSet):
            return NotImplemented
        return self._model == other._model and set(self._ids) == set(other._ids)

    def __hash__(self) -> int:
        return hash((self._model, frozenset(self._ids)))

    def __lt__(self, other: RecordSet) -> bool:
        return set(self._ids) < set(self._same(other)._ids)

    def __le__(self, other: RecordSet) -> bool:
        return set(self._ids) <= set(self._same(other)._ids)

    def __gt__(self, other: RecordSet) -> bool:
        return set(self._ids) > set(self._same(other)._ids)

    def __ge__(self, other: RecordSet) -> bool:
        return set(self._ids) >= set(self._same(other)._ids)

    def _same(self, other: Any) -> RecordSet:
        if not isinstance(other, RecordSet) or other._model != self._model:
            raise TypeError(f"cannot combine {self._model} records with {other!r}")
        return other

    def _with_ids(self, ids: Iterable[int]) -> RecordSet:
        return RecordSet(self._env, self._model, ids, self._prefetch)

    def __or__(self, other: RecordSet) -> RecordSet:
        return self._with_ids(dict.fromkeys(self._ids + self._same(other)._ids))

    def __add__(self, other: RecordSet) -> RecordSet:
        return self._with_ids(self._ids + self._same(other)._ids)

    def __and__(self, other: RecordSet) -> RecordSet:
        keep = set(self._same(other)._ids)
        return self._with_ids(dict.fromkeys(i for i in self._ids if i in keep))

    def __sub__(self, other: RecordSet) -> RecordSet:
        drop = set(self._same(other)._ids)
        return self._with_ids(i for i in self._ids if i not in drop)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._value(key)
        if isinstance(key, slice):
            return self._with_ids(self._ids[key])
        return self._with_ids((self._ids[key],))

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"records are read-only; use records.write({{{name!r}: ...}})")

    def __delattr__(self, name: str) -> None:
        raise TypeError("records are read-only")

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(f"records cannot be pickled; use {self._model} ids (records.ids)")

    # -- fields -------------------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._env._field(self._model, name) is not None:
            return self._value(name)
        if name in ORM_ONLY:
            raise AttributeError(f"{self._model}.{name}() is not available over RPC: "
                                 f"{ORM_ONLY[name]}")
        if name in _INVALIDATE:
            return self._invalidate_method(name)
        if name in _FLUSH:
            return no_op(name)
        # Not a field: a model method called over RPC (``order.action_confirm()``), as odoorpc.
        return _Method(self, name)

    def _value(self, name: str) -> Any:
        if name == "id":
            return self.id
        meta = self._env._field(self._model, name)
        if meta is None:
            raise AttributeError(f"{self._model} has no field {name!r}")
        if not self._ids:
            # Odoo gives falsy values on empty recordsets; relations give empty recordsets.
            if meta.get("type") in RELATIONAL:
                return RecordSet(self._env, meta["relation"], ())
            return False
        self.ensure_one()
        raw = self._env._raw(self._model, self._ids[0], name, self._prefetch)
        return self._env._convert(self._model, name, raw, self._prefetch)

    @property
    def display_name(self) -> str | bool:
        """The record's display name (read with the other records, like any field)."""
        if not self._ids:
            return False
        self.ensure_one()
        return self._env._raw(self._model, self._ids[0], "display_name", self._prefetch)

    def name_get(self) -> list[tuple[int, str | bool]]:
        """``[(id, display_name), …]``, one ``read`` for the whole recordset."""
        return [(rec._ids[0], rec.display_name) for rec in self]

    def mapped(self, func: str | Callable[[RecordSet], Any]) -> Any:
        """Values of a field path (``'parent_id.name'``) or of ``func`` for every record.

        Relational results are merged into one recordset, others returned as a list.
        """
        if callable(func):
            values = [func(rec) for rec in self]
            if values and all(isinstance(v, RecordSet) for v in values):
                result = values[0]
                for value in values[1:]:
                    result = result | value
                return result
            return values
        if not isinstance(func, str):
            raise TypeError("mapped() takes a field name or a function")
        current: Any = self
        for name in func.split("."):
            meta = self._env._field(current._model, name)
            if meta is None:
                raise AttributeError(f"{current._model} has no field {name!r}")
            if meta.get("type") in RELATIONAL:
                ids: list[int] = []
                group = None
                for rec in current:
                    sub = rec._value(name)
                    ids.extend(sub._ids)
                    group = sub._prefetch
                current = RecordSet(self._env, meta["relation"], dict.fromkeys(ids), group)
            else:
                return [rec._value(name) for rec in current]
        return current

    def filtered(self, func: str | Callable[[RecordSet], Any]) -> RecordSet:
        """The records for which ``func(record)`` (or the field path's value) is true."""
        if isinstance(func, str):
            path = func
            return self._with_ids(rec._ids[0] for rec in self if any(_listify(rec.mapped(path))))
        return self._with_ids(rec._ids[0] for rec in self if func(rec))

    def filtered_domain(self, domain: Sequence[Any]) -> RecordSet:
        """The records matching ``domain``, in their order (one ``search``)."""
        if not self._ids:
            return self
        env = self._env
        found = set(env._call(env._client.search, self._model,
                              [("id", "in", list(self._ids)), *rpc_domain(domain)],
                              context={**env._context, "active_test": False}))
        return self._with_ids(dict.fromkeys(i for i in self._ids if i in found))

    def sorted(self, key: str | Callable[[RecordSet], Any] | None = None,
               reverse: bool = False) -> RecordSet:
        """The records sorted by ``key`` (a function or field name); the model order if None."""
        if key is None:
            if not self._ids:
                return self
            ids = self._env._call(self._env._client.search, self._model,
                                  [("id", "in", list(self._ids))],
                                  context={**self._env._context, "active_test": False})
            return self._with_ids(reversed(ids) if reverse else ids)
        if isinstance(key, str):
            field = key
            records = sorted(self, key=lambda r: _sort_key(r._value(field)), reverse=reverse)
        else:
            records = sorted(self, key=key, reverse=reverse)
        return self._with_ids(r._ids[0] for r in records)

    # -- model methods ------------------------------------------------------------------------

    def browse(self, ids: int | Iterable[int] | None = None) -> RecordSet:
        """Records of this model with the given ids (no RPC until a field is read)."""
        if ids is None or ids is False:
            ids = ()
        elif isinstance(ids, int) and not isinstance(ids, bool):
            ids = (ids,)
        elif isinstance(ids, RecordSet):
            ids = ids._ids
        # Anything else (True included) goes to tuple(), which raises TypeError as before.
        ids = tuple(cast("Iterable[int]", ids))
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise TypeError("browse() takes record ids (integers)")
        return RecordSet(self._env, self._model, ids)

    def search(self, domain: Sequence[Any] | None = None, offset: int = 0,
               limit: int | None = None, order: str | None = None) -> RecordSet:
        """The records matching ``domain`` (one ``search``)."""
        env = self._env
        ids = env._call(env._client.search, self._model, rpc_domain(domain), offset=offset,
                        limit=limit, order=order, **env._ctx_kwargs())
        return RecordSet(env, self._model, ids)

    def search_count(self, domain: Sequence[Any] | None = None,
                     limit: int | None = None) -> int:
        """How many records match ``domain`` (at most ``limit`` when given)."""
        env = self._env
        count = env._call(env._client.search_count, self._model, rpc_domain(domain),
                          **env._ctx_kwargs())
        return min(count, limit) if limit is not None else count

    def search_read(self, domain: Sequence[Any] | None = None,
                    fields: Sequence[str] | None = None, offset: int = 0,
                    limit: int | None = None, order: str | None = None) -> list[dict[str, Any]]:
        """Raw ``search_read`` (values as Odoo sends them); also fills the cache."""
        env = self._env
        rows = env._call(env._client.search_read, self._model, rpc_domain(domain),
                         list(fields or []), offset=offset, limit=limit, order=order,
                         **env._ctx_kwargs())
        env._store(self._model, rows)
        return rows

    def read(self, fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Raw ``read`` of ``fields`` (all fields if None: ask only for what you need)."""
        if not self._ids:
            return []
        env = self._env
        rows = env._call(env._client.read, self._model, list(self._ids), list(fields or []),
                         **env._ctx_kwargs())
        env._store(self._model, rows)
        return rows

    def exists(self) -> RecordSet:
        """The records that still exist (one ``search``, archived ones included)."""
        if not self._ids:
            return self
        env = self._env
        found = set(env._call(env._client.search, self._model, [("id", "in", list(self._ids))],
                              context={**env._context, "active_test": False}))
        env._missing.setdefault(self._model, set()).update(
            i for i in self._ids if i not in found)
        return self._with_ids(i for i in self._ids if i in found)

    def _vals(self, vals: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(vals, Mapping):
            raise TypeError("values must be a dict such as {'name': 'x'}")
        result: dict[str, Any] = {}
        for name, value in vals.items():
            meta = self._env._field(self._model, name) or {}
            ftype = meta.get("type")
            if ftype == "binary" and isinstance(value, (bytes, bytearray)):
                value = base64_text(self._model, name, bytes(value))
            if isinstance(value, RecordSet):
                if ftype == "many2one":
                    value = value._ids[0] if value._ids else False
                elif ftype in X2MANY:
                    value = [(6, 0, list(value._ids))]
                else:
                    value = list(value._ids)
            result[name] = plain(value)
        return result

    def create(self, vals: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> RecordSet:
        """Create one record (dict) or several (list of dicts) in one call."""
        env = self._env
        if isinstance(vals, Mapping):
            rows = [self._vals(vals)]
            result = env._call(env._client.create, self._model, rows[0], **env._ctx_kwargs())
            ids = [result]
        else:
            rows = [self._vals(v) for v in vals]
            if not rows:
                return RecordSet(env, self._model, ())
            result = env._call(env._client.create, self._model, rows, **env._ctx_kwargs())
            ids = list(result) if isinstance(result, (list, tuple)) else [result]
        for row in rows:
            env._invalidate_relations(self._model, row)
        return RecordSet(env, self._model, ids)

    def write(self, vals: Mapping[str, Any]) -> bool:
        """Write ``vals`` on all the records in one call."""
        if not self._ids:
            return True
        env = self._env
        rpc_vals = self._vals(vals)
        try:
            env._call(env._client.write, self._model, list(self._ids), rpc_vals,
                      **env._ctx_kwargs())
        finally:
            # Even a failed write may have changed something (computed fields, partial rules).
            env._invalidate(self._model, self._ids)
            env._invalidate_relations(self._model, rpc_vals)
        return True

    def unlink(self) -> bool:
        """Delete the records in one call."""
        if not self._ids:
            return True
        env = self._env
        try:
            env._call(env._client.unlink, self._model, list(self._ids), **env._ctx_kwargs())
            env._missing.setdefault(self._model, set()).update(self._ids)
        finally:
            env._invalidate(self._model, self._ids)
            env._drop_relations()
        return True

    def copy(self, default: Mapping[str, Any] | None = None) -> RecordSet:
        """Duplicate the record (``copy`` over RPC)."""
        self.ensure_one()
        env = self._env
        args: list[Any] = [list(self._ids)]
        if default:
            args.append(self._vals(default))
        new_id = env._call(env._client.execute_kw, self._model, "copy", args,
                           env._ctx_kwargs() or None)
        return RecordSet(env, self._model, [new_id[0] if isinstance(new_id, list) else new_id])

    def with_context(self, *args: Mapping[str, Any], **kwargs: Any) -> RecordSet:
        """The same records in an environment with an updated context."""
        return RecordSet(self._env.with_context(*args, **kwargs), self._model, self._ids,
                         model_level=self._model_level)

    def fields_get(self, allfields: Sequence[str] | None = None,
                   attributes: Sequence[str] | None = None) -> dict[str, Any]:
        """Field definitions of the model (one ``fields_get``)."""
        env = self._env
        fields = env._call(env._client.fields_get, self._model, attributes=attributes)
        if allfields:
            fields = {k: v for k, v in fields.items() if k in allfields}
        return fields

    # -- links (wired by the job layer; see runtime.context) ----------------------------------

    def _link_api(self, name: str) -> Callable[..., Any]:
        links = self._env._links or {}
        func = links.get(name)
        if func is None:
            raise UserError("links are not available in this run")
        return func

    def set_link(self, relation_name: str, external: Any, sync_date: Any = None,
                 allow_many2many: bool = False) -> Any:
        """Link this record to an external object under ``relation_name``."""
        self.ensure_one()
        return self._link_api("record_set_link")(self, relation_name, external,
                                                 sync_date=sync_date,
                                                 allow_many2many=allow_many2many)

    def search_links(self, relation_name: str) -> Any:
        """The links of these records under ``relation_name``."""
        return self._link_api("record_search_links")(self, relation_name)

    def make_ref(self, ref: Any = None, date_update: Any = None) -> Any:
        """Compatibility alias of :meth:`set_link` (seed name; relation ``ref``)."""
        return self.set_link("ref", ref if ref is not None else self.id, sync_date=date_update)


class _Method:
    """A model method called over RPC on a recordset: ``records.action_archive()``."""

    __slots__ = ("_method", "_records")

    # Declared for type checkers only; set through object.__setattr__ (__setattr__ refuses).
    _method: str
    _records: RecordSet

    def __init__(self, records: RecordSet, name: str) -> None:
        object.__setattr__(self, "_records", records)
        object.__setattr__(self, "_method", name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        records = self._records
        env = records._env
        if env._context and "context" not in kwargs:
            kwargs["context"] = dict(env._context)
        try:
            ids = [] if records._model_level else [list(records._ids)]
            return env._call(env._client.execute_kw, records._model, self._method,
                             [*ids, *(plain(a) for a in args)],
                             {k: plain(v) for k, v in kwargs.items()})
        finally:
            # We cannot know what an arbitrary method changed: forget everything read.
            env._clear()

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError("read-only")

    def __repr__(self) -> str:
        return f"<RPC method {self._records._model}.{self._method}>"


def _listify(value: Any) -> list[Any]:
    if isinstance(value, RecordSet):
        return [bool(value)]
    return value if isinstance(value, list) else [value]


def _sort_key(value: Any) -> tuple[int, Any]:
    # Empty values (False) first, like Odoo's ascending sort of NULLs is last… keep them
    # comparable with anything: False sorts before every real value.
    if value is False or value is None:
        return (0, 0)
    if isinstance(value, RecordSet):
        return (1, value._ids)
    return (1, value)
