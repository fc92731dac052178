"""Links between Odoo records and external objects, kept in the own database.

A link has a relation name and two sides. An Odoo link is (``__odoo__``, record id) on side 1
with the Odoo model, and (``__default_external__``, external ref) on side 2. An external–external
link stores its two systems sorted by name, so ``{"github": 1, "trello": "ab"}`` and
``{"trello": "ab", "github": 1}`` are the same link. References are stored as text.

Links are one-to-one per relation unless ``allow_many2many=True``: setting a link whose side is
already linked to something else is refused with an error naming the existing link.

Task code holds :class:`Links`, which behave like an Odoo recordset of links (indexing, slicing,
``|``, ``&``, ``-``, ``==``, ``mapped``, ``filtered``, ``sorted``). In a search, ``None`` as a
system's ref means "any ref of that system", and ``None`` inside a list of refs is ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from connector.errors import SyncStudioError
from connector.store.db import Database
from connector.store.models import Link, utcnow

ODOO = "__odoo__"
EXTERNAL = "__default_external__"


class LinkError(SyncStudioError, ValueError):
    """Raised when a link would break the one-to-one rule, or a lookup is ambiguous."""


_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def sync_datetime(value: Any, what: str = "sync_date") -> dt.datetime | None:
    """A sync date as stored (naive UTC): a datetime, a date, or Odoo's datetime text.

    Odoo writes datetimes as ``'2024-01-01 10:00:00'`` (UTC); ISO text with ``T`` or an offset
    is accepted too. Aware datetimes are converted to UTC. Anything else is a :class:`LinkError`
    that shows the accepted forms.
    """
    if value is None or isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str):
        text = value.strip()
        moment = None
        for fmt in _DATE_FORMATS:
            try:
                moment = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if moment is None:
            try:
                moment = dt.datetime.fromisoformat(text)
            except ValueError:
                moment = None
        if moment is None:
            raise LinkError(f"{what} {value!r} is not a date: write it as Odoo does, "
                            "'2024-01-01 10:00:00' (UTC), or pass a datetime") from None
    else:
        raise LinkError(f"{what} must be a datetime, a date or text such as "
                        f"'2024-01-01 10:00:00', not {type(value).__name__}")
    if moment is not None and moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def _ref(value: Any, what: str) -> str:
    """One ref to store: text, never None, never a container."""
    if value is None or value is False:
        raise LinkError(f"{what} is {value!r}: a link needs a ref (None only means \"any\" in "
                        "search_links)")
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        raise LinkError(f"{what} must be one ref (text or a number), not {value!r}")
    return str(value)


def _search_refs(refs: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Split search refs into those the store filters on and the "any ref" systems."""
    exact: dict[str, Any] = {}
    anyref: list[str] = []
    for system, value in refs.items():
        if value is None:
            anyref.append(str(system))
        elif isinstance(value, list | tuple | set | frozenset):
            exact[str(system)] = [v for v in value if v is not None]
        elif isinstance(value, Mapping):
            raise LinkError(f"the ref of {system!r} must be a ref or a list of refs, not a dict")
        else:
            exact[str(system)] = value
    return exact, anyref


def _has_side(row: Mapping[str, Any], system: str) -> bool:
    return system in (row["system1"], row["system2"])


def _refs(value: Any) -> list[str]:
    """A ref or a list of refs ("any of") as a list of text refs (None entries dropped)."""
    if isinstance(value, list | tuple | set | frozenset):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _describe(row: Link) -> str:
    if row.system1 == ODOO:
        return f"{row.relation}: {row.odoo_model}({row.ref1}) <-> {row.ref2!r}"
    return f"{row.relation}: {row.system1}={row.ref1!r} <-> {row.system2}={row.ref2!r}"


