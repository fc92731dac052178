"""Base and demo data: the records a fresh Odoo 17 database (with demo data) starts with.

Ids follow the recorded server where the recording shows them: admin is uid 2 with partner
3, ``search([('is_company', '=', True)], limit=3)`` returns ``[14, 10, 11]`` (Azure
Interior, Deco Addict, Gemini Furniture), and res.partner is ir.model 85.
"""

from __future__ import annotations

from .orm import Env

ADMIN_UID = 2
SUPERUSER_UID = 1

CATEGORIES = [(1, "Vendor"), (2, "Prospects"), (3, "Employees"), (4, "Consulting Services"),
              (5, "Desk Manufacturers"), (6, "Office Supplies"), (7, "Services"),
              (8, "Components")]
ACTIVITY_TYPES = [(1, "Email", "fa-envelope"), (2, "Call", "fa-phone"),
                  (3, "Meeting", "fa-users"), (4, "To-Do", "fa-check"),
                  (5, "Upload Document", "fa-upload")]
COUNTRIES = [(21, "Belgium", "BE"), (75, "France", "FR"), (233, "United States", "US")]

# (id, name, parent id, email, phone, city, category ids)
COMPANIES = [
    (9, "Wood Corner", None, "wood.corner26@example.com", "(623)-853-7197", "Turlock", []),
    (10, "Deco Addict", None, "deco.addict82@example.com", "(603)-996-3829", "Pleasant Hill",
     [7]),
    (11, "Gemini Furniture", None, "gemini.furniture39@example.com", "(941)-284-4875",
     "Fairfield", [4, 7]),
    (12, "Ready Mat", None, "ready.mat28@example.com", "(803)-873-6126", "Tracy", []),
    (13, "The Jackson Group", None, "jackson.group82@example.com", "(334)-502-1024",
     "Los Angeles", []),
    (14, "Azure Interior", None, "azure.Interior24@example.com", "(870)-931-0505",
     "Fremont", [5]),
    (15, "Lumber Inc", None, "lumber-inv92@example.com", "(828)-316-0593", "Stockton", []),
]
CONTACTS = [
    (17, "Brandon Freeman", 14, "brandon.freeman55@example.com", "(355)-687-3262"),
    (18, "Colleen Diaz", 14, "colleen.diaz83@example.com", "(255)-595-8393"),
    (19, "Nicole Ford", 14, "nicole.ford75@example.com", "(946)-638-6034"),
    (20, "Douglas Fletcher", 10, "douglas.fletcher51@example.com", "(132)-553-7242"),
    (21, "Floyd Steward", 10, "floyd.steward34@example.com", "(145)-138-3401"),
    (22, "Addison Olson", 10, "addison.olson28@example.com", "(223)-399-7637"),
    (23, "Edwin Hansen", 11, "edwin.hansen58@example.com", "(943)-352-2555"),
    (24, "Jesse Brown", 11, "jesse.brown74@example.com", "(829)-386-3277"),
    (25, "Oscar Morgan", 11, "oscar.morgan11@example.com", "(561)-239-1744"),
    (26, "Billy Fox", 15, "billy.fox45@example.com", "(915)-498-5611"),
    (27, "Chester Reed", 9, "chester.reed79@example.com", "(979)-904-8902"),
    (28, "Kim Snyder", 12, "kim.snyder96@example.com", "(215)-379-4865"),
    (29, "Theodore Gardner", 13, "theodore.gardner36@example.com", "(186)-612-6561"),
    (30, "Toni Jimenez", 13, "toni.jimenez23@example.com", "(663)-707-8451"),
    (31, "Lorraine Douglas", 9, "lorraine.douglas35@example.com", "(443)-648-9155"),
    (32, "Julie Richards", 12, "julie.richards84@example.com", "(225)-148-7811"),
    (33, "Jeff Lawson", None, "jeff.lawson52@example.com", "(461)-417-6587"),
    (34, "Soham Palmer", None, "soham.palmer15@example.com", "(379)-167-2040"),
]


def _at(env: Env, model: str, record_id: int, values: dict) -> int:
    """Create one record with a chosen id (ids only grow, like a sequence)."""
    storage = env.storage
    with storage.lock:
        storage._next_ids[model] = max(storage._next_ids[model], record_id)
    return env[model]._create([values])[0]


def load(storage, now, demo: bool = True) -> None:
    """Fill an empty database with base records and, when ``demo``, demo records."""
    with storage.atomic():
        env = Env(storage, storage.view(None), SUPERUSER_UID,
                  {"lang": "en_US", "tz": "Europe/Brussels"}, now)
        _models(env)
        _base(env, demo)
        if demo:
            _demo(env)
        storage.conn.executemany(
            "INSERT INTO sim_auth (uid, password) VALUES (?, ?)",
            [(SUPERUSER_UID, None), (ADMIN_UID, "admin"), (4, None)]
            + ([(6, "demo")] if demo else []))


