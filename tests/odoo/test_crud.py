"""create/read/write/unlink, value shapes, archived records, relational commands."""

from __future__ import annotations

import xmlrpc.client

import pytest


def test_create_one_returns_an_id_and_a_list_returns_ids(target, marker, cleanup):
    one = target.execute_kw("res.partner", "create", [{"name": f"{marker} one"}])
    cleanup("res.partner", one)
    assert isinstance(one, int)
    many = target.execute_kw("res.partner", "create",
                             [[{"name": f"{marker} {i}"} for i in range(3)]])
    cleanup("res.partner", many)
    assert isinstance(many, list) and len(many) == 3 and many == sorted(many)
    names = target.execute_kw("res.partner", "read", [many, ["name"]])
    assert [row["name"] for row in names] == [f"{marker} {i}" for i in range(3)]


def test_read_value_shapes(target, marker, cleanup):
    company = target.execute_kw("res.partner", "create", [{
        "name": f"{marker} Co", "is_company": True}])
    cleanup("res.partner", company)
    contact = target.execute_kw("res.partner", "create", [{
        "name": f"{marker} Person", "parent_id": company, "date": "2026-01-15"}])
    cleanup("res.partner", contact)
    [row] = target.execute_kw("res.partner", "read", [[contact], [
        "name", "email", "parent_id", "child_ids", "category_id", "is_company", "date",
        "color", "write_date", "create_uid", "comment"]])
    assert row["id"] == contact
    assert row["email"] is False and row["comment"] is False  # empty values are False
    assert row["is_company"] is False and row["color"] == 0
    assert row["parent_id"] == [company, f"{marker} Co"]  # many2one: [id, display name]
    assert row["child_ids"] == [] and row["category_id"] == []
    assert row["date"] == "2026-01-15"
    assert row["create_uid"][0] == target.uid
    [parent] = target.execute_kw("res.partner", "read", [[company], ["child_ids"]])
    assert parent["child_ids"] == [contact]  # one2many: list of ids


def test_read_classic_write_gives_bare_many2one_ids(target, marker, cleanup):
    company = target.execute_kw("res.partner", "create", [{"name": f"{marker} Co",
                                                           "is_company": True}])
    contact = target.execute_kw("res.partner", "create", [{"name": f"{marker} P",
                                                           "parent_id": company}])
    cleanup("res.partner", [contact, company])
    [row] = target.execute_kw("res.partner", "read", [[contact], ["parent_id"]],
                              {"load": "_classic_write"})
    assert row["parent_id"] == company


def test_read_preserves_the_order_of_ids(target, marker, cleanup):
    ids = target.execute_kw("res.partner", "create",
                            [[{"name": f"{marker} {c}"} for c in "abc"]])
    cleanup("res.partner", ids)
    order = [ids[2], ids[0], ids[1]]
    assert [r["id"] for r in target.execute_kw("res.partner", "read", [order, ["name"]])] == (
        order)


def test_write_and_unlink_return_true(target, marker):
    pid = target.execute_kw("res.partner", "create", [{"name": marker}])
    assert target.execute_kw("res.partner", "write", [[pid], {"email": "probe@example.com"}])
    assert target.execute_kw("res.partner", "search_count",
                             [[("email", "=", "probe@example.com"), ("id", "=", pid)]]) == 1
    assert target.execute_kw("res.partner", "unlink", [[pid]]) is True
    assert target.execute_kw("res.partner", "search", [[("id", "=", pid)]]) == []


def test_archived_records_are_hidden_unless_asked(target, marker, cleanup):
    pid = target.execute_kw("res.partner", "create", [{"name": marker, "active": False}])
    cleanup("res.partner", pid)
    assert target.execute_kw("res.partner", "search", [[("name", "=", marker)]]) == []
    assert target.execute_kw("res.partner", "search",
                             [[("name", "=", marker), ("active", "=", False)]]) == [pid]
    assert target.execute_kw("res.partner", "search", [[("name", "=", marker)]],
                             {"context": {"active_test": False}}) == [pid]
    # read does not filter archived records
    assert target.execute_kw("res.partner", "read", [[pid], ["active"]]) == [
        {"id": pid, "active": False}]


def test_many2many_and_one2many_commands(target, marker, cleanup):
    company = target.execute_kw("res.partner", "create", [{
        "name": f"{marker} Co", "is_company": True,
        "child_ids": [(0, 0, {"name": f"{marker} Kid"})]}])
    [row] = target.execute_kw("res.partner", "read", [[company], ["child_ids"]])
    cleanup("res.partner", [company] + row["child_ids"])
    assert len(row["child_ids"]) == 1
    [kid] = target.execute_kw("res.partner", "read", [row["child_ids"], ["parent_id"]])
    assert kid["parent_id"][0] == company
    tags = target.execute_kw("res.partner.category", "create",
                             [[{"name": f"{marker} tag {i}"} for i in range(2)]])
    cleanup("res.partner.category", tags)
    target.execute_kw("res.partner", "write", [[company], {"category_id": [(6, 0, tags)]}])
    [row] = target.execute_kw("res.partner", "read", [[company], ["category_id"]])
    assert sorted(row["category_id"]) == sorted(tags)
    target.execute_kw("res.partner", "write", [[company], {"category_id": [(3, tags[0])]}])
    [row] = target.execute_kw("res.partner", "read", [[company], ["category_id"]])
    assert row["category_id"] == [tags[1]]
    found = target.execute_kw("res.partner", "search",
                              [[("category_id", "in", [tags[1]]), ("id", "=", company)]])
    assert found == [company]