class LinkStore:
    """The links of one project; every method runs in its own short transaction."""

    def __init__(self, db: Database | Callable[[], Database], project_id: int) -> None:
        # A callable is asked on first use: a job that touches no link opens nothing.
        self._db_source = db
        self._project_id = project_id

    @property
    def project_id(self) -> int:
        """The project whose links these are."""
        return self._project_id

    @property
    def _db(self) -> Database:
        if not isinstance(self._db_source, Database):
            self._db_source = self._db_source()
        return self._db_source

    # ------------------------------------------------------------------ writing
    def set_link(self, relation: str, side1: tuple[str, str], side2: tuple[str, str], *,
                 model: str | None = None, sync_date: dt.datetime | None = None,
                 allow_many2many: bool = False) -> list[dict[str, Any]]:
        """Create the link (or refresh the same one's sync date); returns it as a row."""
        sync_date = sync_datetime(sync_date) or utcnow()
        with self._db.session() as session:
            same = self._query(session, relation, {side1[0]: side1[1], side2[0]: side2[1]},
                               model)
            if same:
                for row in same:
                    row.sync_date = sync_date
                return [self._row(row) for row in same]
            if not allow_many2many:
                for system, ref in (side1, side2):
                    taken = self._query(session, relation, {system: ref}, model)
                    if taken:
                        raise LinkError(
                            f"cannot link {system}={ref!r} in relation {relation!r}: it is "
                            f"already linked ({_describe(taken[0])}); unlink it first or pass "
                            "allow_many2many=True")
            row = Link(project_id=self._project_id, relation=relation, odoo_model=model,
                       system1=side1[0], ref1=side1[1], system2=side2[0], ref2=side2[1],
                       sync_date=sync_date)
            session.add(row)
            session.flush()
            return [self._row(row)]

    def set_odoo_link(self, relation: str, model: str, record_id: int, external: Any, *,
                      sync_date: dt.datetime | None = None,
                      allow_many2many: bool = False) -> list[dict[str, Any]]:
        """Link Odoo record ``model(record_id)`` to the external ref ``external``."""
        return self.set_link(relation, (ODOO, str(record_id)),
                             (EXTERNAL, _ref(external, "the external ref")),
                             model=model, sync_date=sync_date, allow_many2many=allow_many2many)

    def set_external_link(self, relation: str, refs: Mapping[str, Any], *,
                          sync_date: dt.datetime | None = None,
                          allow_many2many: bool = False) -> list[dict[str, Any]]:
        """Link two external systems: ``refs`` maps exactly two system names to refs."""
        if not isinstance(refs, Mapping) or len(refs) != 2:
            raise LinkError("an external link needs a dict of exactly two systems, e.g. "
                            "{'github': 1, 'trello': 'ab'}")
        (s1, r1), (s2, r2) = sorted((str(k), _ref(v, f"the ref of {k!r}"))
                                    for k, v in refs.items())
        if s1.startswith("__") or s2.startswith("__"):
            raise LinkError("system names starting with '__' are reserved")
        return self.set_link(relation, (s1, r1), (s2, r2), sync_date=sync_date,
                             allow_many2many=allow_many2many)

    def update(self, ids: Iterable[int], sync_date: dt.datetime | None = None) -> None:
        """Set the sync date of links ``ids`` (now by default)."""
        with self._db.session() as session:
            session.execute(update(Link).where(Link.id.in_(list(ids)),
                                               Link.project_id == self._project_id)
                            .values(sync_date=sync_datetime(sync_date) or utcnow()))

    def delete(self, ids: Iterable[int]) -> None:
        """Remove links ``ids``."""
        with self._db.session() as session:
            session.execute(delete(Link).where(Link.id.in_(list(ids)),
                                               Link.project_id == self._project_id))

    # ------------------------------------------------------------------ reading
    def search(self, relation: str, refs: Mapping[str, Any],
               model: str | None = None) -> list[dict[str, Any]]:
        """Links of ``relation`` whose side named by each key has one of the given refs."""
        with self._db.session() as session:
            return [self._row(r) for r in self._query(session, relation, refs, model)]

    def search_odoo(self, relation: str, model: str, ids: Iterable[int]) -> list[dict[str, Any]]:
        """Links of ``relation`` of the Odoo records ``model(ids)``."""
        return self.search(relation, {ODOO: list(ids)}, model)

    def get(self, relation: str, external: Any, model: str | None = None) -> list[dict[str, Any]]:
        """The one link of external ref ``external`` (empty list if none); ambiguous → error."""
        rows = self.search(relation, {EXTERNAL: external}, model)
        if len(rows) > 1:
            raise LinkError(f"{len(rows)} links of relation {relation!r} have the external ref "
                            f"{external!r}; use search_links() to get them all")
        return rows

    def _query(self, session: Session, relation: str, refs: Mapping[str, Any],
               model: str | None) -> list[Link]:
        query = select(Link).where(Link.project_id == self._project_id,
                                   Link.relation == relation)
        if model is not None:
            query = query.where(Link.odoo_model == model)
        for system, value in refs.items():
            if value is None:  # any ref, as long as the link has a side in that system
                query = query.where((Link.system1 == system) | (Link.system2 == system))
                continue
            values = _refs(value)
            query = query.where(
                ((Link.system1 == system) & Link.ref1.in_(values))
                | ((Link.system2 == system) & Link.ref2.in_(values)))
        return list(session.scalars(query.order_by(Link.id)))

    @staticmethod
    def _row(row: Link) -> dict[str, Any]:
        return {"id": row.id, "relation": row.relation, "model": row.odoo_model,
                "system1": row.system1, "ref1": row.ref1, "system2": row.system2,
                "ref2": row.ref2, "sync_date": row.sync_date}


