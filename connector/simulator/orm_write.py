"""Write-side model methods: create and write, with Odoo's value conversions.

Every record written by one call gets the same ``write_date`` (the call's transaction start
time, microseconds kept); relational commands (``(0, 0, vals)``, ``(6, 0, ids)``...) are
applied after the owning rows exist.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from . import computed
from .errors import ValidationError, missing_error
from .models import LOG_ACCESS_FIELDS
from .orm_read import ReadMethods, normalize_ids

SKIPPED_ON_WRITE = frozenset(("id",) + LOG_ACCESS_FIELDS)
# Columns whose change recomputes stored fields (others are written with one UPDATE).
COMPUTED_DEPENDS = {
    "res.partner": computed.PARTNER_TREE_FIELDS | {"email", "phone", "mobile", "image_1920"},
    "mail.activity": frozenset({"res_model_id", "res_model", "res_id"}),
    "auditlog.rule": frozenset({"model_id"}),
}



def _to_date(value) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return datetime.strptime(str(value)[:10], "%Y-%m-%d").date().isoformat()


def _to_datetime(value) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    text = str(value)
    fmt = "%Y-%m-%d %H:%M:%S" if len(text) > 10 else "%Y-%m-%d"
    return datetime.strptime(text, fmt).strftime("%Y-%m-%d %H:%M:%S.%f")


def to_column(fld, value):
    """An RPC value converted to what the column stores (Odoo's convert_to_column)."""
    kind = fld.type
    if kind == "boolean":
        return 1 if value else 0
    if kind in ("integer", "many2one_reference"):
        return int(value or 0)
    if kind in ("float", "monetary"):
        return float(value or 0.0)
    if value is False or value is None:
        return None
    if kind == "many2one":
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        return int(value) if value else None
    if kind == "date":
        return _to_date(value)
    if kind == "datetime":
        return _to_datetime(value)
    if kind == "binary" and isinstance(value, bytes):
        return value.decode("ascii")
    if kind == "html":
        return computed.html_body(value)  # Odoo's sanitizer wraps plain text in <p>
    if kind == "selection" and fld.selection:
        keys = [key for key, _label in fld.selection]
        if value not in keys:
            raise ValueError(f"Wrong value for {fld.model}.{fld.name}: {value!r}")
        return value
    return value if isinstance(value, str) else str(value)


def normalize_commands(value) -> list[tuple]:
    """x2many values as command tuples (a plain id list means "replace with these")."""
    if value is False or value is None:
        return [(5,)]
    commands: list[Any] = []
    for item in value:
        if isinstance(item, (list, tuple)):
            commands.append(tuple(item))
        else:
            commands.append("id")
    if commands and all(c == "id" for c in commands):
        return [(6, 0, [int(v) for v in value])]
    return [c for c in commands if c != "id"]


class WriteMethods(ReadMethods):
    """create and write of one model; part of :class:`orm.BaseModel`."""

    if TYPE_CHECKING:  # defined by orm_relations.RelationMethods
        def _apply_x2many(self, rid: int, fld, commands: list[tuple]) -> None: ...

    # -- value splitting --------------------------------------------------------------

    def _split(self, vals: dict):
        """Split ``vals`` into (columns, x2many commands, values of the delegate parent)."""
        if not isinstance(vals, dict):
            raise ValueError(f"Invalid values {vals!r} for {self.model.name}")
        model = self.model
        columns, x2many, delegated = {}, [], {}
        for key, value in vals.items():
            fld = model.fields.get(key)
            if fld is None:
                raise ValueError(f"Invalid field {key!r} on model {model.name!r}")
            if key in SKIPPED_ON_WRITE:
                continue
            if fld.delegate:
                delegated[key] = value
            elif fld.column:
                columns[fld.column] = to_column(fld, value)
            elif fld.x2many:
                x2many.append((fld, normalize_commands(value)))
            elif model.name == "res.partner" and key == "company_type":
                columns["is_company"] = 1 if value == "company" else 0
            elif model.name == "ir.attachment" and key in ("datas", "raw"):
                columns["db_datas"] = to_column(model.fields["db_datas"], value)
        return columns, x2many, delegated

    def _check_required(self, rows: list[dict], partial: bool = False) -> None:
        """NOT NULL of required columns (``partial``: only the columns the rows hold)."""
        model = self.model
        for fld in model.fields.values():
            if not (fld.required and fld.column):
                continue
            for row in rows:
                if partial and fld.column not in row:
                    continue
                if row.get(fld.column) is None:
                    raise ValidationError(
                        "The operation cannot be completed:\n"
                        "- Create/update: a mandatory field is not set.\n"
                        "- Delete: another model requires the record being deleted. "
                        "If possible, archive it instead.\n\n"
                        f"Model: {model.description} ({model.name})\n"
                        f"Field: {fld.string} ({fld.name})\n")

    # -- create -----------------------------------------------------------------------

    def create(self, vals_list):
        """Create one record (dict → id) or several (list of dicts → list of ids)."""
        if isinstance(vals_list, dict):
            return self._create([vals_list])[0]
        if not isinstance(vals_list, (list, tuple)):
            raise ValueError(f"Invalid values {vals_list!r} for {self.model.name}")
        return self._create(list(vals_list))

    def _create(self, vals_list: list[dict]) -> list[int]:
        env, model = self.env, self.model
        if not vals_list:
            return []
        ids = env.storage.allocate_ids(model.name, len(vals_list))
        defaults = computed.default_values(env, model)
        rows, pending = [], []
        for rid, vals in zip(ids, vals_list, strict=True):
            vals = dict(vals) if isinstance(vals, dict) else vals
            columns, x2many, delegated = self._split(vals)
            row = {"id": rid}
            for name, value in defaults.items():
                fld = model.fields[name]
                if name not in vals and fld.column:
                    row[fld.column] = to_column(fld, value)
            row.update(columns)
            row.update(create_date=env.now_str, write_date=env.now_str,
                       create_uid=env.uid, write_uid=env.uid)
            if model.delegate:
                self._create_delegate(row, delegated, vals)
            rows.append(row)
            pending.append((rid, x2many))
        self._prepare_rows(rows)
        env.view.insert(model, rows)
        for rid, x2many in pending:
            for fld, commands in x2many:
                self._apply_x2many(rid, fld, commands)
        self._after_create(ids, vals_list)
        return ids

    def _create_delegate(self, row: dict, delegated: dict, vals: dict) -> None:
        """_inherits: create (or update) the parent record holding delegated fields."""
        link, parent_name = self.model.delegate
        parent = self.env[parent_name]
        if row.get(link):
            if delegated:
                parent._write([row[link]], delegated)
            return
        values = dict(delegated)
        if self.model.name == "res.users":
            values.setdefault("name", vals.get("login"))
            values["partner_share"] = not vals.get("share", False)
        row[link] = parent._create([values])[0]

    def _prepare_rows(self, rows: list[dict]) -> None:
        """Stored computed fields and constraints of new rows."""
        env, model = self.env, self.model
        if model.name == "res.partner":
            parent_ids = [r["parent_id"] for r in rows if r.get("parent_id")]
            parents = env.view.fetch(model, parent_ids, model.columns)
            computed.partner_compute(env, rows, parents)
            computed.partner_check(rows)
        elif model.name == "mail.activity":
            self._activity_model(rows)
        elif model.name == "auditlog.rule":
            self._rule_model(rows)
        self._check_required(rows)

    def _ir_model(self, ir_model_id=None, name=None) -> dict | None:
        ir_model = self.env.registry["ir.model"]
        if ir_model_id:
            return self.env.view.fetch(ir_model, [ir_model_id], ["model", "name"]).get(
                ir_model_id)
        rows = self.env.view.query(
            f"SELECT id, model, name FROM {self.env.view.src(ir_model)} WHERE model = ?",
            [name])
        return {"id": rows[0][0], "model": rows[0][1], "name": rows[0][2]} if rows else None

    def _activity_model(self, rows: list[dict]) -> None:
        # res_model is related to res_model_id.model: fill whichever the client left out.
        for row in rows:
            if row.get("res_model_id"):
                found = self._ir_model(row["res_model_id"])
                row["res_model"] = found["model"] if found else row.get("res_model")
            elif row.get("res_model"):
                found = self._ir_model(name=row["res_model"])
                row["res_model_id"] = found["id"] if found else None
            target = self.env.registry.models.get(row.get("res_model") or "")
            if target is not None and row.get("res_id"):
                names = computed.display_names(self.env, target, [row["res_id"]])
                row["res_name"] = names.get(row["res_id"])

    def _rule_model(self, rows: list[dict]) -> None:
        rule_model = self.env.registry["auditlog.rule"]
        for row in rows:
            if row.get("model_id"):
                others = self.env.view.query(
                    f"SELECT id FROM {self.env.view.src(rule_model)} AS t "
                    "WHERE t.model_id = ? AND t.id != ?", [row["model_id"], row["id"]])
                if others:
                    raise ValidationError(
                        "The operation cannot be completed: There is already a rule defined "
                        "on this model\nYou cannot define another: please edit the existing "
                        "one.")
            found = self._ir_model(row.get("model_id")) if row.get("model_id") else None
            row["model_model"] = found["model"] if found else None
            row["model_name"] = found["name"] if found else None

    def _set_passwords(self, ids, vals: dict) -> None:
        """res.users keeps passwords outside its table (``password`` is not stored)."""
        password = vals.get("password") or vals.get("new_password")
        if self.model.name != "res.users" or not password:
            return
        for uid in ids:
            self.env.view.conn.execute(
                "INSERT INTO sim_auth (uid, password) VALUES (?, ?) "
                "ON CONFLICT (uid) DO UPDATE SET password = excluded.password", (uid, password))

    def _after_create(self, ids, vals_list) -> None:
        for uid, vals in zip(ids, vals_list, strict=True):
            self._set_passwords([uid], vals)
        audit = self.env.audit
        if audit is not None:
            audit.log_create(self.model, ids, vals_list)

    # -- write ------------------------------------------------------------------------

    def write(self, ids, vals):
        """Write ``vals`` on every record of ``ids``; all get the same write_date."""
        self._write(normalize_ids(ids), vals)
        return True

    def _check_missing(self, ids) -> None:
        found = self.env.view.existing(self.model, ids)
        missing = [i for i in dict.fromkeys(ids) if i not in found]
        if missing:
            raise missing_error(self.model.name, missing, self.env.uid)

    def _write(self, ids: list[int], vals: dict) -> None:
        env, model = self.env, self.model
        columns, x2many, delegated = self._split(vals)
        self._check_missing(ids)
        if not ids:
            return
        audit = env.audit
        before = audit.snapshot(model, ids, "write", vals) if audit is not None else None
        columns.update(write_date=env.now_str, write_uid=env.uid)
        if COMPUTED_DEPENDS.get(model.name, frozenset()) & set(columns):
            self._write_computed(ids, columns)
        else:
            self._check_required([columns], partial=True)
            env.view.update(model, ids, columns)
        for rid in ids:
            for fld, commands in x2many:
                self._apply_x2many(rid, fld, commands)
        if delegated and model.delegate:
            link = model.delegate[0]
            rows = env.view.fetch(model, ids, [link])
            parent_ids = [rows[i][link] for i in ids if rows[i].get(link)]
            env[model.delegate[1]]._write(parent_ids, delegated)
        self._set_passwords(ids, vals)
        if audit is not None:
            audit.log_write(model, ids, before)

    def _write_computed(self, ids: list[int], columns: dict) -> None:
        """Write on models with stored computed fields: recompute per record."""
        env, model = self.env, self.model
        rows = env.view.fetch(model, ids, model.columns)
        merged = [{**rows[i], **columns} for i in ids]
        self._prepare_rows(merged)
        for row in merged:
            changes = {c: row[c] for c in model.columns
                       if c in columns or row[c] != rows[row["id"]].get(c)}
            env.view.update(model, [row["id"]], changes)
        if model.name == "res.partner" and computed.PARTNER_TREE_FIELDS & set(columns):
            self._recompute_children(ids)

    def _recompute_children(self, parent_ids: list[int]) -> None:
        """Children's complete_name and commercial fields follow their parent's."""
        env, model = self.env, self.model
        seen = set(parent_ids)
        frontier = list(parent_ids)
        while frontier:
            marks = ",".join("?" * len(frontier))
            children = [r[0] for r in env.view.query(
                f"SELECT id FROM {env.view.src(model)} AS t WHERE t.parent_id IN ({marks})",
                frontier) if r[0] not in seen]
            if not children:
                return
            rows = env.view.fetch(model, children, model.columns)
            parent_rows = env.view.fetch(
                model, [r["parent_id"] for r in rows.values()], model.columns)
            merged = [dict(rows[i]) for i in children]
            computed.partner_compute(env, merged, parent_rows)
            for row in merged:
                changes = {c: row[c] for c in ("complete_name", "commercial_partner_id",
                                               "commercial_company_name")
                           if row[c] != rows[row["id"]][c]}
                if changes:
                    # The recomputation is flushed by the ORM, which stamps the record.
                    changes.update(write_date=env.now_str, write_uid=env.uid)
                    env.view.update(model, [row["id"]], changes)
            seen.update(children)
            frontier = children
