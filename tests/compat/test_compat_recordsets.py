"""Recordset idioms of Odoo code, over RPC against the simulator: search and browse, reading
fields (relational ones as recordsets), writing, the functional helpers, and env."""

from __future__ import annotations

import pytest

# Demo data of the simulator: Azure Interior (14) has three contacts; admin is uid 2 with
# partner 3 "Mitchell Admin", whose parent is YourCompany (1).
VALUES = [
    ("return env['res.partner'].search([('is_company', '=', True)], limit=3).ids",
     [14, 10, 11]),
    ("return env['res.partner'].search_count([('parent_id', '=', 14)])", 3),
    ("return env['res.partner'].search([('parent_id', '=', 14)], order='name desc')"
     ".mapped('name')", ["Nicole Ford", "Colleen Diaz", "Brandon Freeman"]),
    ("return env['res.partner'].search([('parent_id', '=', 14)], offset=1, limit=1).name",
     "Colleen Diaz"),
    ("return env['res.partner'].search_read([('id', '=', 14)], ['name', 'city'])",
     [{"id": 14, "name": "Azure Interior", "city": "Fremont"}]),
    ("return env['res.partner'].browse(14).read(['email'])",
     [{"id": 14, "email": "azure.Interior24@example.com"}]),
    ("p = env['res.partner'].browse(17)\nreturn p.parent_id.name, p.parent_id.id",
     ["Azure Interior", 14]),
    ("return env['res.partner'].browse(14).child_ids.mapped('name')",
     ["Brandon Freeman", "Colleen Diaz", "Nicole Ford"]),
    ("return env['res.partner'].browse(11).category_id.mapped('name')",
     ["Consulting Services", "Services"]),
    ("return env['res.partner'].browse([14, 10]).mapped('child_ids.parent_id.name')",
     ["Azure Interior", "Deco Addict"]),
    ("return env['res.partner'].browse([17, 18]).mapped(lambda p: p.name.split()[0])",
     ["Brandon", "Colleen"]),
    ("kids = env['res.partner'].browse(14).child_ids\n"
     "return kids.filtered(lambda p: p.name.startswith('C')).ids", [18]),
    ("return env['res.partner'].browse([14, 1, 17]).filtered('is_company').ids", [14, 1]),
    ("return env['res.partner'].browse([17, 18, 19]).sorted('name', reverse=True).ids",
     [19, 18, 17]),
    ("return env['res.partner'].browse([19, 17, 18]).sorted(lambda p: p.id).ids", [17, 18, 19]),
    ("return env['res.partner'].browse([19, 17, 18]).sorted().ids", [17, 18, 19]),
    ("return env['res.partner'].browse([14, 999999]).exists().ids", [14]),
    ("return env['res.partner'].browse(14).ensure_one().name", "Azure Interior"),
    ("try:\n    env['res.partner'].browse([14, 10]).ensure_one()\nexcept ValueError:\n"
     "    return 'not one'", "not one"),
    ("e = env['res.partner']\nreturn e.id, e.ids, len(e), bool(e), e.browse().ids",
     [False, [], 0, False, []]),
    ("return env['res.partner'].browse(14).display_name", "Azure Interior"),
    ("return env['res.partner'].browse(17).display_name", "Azure Interior, Brandon Freeman"),
    ("return env['res.partner'].browse([14]).name_get()", [[14, "Azure Interior"]]),
    ("ps = env['res.partner'].browse([17, 18, 19])\nreturn ps[0].id, ps[1:].ids, ps[-1].id",
     [17, [18, 19], 19]),
    ("ps = env['res.partner'].browse([17, 18])\nreturn [p.id for p in ps], len(ps)",
     [[17, 18], 2]),
    ("a = env['res.partner'].browse([17, 18])\nb = env['res.partner'].browse([18, 19])\n"
     "return (a | b).ids, (a & b).ids, (a - b).ids, (a + b).ids",
     [[17, 18, 19], [18], [17], [17, 18, 18, 19]]),
    ("ps = env['res.partner'].browse([17, 18])\n"
     "return env['res.partner'].browse(17) in ps, ps == env['res.partner'].browse([17, 18])",
     [True, True]),
    ("return env['res.partner'].browse(14)['name']", "Azure Interior"),
    ("return sum(len(c.child_ids) for c in env['res.partner'].browse([14, 10, 11]))", 9),
    ("return {p.id: p.email for p in env['res.partner'].browse([17, 18])}",
     {"17": "brandon.freeman55@example.com", "18": "colleen.diaz83@example.com"}),
    ("f = env['res.partner'].fields_get(['email'], ['type', 'string'])\nreturn f['email']",
     {"type": "char", "string": "Email"}),
    ("return env['res.partner'].browse(14).country_id.code", "US"),
    ("return env['res.partner'].browse(3).create_date.year > 2000", True),
    ("return bool(env['res.partner'].browse(14).parent_id), env['res.partner'].browse(14)"
     ".parent_id.name", [False, False]),
    ("return env.user.name, env.user.id, env.uid", ["Mitchell Admin", 2, 2]),
    ("p = env['res.partner'].browse(14)\nreturn p.env.uid, p.env['res.users'].browse(2).login",
     [2, "admin"]),
    ("return env.user.partner_id.parent_id.name", "YourCompany"),
    ("return env.context, env.lang, env.with_context(lang='fr_FR').lang",
     [{}, None, "fr_FR"]),
    ("return env['res.partner'].with_context(active_test=False).search_count("
     "[('id', '=', 4)])", 1),
    ("return env['res.partner'].search_count([('id', '=', 4)])", 0),
    ("return env['res.partner'].browse(14).sudo().name", "Azure Interior"),
    ("return env['res.partner'].sudo().browse(14).with_context(tracking_disable=True).id", 14),
    ("return get_lang(env).code, get_lang(env, 'fr_FR').code", ["en_US", "en_US"]),
    ("return env['res.users'].search([('login', '=', 'admin')]).partner_id.id", 3),
    ("return env['res.partner'].browse(17).parent_id.child_ids.ids", [17, 18, 19]),
]