class Links:
    """What task code holds: one or several links, like an Odoo recordset of links.

    Internals are ``_``-prefixed, so the sandbox's guarded getattr keeps task code away from
    the store and its database.
    """

    __slots__ = ("_env", "_rows", "_store")
    _env: Any
    _rows: list[dict[str, Any]]
    _store: LinkStore

    def __init__(self, store: LinkStore, env: Any, rows: list[dict[str, Any]]) -> None:
        object.__setattr__(self, "_store", store)
        object.__setattr__(self, "_env", env)
        object.__setattr__(self, "_rows", list(rows))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("links are read-only; use update_links() or unlink()")

    def __len__(self) -> int:
        return len(self._rows)

    def __bool__(self) -> bool:
        return bool(self._rows)

    def __iter__(self) -> Iterator[Links]:
        for row in self._rows:
            yield Links(self._store, self._env, [row])

    def __repr__(self) -> str:
        return f"links({', '.join(str(r['id']) for r in self._rows)})"

    # -- recordset semantics (by link id, order kept, as Odoo's recordsets) ------------------
    def _new(self, rows: Iterable[dict[str, Any]]) -> Links:
        return Links(self._store, self._env, list(rows))

    def _other(self, other: Any, op: str) -> Links:
        if not isinstance(other, Links):
            raise TypeError(f"unsupported operand types for {op}: links and "
                            f"{type(other).__name__}")
        return other

    def __getitem__(self, key: Any) -> Links:
        if isinstance(key, slice):
            return self._new(self._rows[key])
        if isinstance(key, int) and not isinstance(key, bool):
            return self._new([self._rows[key]])
        raise TypeError(f"links are indexed by position or slice, not {key!r}")

    def __or__(self, other: Links) -> Links:
        rows = {r["id"]: r for r in [*self._rows, *self._other(other, "|")._rows]}
        return self._new(rows.values())

    def __add__(self, other: Links) -> Links:
        return self._new([*self._rows, *self._other(other, "+")._rows])

    def __and__(self, other: Links) -> Links:
        keep = set(self._other(other, "&").ids)
        return self._new({r["id"]: r for r in self._rows if r["id"] in keep}.values())

    def __sub__(self, other: Links) -> Links:
        drop = set(self._other(other, "-").ids)
        return self._new(r for r in self._rows if r["id"] not in drop)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Links):
            return NotImplemented
        return set(self.ids) == set(other.ids)

    def __hash__(self) -> int:
        return hash(frozenset(self.ids))

    def __contains__(self, item: Any) -> bool:
        if not isinstance(item, Links):
            raise TypeError(f"unsupported operand types in: {item!r} in links")
        return len(item) == 1 and item.ids[0] in self.ids

    def mapped(self, func: str | Callable[[Links], Any]) -> Any:
        """Values of ``func`` (a function, or ``'odoo'``, ``'external'``, ``'sync_date'``,
        ``'id'``, ``'odoo.<field path>'``) for every link; recordsets are merged into one."""
        if callable(func):
            values = [func(link) for link in self]
            if values and all(_is_records(v) for v in values):
                merged = values[0]
                for value in values[1:]:
                    merged = merged | value
                return merged
            return values
        if not isinstance(func, str):
            raise TypeError("mapped() takes a name such as 'external' or a function")
        head, _, rest = func.partition(".")
        if head == "odoo":
            return self.odoo.mapped(rest) if rest else self.odoo
        if rest or head not in ("external", "sync_date", "id"):
            raise LinkError(f"links have odoo, external, sync_date and id, not {func!r}; for a "
                            "system's ref use links.mapped(lambda link: link.get('github'))")
        return [getattr(link, head) for link in self]

    def filtered(self, func: Callable[[Links], Any]) -> Links:
        """The links for which ``func(link)`` is true."""
        if not callable(func):
            raise TypeError("filtered() takes a function of one link")
        return self._new(row for row, link in zip(self._rows, self, strict=True) if func(link))

    def sorted(self, key: Callable[[Links], Any] | str | None = None,
               reverse: bool = False) -> Links:
        """The links sorted by ``key`` (a function, or 'external'/'sync_date'/'id')."""
        if key is None or isinstance(key, str):
            name = key or "id"
            if name not in ("external", "sync_date", "id"):
                raise LinkError(f"links sort by external, sync_date or id, not {name!r}")
            pairs = sorted(zip(self._rows, self.mapped(name), strict=True),
                           key=lambda pair: (pair[1] is None, 0 if pair[1] is None else pair[1]),
                           reverse=reverse)
        else:
            pairs = sorted(zip(self._rows, [key(link) for link in self], strict=True),
                           key=lambda pair: pair[1], reverse=reverse)
        return self._new(row for row, _ in pairs)

    @property
    def ids(self) -> list[int]:
        """Ids of the links."""
        return [r["id"] for r in self._rows]

    @property
    def id(self) -> int | bool:
        """The id of one link (False when empty)."""
        if not self._rows:
            return False
        return self._one("id")["id"]

    def _one(self, what: str) -> dict[str, Any]:
        if len(self._rows) != 1:
            raise LinkError(f"{what} of one link was asked, but these are {len(self._rows)}")
        return self._rows[0]

    @property
    def odoo(self) -> Any:
        """The linked Odoo records, as a recordset of the project's Odoo."""
        models = {r["model"] for r in self._rows if r["system1"] == ODOO}
        if len(models) > 1:
            raise LinkError(f"these links point to several models: {sorted(models)}")
        if not models:
            raise LinkError("these links have no Odoo side")
        ids = [int(r["ref1"]) for r in self._rows if r["system1"] == ODOO]
        return self._env[models.pop()].browse(ids)

    @property
    def external(self) -> Any:
        """The external ref of one link, or the list of refs of several."""
        refs = [r["ref2"] for r in self._rows]
        return refs[0] if len(refs) == 1 else refs

    def get(self, system: str) -> Any:
        """The ref on the side of ``system`` (one link), or the list of refs (several)."""
        refs = []
        for r in self._rows:
            if r["system1"] == system:
                refs.append(r["ref1"])
            elif r["system2"] == system:
                refs.append(r["ref2"])
            else:
                raise LinkError(f"link {r['id']} has no side {system!r}")
        return refs[0] if len(refs) == 1 else refs

    @property
    def sync_date(self) -> dt.datetime | None:
        """The sync date of one link, the earliest of several (None when empty)."""
        dates = [r["sync_date"] for r in self._rows]
        return min(dates) if dates else None

    def update_links(self, sync_date: Any = None) -> Links:
        """Set the sync date (now by default; a datetime, date or Odoo datetime text)."""
        when = sync_datetime(sync_date) or utcnow()
        self._store.update(self.ids, when)
        for row in self._rows:
            row["sync_date"] = when
        return self

    def unlink(self) -> None:
        """Delete the links."""
        self._store.delete(self.ids)
        self._rows.clear()


