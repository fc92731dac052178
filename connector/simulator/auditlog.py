"""OCA ``auditlog`` (17.0) as an external client sees it.

A *subscribed* ``auditlog.rule`` on a model makes create/write/unlink write one
``auditlog.log`` row per record and call, with ``auditlog.log.line`` rows holding old and
new values. ``full`` rules diff every stored field (so a write of ``email`` also logs the
recomputed ``email_normalized``); ``fast`` rules log the written fields only; unlink lines
exist only with ``capture_record``.
"""

from __future__ import annotations

from .computed import display_names

# OCA auditlog never logs these.
FIELDS_BLACKLIST = frozenset({"id", "create_uid", "create_date", "write_uid", "write_date",
                              "display_name", "__last_update"})


def _as_text(value):
    """A read value as auditlog stores it in its text columns (False stays False)."""
    if value is False or value is None:
        return False
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], str) and (
            isinstance(value[0], int)):
        return f"({value[0]}, {value[1]!r})"  # a many2one read as (id, name)
    return str(value)


class AuditLog:
    """Audit logging for one call (one environment)."""

    def __init__(self, env) -> None:
        self.env = env
        self._rules: dict[str, dict | None] = {}

    def rule(self, model_name: str) -> dict | None:
        """The subscribed rule of ``model_name``, if any."""
        if model_name in self._rules:
            return self._rules[model_name]
        env = self.env
        rule_model = env.registry["auditlog.rule"]
        rows = env.view.query(
            f"SELECT id, log_type, log_create, log_write, log_unlink, capture_record, model_id "
            f"FROM {env.view.src(rule_model)} AS t WHERE t.state = 'subscribed' AND "
            f"t.model_model = ? ORDER BY t.id LIMIT 1", [model_name])
        rule = None
        if rows:
            keys = ("id", "log_type", "log_create", "log_write", "log_unlink",
                    "capture_record", "model_id")
            rule = dict(zip(keys, rows[0], strict=True))
        self._rules[model_name] = rule
        return rule

    def _field_names(self, model) -> list[str]:
        return [name for name, fld in model.fields.items()
                if fld.store and name not in FIELDS_BLACKLIST]

    def snapshot(self, model, ids, method: str, written=()) -> dict | None:
        """Values before a write/unlink, when a rule wants them."""
        if model.name.startswith("auditlog."):
            return None
        rule = self.rule(model.name)
        if rule is None or not rule[f"log_{method}"]:
            return None
        if method == "unlink" and not rule["capture_record"]:
            return {"rule": rule, "values": {}, "names": self._names(model, ids)}
        rows = self.env[model.name]._read(ids, self._field_names(model))
        return {"rule": rule, "values": {r["id"]: r for r in rows},
                "names": self._names(model, ids), "written": set(written)}

    def _names(self, model, ids) -> dict[int, str]:
        return display_names(self.env, model, ids)

    def _field_ids(self, model) -> dict[str, int]:
        env = self.env
        fields_model = env.registry["ir.model.fields"]
        return dict(env.view.query(
            f"SELECT name, id FROM {env.view.src(fields_model)} AS t WHERE t.model = ?",
            [model.name]))

    def _write_logs(self, model, rule, method, entries) -> None:
        """entries: [(res_id, name, [(field, old, new)])]"""
        env = self.env
        ir_model_name = env.view.query(
            f"SELECT name FROM {env.view.src(env.registry['ir.model'])} AS t WHERE t.id = ?",
            [rule["model_id"]])
        field_ids = self._field_ids(model)
        descriptions = {name: fld.string for name, fld in model.fields.items()}
        logs = env["auditlog.log"]
        lines = []
        for res_id, name, changes in entries:
            log_id = logs._create([{
                "name": name, "model_id": rule["model_id"], "res_id": res_id,
                "user_id": env.uid, "method": method, "log_type": rule["log_type"],
            }])[0]
            env.view.update(env.registry["auditlog.log"], [log_id], {
                "model_model": model.name,
                "model_name": ir_model_name[0][0] if ir_model_name else model.description,
            })
            for field_name, old, new in changes:
                lines.append({
                    "log_id": log_id, "field_id": field_ids.get(field_name) or False,
                    "field_name": field_name, "field_description": descriptions[field_name],
                    "old_value": _as_text(old), "old_value_text": _as_text(old),
                    "new_value": _as_text(new), "new_value_text": _as_text(new),
                })
        if lines:
            env["auditlog.log.line"]._create(lines)

    def log_create(self, model, ids, vals_list) -> None:
        """Log the creation of ``ids``."""
        if model.name.startswith("auditlog."):
            return
        rule = self.rule(model.name)
        if rule is None or not rule["log_create"]:
            return
        rows = self.env[model.name]._read(ids, self._field_names(model))
        names = self._names(model, ids)
        entries = []
        for row, vals in zip(rows, vals_list, strict=False):
            # fast rules log what the client sent; full rules every stored field.
            wanted = row if rule["log_type"] == "full" else vals
            changes = [(f, False, row[f]) for f in row if f != "id" and f in wanted]
            entries.append((row["id"], names.get(row["id"]), changes))
        self._write_logs(model, rule, "create", entries)

    def log_write(self, model, ids, before) -> None:
        """Log the changes a write made, compared with ``before``."""
        if before is None:
            return
        rule = before["rule"]
        names = list(before["values"].get(ids[0], {})) if ids else []
        after = {r["id"]: r for r in self.env[model.name]._read(
            ids, [n for n in names if n != "id"])}
        display = self._names(model, ids)
        entries = []
        for rid in ids:
            old, new = before["values"].get(rid, {}), after.get(rid, {})
            changes = [(f, old.get(f, False), new.get(f, False)) for f in new
                       if f != "id" and old.get(f, False) != new.get(f, False)
                       and (rule["log_type"] == "full" or f in before["written"])]
            entries.append((rid, display.get(rid), changes))
        self._write_logs(model, rule, "write", entries)

    def log_unlink(self, model, ids, before) -> None:
        """Log the deletion of ``ids`` (with their last values when capture_record)."""
        if before is None:
            return
        entries = []
        for rid in ids:
            old = before["values"].get(rid, {})
            changes = [(f, v, False) for f, v in old.items() if f != "id"]
            entries.append((rid, before["names"].get(rid), changes))
        self._write_logs(model, before["rule"], "unlink", entries)

