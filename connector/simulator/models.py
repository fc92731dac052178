"""The model registry: which models exist, their fields as a real Odoo 17 describes them.

Field definitions come from ``data/fields.json`` (trimmed from ``fields_get`` of a real
Odoo 17) and ``data/extra_fields.json`` (a few hand-written helper models). What the
recording cannot tell (default order, one2many inverses, the record name, ``_inherits``)
is declared in the tables below, from the Odoo 17 sources' documented behaviour.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources

AUDITLOG_MODELS = ("auditlog.rule", "auditlog.log", "auditlog.log.line")

# Fields every model has; the registry adds them when a hand-written model lacks them.
MAGIC_FIELDS = {
    "id": {"type": "integer", "string": "ID", "readonly": True, "required": False,
           "store": True},
    "display_name": {"type": "char", "string": "Display Name", "readonly": True,
                     "required": False, "store": False},
    "create_date": {"type": "datetime", "string": "Created on", "readonly": True,
                    "required": False, "store": True},
    "create_uid": {"type": "many2one", "string": "Created by", "relation": "res.users",
                   "readonly": True, "required": False, "store": True},
    "write_date": {"type": "datetime", "string": "Last Updated on", "readonly": True,
                   "required": False, "store": True},
    "write_uid": {"type": "many2one", "string": "Last Updated by", "relation": "res.users",
                  "readonly": True, "required": False, "store": True},
}
LOG_ACCESS_FIELDS = ("create_date", "create_uid", "write_date", "write_uid")

# ``_order`` of each model; ties are broken by id so results are deterministic.
ORDERS = {
    "res.partner": "complete_name asc, id desc",
    "res.users": "name, login",
    "res.lang": "active desc, name",
    "mail.message": "id desc",
    "mail.activity": "date_deadline asc, id asc",
    "mail.activity.type": "sequence, id",
    "ir.model": "model",
    "ir.model.fields": "name",
    "ir.attachment": "id desc",
    "auditlog.log": "create_date desc",
    "res.company": "sequence, name",
    "res.country": "name",
    "res.partner.category": "name",
}

# ``_description``, used in access-error and constraint messages and in ir.model.
DESCRIPTIONS = {
    "res.partner": "Contact",
    "res.users": "User",
    "res.lang": "Languages",
    "mail.message": "Message",
    "mail.activity": "Activity",
    "mail.activity.type": "Activity Type",
    "ir.model": "Models",
    "ir.model.fields": "Fields",
    "ir.attachment": "Attachment",
    "auditlog.rule": "Auditlog - Rule",
    "auditlog.log": "Auditlog - Log",
    "auditlog.log.line": "Auditlog - Log details",
    "res.company": "Companies",
    "res.country": "Country",
    "res.partner.category": "Partner Tags",
}

# The field giving the display name (``_rec_name``); res.partner/res.users are computed.
REC_NAMES = {
    "res.partner": "complete_name",
    "ir.model.fields": "field_description",
    "mail.activity": "summary",
    "mail.message": "record_name",
    "res.lang": "name",
}

# one2many inverses: (model, field) -> (comodel field holding our id, comodel field that
# must hold our model name when the inverse is a many2one_reference).
INVERSES = {
    ("res.partner", "child_ids"): ("parent_id", None),
    ("res.partner", "user_ids"): ("partner_id", None),
    ("res.partner", "message_ids"): ("res_id", "model"),
    ("res.partner", "activity_ids"): ("res_id", "res_model"),
    ("res.users", "message_ids"): ("res_id", "model"),
    ("res.users", "activity_ids"): ("res_id", "res_model"),
    ("mail.message", "child_ids"): ("parent_id", None),
    ("ir.model", "field_id"): ("model_id", None),
    ("auditlog.log", "line_ids"): ("log_id", None),
    ("res.partner.category", "child_ids"): ("parent_id", None),
}

# ``_inherits``: the user's name, email, image... live on its partner.
DELEGATES = {"res.users": ("partner_id", "res.partner")}

# Models inheriting mail.thread (message_post) and mail.activity.mixin.
MAIL_THREAD_MODELS = frozenset({"res.partner", "res.users"})

# many2one fields whose records go with the target (ondelete='cascade'); others set null.
CASCADE = {("auditlog.log.line", "log_id"), ("ir.model.fields", "model_id"),
           ("res.partner.category", "parent_id")}
# many2one fields that forbid deleting their target (ondelete='restrict').
RESTRICT = {("res.users", "partner_id"), ("res.company", "partner_id")}

SCALAR_SQL_TYPES = {
    "boolean": "INTEGER", "integer": "INTEGER", "many2one": "INTEGER",
    "many2one_reference": "INTEGER", "float": "REAL", "monetary": "REAL",
}


@dataclass(eq=False)
class Field:
    """One field of a model, as ``fields_get`` describes it plus storage details."""

    model: str
    name: str
    type: str
    string: str
    attrs: dict
    relation: str | None = None
    required: bool = False
    readonly: bool = False
    store: bool = True
    selection: list | None = None
    column: str | None = None  # the SQL column when the value lives in the model's table
    inverse: str | None = None  # one2many: comodel field pointing back at us
    inverse_model_field: str | None = None  # ... and the comodel field naming our model
    delegate: str | None = None  # _inherits: our many2one field to the record holding it
    rel_table: str = ""  # many2many: the relation table ("" when not stored)

    @property
    def x2many(self) -> bool:
        """True for one2many and many2many fields."""
        return self.type in ("one2many", "many2many")

    @property
    def sql_type(self) -> str:
        """The SQLite column type of the field's values."""
        return SCALAR_SQL_TYPES.get(self.type, "TEXT")

    def describe(self, attributes=None) -> dict:
        """The field's ``fields_get`` entry, restricted to ``attributes`` when given."""
        desc = dict(self.attrs)
        desc.setdefault("name", self.name)
        desc.setdefault("searchable", bool(self.store or self.delegate
                                           or self.name == "display_name"))
        desc.setdefault("sortable", bool(self.store and not self.x2many))
        if self.type == "one2many" and self.inverse:
            desc.setdefault("relation_field", self.inverse)
        if attributes:
            return {key: desc[key] for key in attributes if key in desc}
        return desc


