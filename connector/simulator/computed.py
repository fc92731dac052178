"""Business rules of the simulated models: defaults, computed fields, display names.

Only what an external client can observe is modelled: the stored computed fields of
res.partner (``complete_name``, ``commercial_partner_id``, ``email_normalized``,
``phone_sanitized``...), the partner name constraint, display names, and the usual
non-stored values a full ``read`` returns.
"""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

from .errors import ValidationError

PARTNER_TREE_FIELDS = frozenset({"name", "parent_id", "is_company", "type", "company_name"})
_TAG_RE = re.compile(r"<[^>]+>")
_EMAIL_RE = re.compile(r"([^\s<>,;\"']+@[^\s<>,;\"']+)")
_TYPE_LABELS = {"invoice": "Invoice Address", "delivery": "Delivery Address",
                "other": "Other Address", "contact": "Contact"}


def _selection_default(env, field_name, value, fallback):
    selection = env.registry["res.partner"].fields[field_name].selection or []
    return value if any(key == value for key, _label in selection) else fallback


def _context_lang(env):
    return _selection_default(env, "lang", env.context.get("lang"), "en_US")


def _context_tz(env):
    return _selection_default(env, "tz", env.context.get("tz"), False)


def _now_seconds(env):
    return env.now.replace(microsecond=0)


DEFAULTS: dict[str, dict[str, Any]] = {
    "res.partner": {"is_company": False, "type": "contact", "color": 0, "employee": False,
                    "partner_share": True, "message_bounce": 0, "active": True,
                    "lang": _context_lang, "tz": _context_tz},
    "res.users": {"share": False, "company_id": 1, "active": True,
                  "notification_type": "email"},
    "mail.message": {"message_type": "email", "date": _now_seconds,
                     "author_id": lambda env: env.user_partner_id()},
    "mail.activity": {"user_id": lambda env: env.uid, "automated": False, "active": True},
    "auditlog.rule": {"state": "draft", "log_type": "full", "log_create": True,
                      "log_write": True, "log_unlink": True, "log_read": False,
                      "capture_record": False},
    "res.lang": {"active": False, "direction": "ltr", "date_format": "%m/%d/%Y",
                 "time_format": "%H:%M:%S", "decimal_point": ".", "thousands_sep": ",",
                 "grouping": "[3,0]", "week_start": "7"},
    "ir.model": {"state": "manual", "order": "id", "transient": False},
    "ir.model.fields": {"state": "manual"},
    "ir.attachment": {"type": "binary", "public": False},
    "res.partner.category": {"active": True, "color": 0},
    "mail.activity.type": {"active": True, "sequence": 10, "category": "default"},
    "res.company": {"active": True, "sequence": 10},
}


def default_values(env, model) -> dict:
    """Default values of ``model`` for a new record (callables evaluated now)."""
    values = {}
    for name, value in DEFAULTS.get(model.name, {}).items():
        if name in model.fields:
            values[name] = value(env) if callable(value) else value
    if "active" in model.fields and "active" not in values and model.fields["active"].column:
        values["active"] = True
    return values


# -- helpers used by several models -----------------------------------------------------

def normalize_email(email):
    """Odoo's ``email_normalize``: the lower-cased address part, or None."""
    if not email:
        return None
    match = _EMAIL_RE.search(str(email))
    return match.group(1).lower() if match else None


def sanitize_phone(number):
    """A stand-in for phone_validation: digits and a leading +, or None."""
    if not number:
        return None
    text = str(number).strip()
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    return ("+" if text.startswith("+") else "") + digits


def format_address(name, email):
    """``"Name" <email>`` as Odoo's formataddr writes it."""
    if not email:
        return False
    return f'"{name}" <{email}>' if name else email


def plain_text(body):
    """The text of an HTML body (for previews)."""
    if not body:
        return ""
    return html.unescape(_TAG_RE.sub(" ", body)).strip()


def html_body(body):
    """Odoo keeps HTML bodies and turns plain text into an escaped paragraph."""
    if body is None or body is False:
        return ""
    text = str(body)
    if not text or _TAG_RE.search(text):
        return text
    return "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"


# -- res.partner stored computed fields ------------------------------------------------

def partner_compute(env, rows: list[dict], parents: dict[int, dict]) -> None:
    """Fill the stored computed columns of partner ``rows`` (full column dicts).

    ``parents`` maps parent ids to their (already computed) rows; rows of the same batch
    may be parents of later rows.
    """
    by_id = {row["id"]: row for row in rows}
    for row in rows:
        parent_id = row.get("parent_id") or 0
        parent = by_id.get(parent_id) or parents.get(parent_id)
        if row.get("is_company") or not parent:
            row["commercial_partner_id"] = row["id"]
        else:
            row["commercial_partner_id"] = parent.get("commercial_partner_id") or parent["id"]
        commercial = row if row["commercial_partner_id"] == row["id"] else (
            by_id.get(row["commercial_partner_id"]) or parents.get(row["commercial_partner_id"])
            or parent)
        if commercial is not None and commercial.get("is_company"):
            row["commercial_company_name"] = commercial.get("name")
        else:
            row["commercial_company_name"] = row.get("company_name")
        name = row.get("name") or ""
        if not name and row.get("type") in ("invoice", "delivery", "other"):
            name = _TYPE_LABELS[row["type"]]
        if parent and not row.get("is_company"):
            prefix = row.get("commercial_company_name") or parent.get("name")
            name = f"{prefix}, {name}" if prefix else name
        row["complete_name"] = name or row.get("name")
        row["email_normalized"] = normalize_email(row.get("email"))
        row["phone_sanitized"] = sanitize_phone(row.get("mobile")) or sanitize_phone(
            row.get("phone"))
        image = row.get("image_1920")
        for size in ("image_1024", "image_512", "image_256", "image_128"):
            row[size] = image