def _models(env: Env) -> None:
    registry = env.registry
    names = ["res.partner"] + [n for n in registry.model_names() if n != "res.partner"]
    ids = {}
    for offset, name in enumerate(names):
        model = registry[name]
        ids[name] = _at(env, "ir.model", 85 + offset, {
            "name": model.description, "model": name, "state": "base", "order": model.order,
            "is_mail_thread": model.mail_thread, "is_mail_activity": model.mail_thread})
    rows = []
    for name in names:
        for fld in registry[name].fields.values():
            rows.append({
                "name": fld.name, "model": name, "model_id": ids[name],
                "field_description": fld.string, "ttype": fld.type,
                "relation": fld.relation or False, "required": fld.required,
                "readonly": fld.readonly, "store": fld.store, "state": "base",
                "relation_field": fld.inverse or False,
            })
    with env.storage.lock:
        env.storage._next_ids["ir.model.fields"] = max(env.storage._next_ids["ir.model.fields"],
                                                       1000)
    env["ir.model.fields"]._create(rows)


#: External ids of the base records, with the ids a fresh Odoo 17 database gives them.
XML_IDS = [(2, "main_company", "res.company", 1), (3, "main_partner", "res.partner", 1),
           (4, "user_root", "res.users", 1), (2517, "partner_root", "res.partner", 2),
           (2518, "partner_admin", "res.partner", 3), (2519, "public_partner", "res.partner", 4),
           (2718, "user_admin", "res.users", 2), (2721, "public_user", "res.users", 4)]


def _base(env: Env, demo: bool) -> None:
    _at(env, "res.lang", 1, {"name": "English (US)", "code": "en_US", "iso_code": "en",
                             "url_code": "en", "active": True})
    _at(env, "res.lang", 2, {"name": "French / Français", "code": "fr_FR", "iso_code": "fr",
                             "url_code": "fr", "active": False, "date_format": "%d/%m/%Y",
                             "decimal_point": ",", "thousands_sep": "\u202f"})
    for rid, name, code in COUNTRIES:
        _at(env, "res.country", rid, {"name": name, "code": code})
    for rid, name, icon in ACTIVITY_TYPES:
        _at(env, "mail.activity.type", rid, {"name": name, "icon": icon, "sequence": rid})
    partners = env["res.partner"]
    _at(env, "res.partner", 1, {"name": "YourCompany", "is_company": True,
                                "email": "info@yourcompany.com", "phone": "+1 555-555-5556",
                                "city": "San Francisco", "country_id": 233})
    _at(env, "res.partner", 2, {"name": "OdooBot", "email": "odoobot@example.com",
                                "image_1920": False})
    _at(env, "res.partner", 3, {"name": "Mitchell Admin", "parent_id": 1 if demo else False,
                                "email": "admin@yourcompany.example.com",
                                "phone": "+1 555-555-5555", "tz": "Europe/Brussels",
                                "partner_share": False})
    _at(env, "res.partner", 4, {"name": "Public user", "active": False})
    _at(env, "res.company", 1, {"name": "YourCompany", "partner_id": 1})
    users = [(1, "OdooBot", "__system__", 2, False), (2, "Mitchell Admin", "admin", 3, True),
             (4, "Public user", "public", 4, False)]
    for uid, _name, login, partner_id, active in users:
        _at(env, "res.users", uid, {"login": login, "partner_id": partner_id,
                                    "active": active, "share": login == "public"})
    partners._write([2, 3], {"partner_share": False})
    for rid, name, model, res_id in XML_IDS:
        _at(env, "ir.model.data", rid, {"module": "base", "name": name, "model": model,
                                        "res_id": res_id, "noupdate": True})


def _demo(env: Env) -> None:
    for rid, name in CATEGORIES:
        _at(env, "res.partner.category", rid, {"name": name})
    _at(env, "res.partner", 7, {"name": "Marc Demo", "parent_id": 1,
                                "email": "mark.brown23@example.com",
                                "tz": "Europe/Brussels"})
    _at(env, "res.users", 6, {"login": "demo", "partner_id": 7})
    for rid, name, parent, email, phone, city, categories in COMPANIES:
        _at(env, "res.partner", rid, {
            "name": name, "is_company": True, "parent_id": parent or False, "email": email,
            "phone": phone, "city": city, "country_id": 233,
            "category_id": [(6, 0, categories)]})
    for rid, name, parent, email, phone in CONTACTS:
        _at(env, "res.partner", rid, {"name": name, "parent_id": parent or False,
                                      "email": email, "phone": phone})
    env["res.partner"]._write([7], {"partner_share": False})