@dataclass(eq=False)
class Model:
    """One model: its fields, table, default order and naming rules."""

    name: str
    fields: dict[str, Field]
    description: str
    order: str
    rec_name: str | None
    table: str = ""
    columns: list[str] = field(default_factory=list)
    m2m_fields: list[Field] = field(default_factory=list)
    mail_thread: bool = False
    delegate: tuple[str, str] | None = None

    @property
    def has_active(self) -> bool:
        """True when records can be archived (an ``active`` boolean column)."""
        fld = self.fields.get("active")
        return bool(fld and fld.column and fld.type == "boolean")

    @property
    def parent_name(self) -> str | None:
        """The field ``child_of``/``parent_of`` follow (``_parent_name``)."""
        fld = self.fields.get("parent_id")
        if fld and fld.type == "many2one" and fld.relation == self.name:
            return "parent_id"
        return None


def _load_json(name: str) -> dict:
    text = resources.files(__package__).joinpath("data").joinpath(name).read_text(encoding="utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


class Registry:
    """All simulated models, keyed by model name."""

    def __init__(self, auditlog: bool = False) -> None:
        raw = _load_json("fields.json")
        for name, fields in _load_json("extra_fields.json").items():
            raw.setdefault(name, fields)
        if not auditlog:
            for name in AUDITLOG_MODELS:
                raw.pop(name, None)
        self.models: dict[str, Model] = {}
        for name in sorted(raw):
            self.models[name] = self._build(name, raw[name])
        self._link()

    def __contains__(self, name: str) -> bool:
        return name in self.models

    def __getitem__(self, name: str) -> Model:
        return self.models[name]

    def _build(self, name: str, raw_fields: dict) -> Model:
        merged = {**{k: v for k, v in MAGIC_FIELDS.items() if k not in raw_fields},
                  **raw_fields}
        fields = {}
        for fname, attrs in merged.items():
            fields[fname] = Field(
                model=name, name=fname, type=attrs["type"],
                string=attrs.get("string", fname), attrs=dict(attrs),
                relation=attrs.get("relation"), required=bool(attrs.get("required")),
                readonly=bool(attrs.get("readonly")), store=bool(attrs.get("store")),
                selection=attrs.get("selection"),
            )
        return Model(
            name=name, fields=fields, table=name.replace(".", "_"),
            description=DESCRIPTIONS.get(name, name), order=ORDERS.get(name, "id"),
            rec_name=REC_NAMES.get(name, "name" if "name" in fields else None),
            mail_thread=name in MAIL_THREAD_MODELS, delegate=DELEGATES.get(name),
        )

    def _link(self) -> None:
        """Decide storage of every field now that all models are known."""
        for model in self.models.values():
            for fld in model.fields.values():
                if fld.name == "id" or not fld.store:
                    continue
                if fld.type == "one2many":
                    inverse = INVERSES.get((model.name, fld.name))
                    if inverse and fld.relation in self.models:
                        fld.inverse, fld.inverse_model_field = inverse
                elif fld.type == "many2many":
                    fld.rel_table = f"{model.table}__{fld.name}__rel"
                    model.m2m_fields.append(fld)
                else:
                    fld.column = fld.name
                    model.columns.append(fld.name)
        # _inherits: a non-stored field that the parent model stores lives on the parent.
        for model in self.models.values():
            if not model.delegate or model.delegate[1] not in self.models:
                continue
            parent = self.models[model.delegate[1]]
            for fld in model.fields.values():
                pfield = parent.fields.get(fld.name)
                if fld.store or pfield is None or not pfield.store:
                    continue
                fld.delegate = model.delegate[0]
                fld.inverse, fld.inverse_model_field = pfield.inverse, pfield.inverse_model_field

    def model_names(self) -> list[str]:
        """Names of all simulated models, sorted."""
        return sorted(self.models)