def partner_check(rows: list[dict]) -> None:
    """The SQL constraint ``check_name`` of res.partner."""
    for row in rows:
        if row.get("type", "contact") == "contact" and row.get("name") is None:
            raise ValidationError("The operation cannot be completed: Contacts require a name")


# -- display names ---------------------------------------------------------------------

def display_names(env, model, ids) -> dict[int, str]:
    """{id: display_name} of existing records of ``model`` among ``ids``."""
    if not ids:
        return {}
    view = env.view
    if model.name == "res.partner":
        rows = view.fetch(model, ids, ["complete_name", "name"])
        return {i: r["complete_name"] or r["name"] or "" for i, r in rows.items()}
    if model.delegate:
        link = model.delegate[0]
        rows = view.fetch(model, ids, [link])
        parent = env.registry[model.delegate[1]]
        pnames = {i: r["name"] for i, r in view.fetch(
            parent, [r[link] for r in rows.values() if r[link]], ["name"]).items()}
        return {i: pnames.get(r[link]) or "" for i, r in rows.items()}
    if model.name == "mail.activity":
        rows = view.fetch(model, ids, ["summary", "activity_type_id"])
        types = env.registry.models.get("mail.activity.type")
        tnames = {}
        if types is not None:
            tnames = {i: r["name"] for i, r in view.fetch(
                types, [r["activity_type_id"] for r in rows.values() if r["activity_type_id"]],
                ["name"]).items()}
        return {i: r["summary"] or tnames.get(r["activity_type_id"]) or f"{model.name},{i}"
                for i, r in rows.items()}
    rec = model.rec_name
    if rec and model.fields[rec].column:
        rows = view.fetch(model, ids, [rec])
        return {i: r[rec] or f"{model.name},{i}" for i, r in rows.items()}
    return {i: f"{model.name},{i}" for i in view.existing(model, ids)}


# -- non-stored values of a read ---------------------------------------------------------

def _activity_state(deadline, today: date):
    if not deadline:
        return False
    days = (date.fromisoformat(deadline[:10]) - today).days
    return "overdue" if days < 0 else "today" if days == 0 else "planned"


def unstored_values(env, model, name, ids, rows) -> dict | None:
    """Values of a non-stored field for ``ids`` (rows hold stored columns), or None."""
    if name == "display_name":
        return display_names(env, model, ids)
    if model.name == "res.partner":
        if name == "company_type":
            return {i: "company" if rows[i].get("is_company") else "person" for i in ids}
        if name == "email_formatted":
            return {i: format_address(rows[i].get("name"), rows[i].get("email")) for i in ids}
        if name.startswith("avatar_"):
            return {i: rows[i].get("image_1920") or False for i in ids}
        if name == "self":
            return {i: i for i in ids}
        if name == "parent_name":
            parents = env.view.fetch(model, [rows[i]["parent_id"] for i in ids
                                             if rows[i].get("parent_id")], ["name"])
            return {i: (parents.get(rows[i].get("parent_id")) or {}).get("name") or False
                    for i in ids}
        if name == "active_lang_count":
            return {i: 1 for i in ids}
    if model.name == "mail.message" and name == "preview":
        return {i: plain_text(rows[i].get("body")) or False for i in ids}
    if model.name == "mail.activity":
        if name == "state":
            today = env.now.date()
            return {i: _activity_state(rows[i].get("date_deadline"), today) for i in ids}
        if name == "can_write":
            return {i: True for i in ids}
    if model.name == "ir.attachment" and name == "datas":
        return {i: rows[i].get("db_datas") or False for i in ids}
    return None


# Columns a non-stored value above needs, beyond the requested ones.
UNSTORED_NEEDS = {
    ("res.partner", "company_type"): ("is_company",),
    ("res.partner", "email_formatted"): ("name", "email"),
    ("res.partner", "parent_name"): ("parent_id",),
    ("mail.message", "preview"): ("body",),
    ("mail.activity", "state"): ("date_deadline",),
    ("ir.attachment", "datas"): ("db_datas",),
}
for _size in ("1920", "1024", "512", "256", "128"):
    UNSTORED_NEEDS[("res.partner", f"avatar_{_size}")] = ("image_1920",)