@pytest.mark.parametrize(("body", "expected"), VALUES, ids=[str(i) for i in range(len(VALUES))])
def test_recordset_snippet(compat, body, expected):
    assert compat.value(body) == expected


def test_create_write_copy_unlink(compat, odoo):
    value = compat.value("""
        Partner = env["res.partner"]
        ada = Partner.create({"name": "Ada Create", "email": "ada@example.com"})
        ada.write({"phone": "+32 1", "parent_id": env["res.partner"].browse(14)})
        twin = ada.copy({"name": "Ada Copy"})
        both = Partner.create([{"name": "Bulk 1"}, {"name": "Bulk 2"}])
        both.unlink()
        return [ada.id, twin.id, ada.phone, ada.parent_id.name, both.exists().ids]
    """)
    ada, twin, phone, parent, remaining = value
    assert (phone, parent, remaining) == ("+32 1", "Azure Interior", [])
    rows = odoo.read("res.partner", [ada, twin], ["name", "parent_id"])
    assert [r["name"] for r in rows] == ["Ada Create", "Ada Copy"]
    assert rows[0]["parent_id"][0] == 14


def test_write_a_many2many_with_a_recordset(compat, odoo):
    partner = compat.partner()
    compat.value(f"""
        tags = env["res.partner.category"].search([("name", "in", ["Vendor", "Services"])])
        env["res.partner"].browse({partner}).write({{"category_id": tags}})
    """)
    assert sorted(odoo.read("res.partner", partner, ["category_id"])["category_id"]) == [1, 7]


def test_write_with_odoo_commands(compat, odoo):
    partner = compat.partner()
    compat.value(f"""
        env["res.partner"].browse({partner}).write({{"category_id": [(4, 2), (4, 3)]}})
    """)
    assert sorted(odoo.read("res.partner", partner, ["category_id"])["category_id"]) == [2, 3]


def test_values_read_after_a_write_are_fresh(compat):
    partner = compat.partner()
    assert compat.value(f"""
        p = env["res.partner"].browse({partner})
        before = p.city
        p.write({{"city": "Namur"}})
        return [before, p.city]
    """) == [False, "Namur"]