def test_renaming_a_company_renames_its_contacts(target, marker, cleanup):
    company = target.execute_kw("res.partner", "create", [{"name": f"{marker} Old",
                                                           "is_company": True}])
    contact = target.execute_kw("res.partner", "create", [{"name": f"{marker} P",
                                                           "parent_id": company}])
    cleanup("res.partner", [contact, company])
    target.execute_kw("res.partner", "write", [[company], {"name": f"{marker} New"}])
    [row] = target.execute_kw("res.partner", "read", [[contact], ["display_name"]])
    assert row["display_name"] == f"{marker} New, {marker} P"


def test_invalid_selection_value_is_refused(target, marker):
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner", "create", [{"name": marker, "type": "nonsense"}])
    assert info.value.faultCode == 1
    assert "Wrong value for res.partner.type: 'nonsense'" in info.value.faultString


def test_name_get_and_exists(target):
    assert target.execute_kw("res.users", "exists", [[target.uid, 999999]]) == [target.uid]
    [(uid, name)] = target.execute_kw("res.users", "name_search", ["", [("id", "=",
                                                                          target.uid)]])
    assert uid == target.uid and isinstance(name, str) and name


def test_fields_get_is_the_recorded_definition(target):
    wanted = ["type", "string", "relation", "required", "readonly", "store"]
    fields = target.execute_kw("res.partner", "fields_get", [], {"attributes": wanted})
    assert len(fields) >= 100
    assert fields["name"] == {"type": "char", "string": "Name", "required": False,
                              "readonly": False, "store": True}
    assert fields["parent_id"] == {"type": "many2one", "string": "Related Company",
                                   "relation": "res.partner", "required": False,
                                   "readonly": False, "store": True}
    assert fields["child_ids"]["type"] == "one2many"
    assert fields["child_ids"]["relation"] == "res.partner"
    assert fields["category_id"] == {"type": "many2many", "string": "Tags",
                                     "relation": "res.partner.category", "required": False,
                                     "readonly": False, "store": True}
    assert fields["write_date"] == {"type": "datetime", "string": "Last Updated on",
                                    "required": False, "readonly": True, "store": True}
    assert fields["display_name"] == {"type": "char", "string": "Display Name",
                                      "required": False, "readonly": True, "store": False}
    assert fields["image_1920"]["type"] == "binary"
    assert fields["comment"]["type"] == "html"
    assert fields["date"]["type"] == "date"
    for name, field in fields.items():
        assert set(field) <= set(wanted), name


def test_fields_get_of_activities_and_messages(target):
    activity = target.execute_kw("mail.activity", "fields_get", [],
                                 {"attributes": ["type", "relation", "required"]})
    assert activity["date_deadline"] == {"type": "date", "required": True}
    assert activity["res_id"] == {"type": "many2one_reference", "required": False}
    assert activity["res_model_id"] == {"type": "many2one", "relation": "ir.model",
                                        "required": True}
    message = target.execute_kw("mail.message", "fields_get", [["model", "res_id", "body"]],
                                {"attributes": ["type"]})
    assert message == {"model": {"type": "char"}, "res_id": {"type": "many2one_reference"},
                       "body": {"type": "html"}}


def test_odoorpc_browse_reads_fields_and_writes(odoo, marker, cleanup):
    partners = odoo.env["res.partner"]
    pid = partners.create({"name": marker, "email": "x@example.com"})
    cleanup("res.partner", pid)
    record = partners.browse(pid)
    assert record.name == marker and record.email == "x@example.com"
    record.write({"phone": "555"})
    assert partners.browse(pid).phone == "555"
    assert partners.search([("name", "=", marker)]) == [pid]
    assert partners.search_count([("name", "=", marker)]) == 1


def test_required_field_missing_is_validation_error(target):
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner.category", "create", [{"color": 1}])
    assert info.value.faultCode == 2
    assert info.value.faultString.startswith(
        "The operation cannot be completed:\n- Create/update: a mandatory field is not set.")
    assert "Model: Partner Tags (res.partner.category)\nField: Tag Name (name)" in (
        info.value.faultString)


def test_partner_of_a_user_cannot_be_deleted(target):
    [user] = target.execute_kw("res.users", "read", [[target.uid], ["partner_id"]])
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner", "unlink", [[user["partner_id"][0]]])
    assert info.value.faultCode == 2
    assert target.execute_kw("res.partner", "exists", [[user["partner_id"][0]]]) == [
        user["partner_id"][0]]


def test_html_fields_keep_html_and_wrap_plain_text(target, marker, cleanup):
    pid = target.execute_kw("res.partner", "create", [{"name": marker, "comment": "hello"}])
    cleanup("res.partner", pid)
    assert target.execute_kw("res.partner", "read", [[pid], ["comment"]])[0]["comment"] == (
        "<p>hello</p>")  # Odoo's HTML sanitizer makes a paragraph of plain text
    target.execute_kw("res.partner", "write", [[pid], {"comment": "<p>a <b>b</b></p>"}])
    assert target.execute_kw("res.partner", "read", [[pid], ["comment"]])[0]["comment"] == (
        "<p>a <b>b</b></p>")


def test_copy_of_a_partner(target, marker, cleanup):
    pid = target.execute_kw("res.partner", "create", [{"name": marker, "ref": "R1"}])
    cleanup("res.partner", pid)
    copy = target.execute_kw("res.partner", "copy", [pid])
    cleanup("res.partner", copy)
    [row] = target.execute_kw("res.partner", "read", [[copy], ["name", "ref"]])
    assert row == {"id": copy, "name": f"{marker} (copy)", "ref": "R1"}


def test_search_has_no_count_argument_in_odoo_17(target):
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner", "search", [[]], {"count": True})
    assert info.value.faultCode == 1
    assert "unexpected keyword argument 'count'" in info.value.faultString
