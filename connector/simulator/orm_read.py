"""Read-side model methods: search, search_read, search_count, read, name_search...

Method signatures mirror Odoo 17's so positional and keyword arguments sent over RPC bind
the same way (``search(domain, offset, limit, order)``...).
"""

from __future__ import annotations

from typing import Any

from . import computed
from .database import quote
from .ordering import order_by


def normalize_ids(ids) -> list[int]:
    """Odoo accepts one id or a list of ids for record methods."""
    if ids is False or ids is None:
        return []
    if isinstance(ids, (list, tuple)):
        return [int(i) for i in ids]
    return [int(ids)]


def _empty(fld):
    if fld.type in ("integer", "many2one_reference"):
        return 0
    if fld.type in ("float", "monetary"):
        return 0.0
    if fld.x2many:
        return []
    return False


def to_read(fld, raw):
    """A stored column value as ``read`` returns it."""
    if fld.type == "boolean":
        return bool(raw)
    if raw is None:
        return _empty(fld)
    if fld.type == "datetime":
        return raw[:19]  # microseconds stay in the database
    return raw


class ReadMethods:
    """search/read family of one model; base of :class:`orm.BaseModel`."""

    env: Any  # an orm.Env
    model: Any  # a models.Model

    # -- search -----------------------------------------------------------------------

    def _search(self, domain, offset=0, limit=None, order=None, active_test=None) -> list[int]:
        env, model = self.env, self.model
        if active_test is None:
            active_test = env.active_test
        where, params = env.compiler.where(model, domain, "t", active_test)
        sql = f"SELECT t.id FROM {env.view.src(model)} AS t WHERE {where}"
        sql += f" ORDER BY {order_by(env.view, model, order)}"
        if limit or offset:
            sql += " LIMIT ? OFFSET ?"
            params = [*params, int(limit) if limit else -1, int(offset or 0)]
        return [row[0] for row in env.view.query(sql, params)]

    def search(self, domain, offset=0, limit=None, order=None):
        """Ids of the records matching ``domain`` (Odoo 17 has no ``count`` argument)."""
        return self._search(domain, offset, limit, order)

    def search_count(self, domain, limit=None):
        """Number of records matching ``domain``."""
        env, model = self.env, self.model
        where, params = env.compiler.where(model, domain, "t", env.active_test)
        sql = f"SELECT count(*) FROM {env.view.src(model)} AS t WHERE {where}"
        if limit:
            sql = (f"SELECT count(*) FROM (SELECT t.id FROM {env.view.src(model)} AS t "
                   f"WHERE {where} LIMIT {int(limit)})")
        return env.view.query(sql, params)[0][0]

    def search_read(self, domain=None, fields=None, offset=0, limit=None, order=None,
                    **read_kwargs):
        """``read`` of the records ``search`` finds, in that order."""
        ids = self._search(domain or [], offset, limit, order)
        if not ids:
            return []
        return self.read(ids, fields, **read_kwargs)

    def name_search(self, name="", args=None, operator="ilike", limit=100):
        """[(id, display_name)] of records whose name matches."""
        domain = list(args or [])
        if name:
            domain = ["&"] + self.env.compiler.rec_name_domain(self.model, operator, name) + (
                domain or [(1, "=", 1)])
        ids = self._search(domain, 0, limit)
        names = computed.display_names(self.env, self.model, ids)
        return [[i, names.get(i, "")] for i in ids]

    def name_get(self, ids):
        """[(id, display_name)] of existing records (deprecated in Odoo 17, still there)."""
        ids = normalize_ids(ids)
        names = computed.display_names(self.env, self.model, ids)
        return [[i, names[i]] for i in ids if i in names]

    def exists(self, ids):
        """The ids that still exist."""
        ids = normalize_ids(ids)
        found = self.env.view.existing(self.model, ids)
        return [i for i in ids if i in found]

    # -- metadata ---------------------------------------------------------------------

    def fields_get(self, allfields=None, attributes=None):
        """Field definitions, as recorded from a real Odoo 17."""
        names = allfields or list(self.model.fields)
        return {name: self.model.fields[name].describe(attributes)
                for name in names if name in self.model.fields}

    def default_get(self, fields_list):
        """Default values of the requested fields."""
        defaults = computed.default_values(self.env, self.model)
        return {name: defaults[name] for name in fields_list or [] if name in defaults}

    # -- read -------------------------------------------------------------------------

    def _check_field_names(self, fields) -> list[str]:
        model = self.model
        if not fields:
            return [name for name in model.fields if name != "id"]
        if isinstance(fields, str):
            fields = [fields]
        for name in fields:
            if name not in model.fields:
                raise ValueError(f"Invalid field {name!r} on model {model.name!r}")
        return [name for name in dict.fromkeys(fields) if name != "id"]

    def read(self, ids, fields=None, load="_classic_read"):
        """Field values of existing records (missing ids are left out, as in Odoo).

        Two answers measured on a real Odoo 17: asking for ``['id']`` alone reads nothing from
        the table, so deleted ids come back too; asking for every field of a deleted partner
        fails (computing its signup token reads a row that is gone).
        """
        ids = normalize_ids(ids)
        names = self._check_field_names(fields)
        if fields and not names:
            return [{"id": i} for i in ids]
        rows = self._read(ids, names, load)
        if not fields and self.model.name == "res.partner" and len(rows) < len(set(ids)):
            raise TypeError("'NoneType' object is not subscriptable")
        return rows

    def _read(self, ids, names, load="_classic_read") -> list[dict]:
        env, model = self.env, self.model
        needed = set()
        for name in names:
            fld = model.fields[name]
            if fld.column:
                needed.add(fld.column)
            elif fld.delegate:
                needed.add(fld.delegate)
            needed.update(computed.UNSTORED_NEEDS.get((model.name, name), ()))
        rows = env.view.fetch(model, ids, sorted(needed))
        present = [i for i in ids if i in rows]
        result = [{"id": i} for i in present]
        if not present:
            return result
        delegated = [name for name in names if model.fields[name].delegate]
        parent_values = self._delegated_values(present, rows, delegated, load)
        for name in names:
            fld = model.fields[name]
            values = (parent_values[name] if fld.delegate
                      else self._values(fld, present, rows, load))
            for record in result:
                record[name] = values[record["id"]]
        return result

    def _delegated_values(self, ids, rows, names, load) -> dict[str, dict]:
        if not names:
            return {}
        link, parent_name = self.model.delegate
        parent_ids = [rows[i][link] for i in ids if rows[i].get(link)]
        parent = self.env[parent_name]
        by_parent = {r["id"]: r for r in parent._read(parent_ids, names, load)}
        out = {}
        for name in names:
            empty = _empty(self.model.fields[name])
            out[name] = {i: by_parent.get(rows[i].get(link), {}).get(name, empty) for i in ids}
        return out

    def _values(self, fld, ids, rows, load) -> dict:
        env, model = self.env, self.model
        if fld.name == "id":
            return {i: i for i in ids}
        if fld.column and fld.type == "many2one":
            raw = {i: rows[i].get(fld.column) for i in ids}
            return self._many2one_values(fld, raw, load)
        if fld.column:
            return {i: to_read(fld, rows[i].get(fld.column)) for i in ids}
        if fld.type == "one2many":
            return self._one2many_values(fld, ids)
        if fld.type == "many2many" and fld.rel_table:
            values = env.view.m2m(model, fld, ids)
            comodel = env.registry.models.get(fld.relation)
            if comodel is not None:
                related = sorted({d for v in values.values() for d in v})
                if related:
                    keep = set(env[comodel.name]._search(
                        [("id", "in", related)], order="id"))
                    values = {i: [d for d in v if d in keep] for i, v in values.items()}
            return values
        computed_values = computed.unstored_values(env, model, fld.name, ids, rows)
        if computed_values is not None:
            if fld.type == "many2one":
                return self._many2one_values(fld, computed_values, load)
            return computed_values
        return {i: _empty(fld) for i in ids}

    def _many2one_values(self, fld, raw: dict, load) -> dict:
        if load != "_classic_read":
            return {i: v or False for i, v in raw.items()}
        comodel = self.env.registry.models.get(fld.relation)
        targets = sorted({v for v in raw.values() if v})
        if comodel is not None:
            names = computed.display_names(self.env, comodel, targets)
        else:
            names = {t: f"{fld.relation},{t}" for t in targets}
        return {i: [v, names.get(v, "")] if v else False for i, v in raw.items()}

    def _one2many_values(self, fld, ids) -> dict:
        env, model = self.env, self.model
        result: dict[int, list[int]] = {i: [] for i in ids}
        comodel = env.registry.models.get(fld.relation)
        if comodel is None or not fld.inverse:
            return result
        inverse = quote(fld.inverse)
        marks = ",".join("?" * len(ids))
        params: list = list(ids)
        cond = f"t.{inverse} IN ({marks})"
        if fld.inverse_model_field:
            cond += f" AND t.{quote(fld.inverse_model_field)} = ?"
            params.append(model.name)
        if env.active_test and comodel.has_active:
            cond += " AND t.active = 1"
        sql = (f"SELECT t.{inverse}, t.id FROM {env.view.src(comodel)} AS t WHERE {cond} "
               f"ORDER BY {order_by(env.view, comodel, None)}")
        for owner, rid in env.view.query(sql, params):
            result[owner].append(rid)
        return result
