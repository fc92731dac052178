"""Relational side of writes: x2many commands, copy, unlink and its foreign-key effects."""

from __future__ import annotations

from .database import quote
from .errors import ValidationError
from .models import CASCADE, RESTRICT
from .orm_read import normalize_ids
from .orm_write import SKIPPED_ON_WRITE, WriteMethods

_PARTNER_COMPUTED = frozenset({"complete_name", "commercial_partner_id",
                               "commercial_company_name", "email_normalized",
                               "phone_sanitized", "image_1024", "image_512", "image_256",
                               "image_128"})


class RelationMethods(WriteMethods):
    """x2many commands, copy and unlink of one model; part of :class:`orm.BaseModel`."""

    # -- relational commands ----------------------------------------------------------

    def _apply_x2many(self, rid: int, fld, commands: list[tuple]) -> None:
        env = self.env
        comodel = env.registry.models.get(fld.relation or "")
        if fld.type == "many2many":
            current = env.view.m2m(self.model, fld, [rid])[rid]
            wanted = list(current)
            for command in commands:
                op = command[0]
                if op == 0 and comodel is not None:
                    wanted.append(env[comodel.name]._create([command[2]])[0])
                elif op == 1 and comodel is not None:
                    env[comodel.name]._write([command[1]], command[2])
                elif op == 2:
                    if comodel is not None:
                        env[comodel.name]._unlink([command[1]])
                    wanted = [i for i in wanted if i != command[1]]
                elif op == 3:
                    wanted = [i for i in wanted if i != command[1]]
                elif op == 4 and command[1] not in wanted:
                    wanted.append(int(command[1]))
                elif op == 5:
                    wanted = []
                elif op == 6:
                    wanted = [int(i) for i in command[2]]
            if wanted != current:
                env.view.set_m2m(self.model, fld, rid, wanted)
            return
        if comodel is None or not fld.inverse:
            return  # a one2many to a model the simulator does not hold
        co = env[comodel.name]
        link = {fld.inverse: rid}
        if fld.inverse_model_field:
            link[fld.inverse_model_field] = self.model.name
        for command in commands:
            op = command[0]
            if op == 0:
                co._create([{**command[2], **link}])
            elif op == 1:
                co._write([command[1]], command[2])
            elif op == 2:
                co._unlink([command[1]])
            elif op == 3:
                co._write([command[1]], {fld.inverse: False})
            elif op == 4:
                co._write([command[1]], link)
            elif op in (5, 6):
                current = co._search([(fld.inverse, "=", rid)], active_test=False)
                keep = [int(i) for i in command[2]] if op == 6 else []
                gone = [i for i in current if i not in keep]
                if gone:
                    co._write(gone, {fld.inverse: False})
                if keep:
                    co._write(keep, link)

    # -- copy -------------------------------------------------------------------------

    def copy(self, ids, default=None):
        """Duplicate one record (stored scalar and many2many values); returns the new id."""
        ids = normalize_ids(ids)
        if len(ids) != 1:
            raise ValueError(f"Expected singleton: {self.model.name}{tuple(ids)!r}")
        self._check_missing(ids)
        model = self.model
        names = [f.name for f in model.fields.values()
                 if (f.column or f.rel_table) and f.name not in SKIPPED_ON_WRITE
                 and not (model.name == "res.partner" and f.name in _PARTNER_COMPUTED)]
        [row] = self._read(ids, names, "_classic_write")
        vals = {k: v for k, v in row.items() if k != "id"}
        for name in names:
            if model.fields[name].type == "many2many":
                vals[name] = [(6, 0, vals[name])]
        if model.name == "res.partner" and vals.get("name"):
            vals["name"] = f"{vals['name']} (copy)"
        vals.update(default or {})
        return self._create([vals])[0]

    # -- unlink -----------------------------------------------------------------------

    def unlink(self, ids):
        """Delete records; related rows are cascaded or set to NULL like Odoo's FKs."""
        self._unlink(normalize_ids(ids))
        return True

    def _unlink(self, ids: list[int]) -> None:
        env, model = self.env, self.model
        self._check_missing(ids)
        if not ids:
            return
        audit = env.audit
        before = audit.snapshot(model, ids, "unlink") if audit is not None else None
        if model.mail_thread:
            for other, field_model in (("mail.message", "model"),
                                       ("mail.activity", "res_model")):
                dependants = env[other]._search(
                    [(field_model, "=", model.name), ("res_id", "in", ids)],
                    active_test=False)
                if dependants:
                    env[other]._unlink(dependants)
        self._detach_references(ids)
        env.view.delete(model, ids)
        if audit is not None:
            audit.log_unlink(model, ids, before)

    def _detach_references(self, ids: list[int]) -> None:
        """ON DELETE CASCADE / SET NULL of every many2one pointing at ``ids``."""
        env = self.env
        marks = ",".join("?" * len(ids))
        for other in env.registry.models.values():
            for fld in other.fields.values():
                if fld.type != "many2one" or fld.relation != self.model.name or not fld.column:
                    continue
                refs = [r[0] for r in env.view.query(
                    f"SELECT id FROM {env.view.src(other)} AS t "
                    f"WHERE t.{quote(fld.column)} IN ({marks})", ids)]
                refs = [r for r in refs if not (other is self.model and r in ids)]
                if not refs:
                    continue
                if (other.name, fld.name) in RESTRICT:
                    raise ValidationError(
                        "The operation cannot be completed: another model requires the record "
                        "being deleted. If possible, archive it instead.\n\n"
                        f"Model: {other.description} ({other.name})\n"
                        f"Constraint: {other.table}_{fld.name}_fkey\n")
                if (other.name, fld.name) in CASCADE:
                    env[other.name]._unlink(refs)
                else:
                    env.view.update(other, refs, {fld.column: None})
            for fld in other.m2m_fields:
                # Inside a held transaction dangling links are harmless: reads of a
                # many2many keep only related ids that still exist.
                if fld.relation == self.model.name and env.view.txn is None:
                    env.view.conn.execute(
                        f"DELETE FROM {quote(fld.rel_table)} WHERE dst IN ({marks})", ids)