def _is_records(value: Any) -> bool:
    return hasattr(value, "ids") and hasattr(value, "mapped") and not isinstance(value, Links)


def link_api(store: LinkStore, env: Any) -> dict[str, Any]:
    """The functions the task runtime exposes, bound to ``store`` and ``env``.

    Arguments are checked and normalised here, on the task's side: the store (possibly a
    proxy to the worker) receives only text refs and datetimes.
    """

    def wrap(rows: list[dict[str, Any]]) -> Links:
        return Links(store, env, rows)

    def search(relation: str, refs: Mapping[str, Any]) -> list[dict[str, Any]]:
        exact, anyref = _search_refs(refs)
        if any(isinstance(v, list) and not v for v in exact.values()):
            return []  # an empty "any of" list matches nothing
        rows = store.search(relation, exact)
        return [r for r in rows if all(_has_side(r, system) for system in anyref)]

    def get_link(relation: str, external_ref: Any, model: str | None = None) -> Links:
        if isinstance(external_ref, Mapping):
            rows = search(relation, external_ref)
            if len(rows) > 1:
                raise LinkError(f"{len(rows)} links of relation {relation!r} match "
                                f"{dict(external_ref)!r}; use search_links() to get them all")
            return wrap(rows)
        if isinstance(external_ref, list | tuple | set | frozenset):
            refs = [str(v) for v in external_ref if v is not None]
            rows = store.search(relation, {EXTERNAL: refs}, model) if refs else []
            if len(rows) > 1:
                raise LinkError(f"{len(rows)} links of relation {relation!r} have one of the "
                                f"external refs {refs!r}; use search_links() to get them all")
            return wrap(rows)
        return wrap(store.get(relation, _ref(external_ref, "external_ref"), model))

    def set_link(relation: str, refs: Mapping[str, Any], sync_date: Any = None,
                 allow_many2many: bool = False) -> Links:
        if not isinstance(refs, Mapping):
            raise LinkError("set_link(relation, refs) links two external systems: refs is a "
                            "dict such as {'github': 1, 'trello': 'ab'}; to link an Odoo "
                            "record use record.set_link(relation, external_ref)")
        checked = {str(k): _ref(v, f"the ref of {k!r}") for k, v in refs.items()}
        return wrap(store.set_external_link(relation, checked,
                                            sync_date=sync_datetime(sync_date),
                                            allow_many2many=allow_many2many))

    def search_links(relation: str, refs: Mapping[str, Any]) -> Links:
        if not isinstance(refs, Mapping):
            raise LinkError("search_links(relation, refs) needs a dict of system: ref(s)")
        return wrap(search(relation, refs))

    def record_set_link(record: Any, relation: str, external: Any, sync_date: Any = None,
                        allow_many2many: bool = False) -> Links:
        if len(record.ids) != 1:
            raise LinkError(f"set_link() needs one record, got {len(record.ids)}")
        return wrap(store.set_odoo_link(relation, record._name, record.ids[0],
                                        _ref(external, "the external ref"),
                                        sync_date=sync_datetime(sync_date),
                                        allow_many2many=allow_many2many))

    def record_search_links(records: Any, relation: str) -> Links:
        return wrap(store.search_odoo(relation, records._name, records.ids))

    return {"get_link": get_link, "set_link": set_link, "search_links": search_links,
            "record_set_link": record_set_link, "record_search_links": record_search_links}