def test_message_post_reaches_the_chatter(compat, odoo):
    partner = compat.partner()
    compat.value(f"""
        msg = env["res.partner"].browse({partner}).message_post(
            body="Synced with <b>shop</b>", message_type="comment")
        return msg.ids
    """)
    bodies = [m["body"] for m in odoo.call("mail.message", "search_read",
                                            [("model", "=", "res.partner"),
                                             ("res_id", "=", partner)], ["body"])]
    assert any("Synced with <b>shop</b>" in body for body in bodies)


def test_a_deleted_record_raises_missing_error(compat):
    assert compat.value("""
        try:
            return env["res.partner"].browse(999999).name
        except MissingError as exc:
            return "missing: %s" % ("999999" in str(exc))
    """) == "missing: True"


def test_an_odoo_validation_error_arrives_as_such(compat):
    assert compat.value("""
        try:
            env["res.partner"].create({})
        except ValidationError as exc:
            return ["validation", "name" in str(exc).lower() or "required" in str(exc).lower()]
    """) == ["validation", True]


def test_assigning_a_field_is_refused_with_a_hint(compat):
    run = compat.button("def handle_button():\n    env['res.partner'].browse(14).name = 'x'\n")
    assert run.state == "failed"
    assert "write" in run.error


def test_augmented_assignment_of_a_record_item_is_refused_with_a_hint(compat):
    """``d[k] += v`` works on containers; on a record it meets the write guard of ``d[k] = v``."""
    run = compat.button("def handle_button():\n"
                        "    partner = env['res.partner'].browse(14)\n"
                        "    partner['name'] += ' (copy)'\n")
    assert run.state == "failed"
    assert "write" in run.error


def test_model_methods_are_called_over_rpc(compat):
    """An attribute that is not a field calls the model's method: Odoo's answer comes back."""
    run = compat.button("def handle_button():\n"
                        "    env['res.partner'].browse(14).action_no_such_method()\n")
    assert run.state == "failed"
    assert "action_no_such_method" in run.error


def test_read_group_is_a_model_call(compat):
    """read_group goes to Odoo as a model method (the built-in simulator does not have it;
    Odoo 17 answers the groups)."""
    assert compat.value("""
        try:
            groups = env["res.partner"].read_group([("parent_id", "in", [14, 10])],
                                                   ["parent_id"], ["parent_id"])
            return sorted(g["parent_id_count"] for g in groups)
        except UserError as exc:
            return "refused: read_group" if "read_group" in str(exc) else str(exc)
    """) in ([3, 3], "refused: read_group")


NOT_MERGED = "issue 13: recordset methods (with_user, message_post attachments, binary " \
    "fields as bytes) not merged yet"


def test_with_user(compat):
    assert compat.value("return env['res.partner'].browse(14).with_user(env.user).name") \
        == "Azure Interior"


def test_message_post_with_attachments(compat, odoo):
    partner = compat.partner()
    names = compat.value(f"""
        msg = env["res.partner"].browse({partner}).message_post(
            body="Invoice", attachments=[("invoice.txt", b"total: 10")])
        return msg.attachment_ids.mapped("name")
    """)
    assert names == ["invoice.txt"]


def test_binary_fields_are_bytes(compat):
    assert compat.value("""
        att = env["ir.attachment"].create({"name": "a.txt", "datas": b64encode(b"hello"),
                                           "res_model": "res.partner", "res_id": 14})
        return [type2str(att.datas), b64decode(att.datas).decode()]
    """) == ["<class 'bytes'>", "hello"]


def test_binary_written_as_base64_text_is_stored(compat, odoo):
    """Today's spelling, valid before and after binary fields become bytes."""
    attachment = compat.value("""
        att = env["ir.attachment"].create({"name": "b.txt",
                                           "datas": b64encode(b"hello").decode(),
                                           "res_model": "res.partner", "res_id": 14})
        return att.id
    """)
    assert odoo.read("ir.attachment", attachment, ["datas"])["datas"] == "aGVsbG8="


def test_env_ref(compat):
    assert compat.value("return env.ref('base.main_company').id") == 1
    assert compat.value("return env.ref('base.user_admin').login") == "admin"
    assert compat.value("return env.ref('base.no_such_id', raise_if_not_found=False)") is None
