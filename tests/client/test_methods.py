"""The convenience methods and Odoo's errors, on both protocols."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from connector.odoo import OdooClient, errors

_serial = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix} {next(_serial)}"


def make_partners(client: OdooClient, *names: str) -> list[int]:
    ids = client.create("res.partner", [{"name": name} for name in names])
    assert isinstance(ids, list)
    return ids


def test_create_one_and_many(client: OdooClient) -> None:
    one = client.create("res.partner", {"name": unique("CLI one")})
    assert isinstance(one, int) and one > 0
    many = client.create("res.partner", [{"name": unique("CLI a")}, {"name": unique("CLI b")}])
    assert isinstance(many, list) and len(many) == 2
    assert len({one, *many}) == 3
    assert client.create("res.partner", []) == []


def test_search_with_order_limit_offset(client: OdooClient) -> None:
    tag = unique("CLIsearch")
    ids = make_partners(client, f"{tag} A", f"{tag} B", f"{tag} C")
    domain = [("name", "=like", f"{tag} %")]
    assert sorted(client.search("res.partner", domain)) == sorted(ids)
    assert client.search("res.partner", domain, order="name desc") == ids[::-1]
    assert client.search("res.partner", domain, order="name asc", limit=2) == ids[:2]
    assert client.search("res.partner", domain, order="name asc", offset=1, limit=1) == [ids[1]]


def test_search_read_and_read(client: OdooClient) -> None:
    tag = unique("CLIread")
    [pid] = make_partners(client, tag)
    rows = client.search_read("res.partner", [("id", "=", pid)], ["name", "write_date"])
    assert len(rows) == 1 and rows[0]["id"] == pid and rows[0]["name"] == tag
    assert len(rows[0]["write_date"]) == 19  # 'YYYY-MM-DD HH:MM:SS', whole seconds
    assert client.read("res.partner", [pid], ["name"]) == [{"id": pid, "name": tag}]
    assert client.read("res.partner", pid, ["name"]) == [{"id": pid, "name": tag}]
    assert client.read("res.partner", [], ["name"]) == []


def test_search_count(client: OdooClient) -> None:
    tag = unique("CLIcount")
    make_partners(client, f"{tag} 1", f"{tag} 2")
    assert client.search_count("res.partner", [("name", "=like", f"{tag} %")]) == 2
    assert client.search_count("res.partner", [("name", "=", "no such partner at all")]) == 0


def test_context_reaches_odoo(client: OdooClient) -> None:
    tag = unique("CLIctx")
    [pid] = make_partners(client, tag)
    assert client.write("res.partner", [pid], {"active": False}) is True
    domain = [("name", "=", tag)]
    assert client.search("res.partner", domain) == []
    assert client.search("res.partner", domain, context={"active_test": False}) == [pid]


def test_write_then_unlink(client: OdooClient) -> None:
    [pid] = make_partners(client, unique("CLIwrite"))
    assert client.write("res.partner", [pid], {"email": "w@example.com"}) is True
    assert client.read("res.partner", [pid], ["email"])[0]["email"] == "w@example.com"
    assert client.unlink("res.partner", [pid]) is True
    assert client.search_count("res.partner", [("id", "=", pid)]) == 0


def test_deleted_record(client: OdooClient) -> None:
    [pid] = make_partners(client, unique("CLIgone"))
    client.unlink("res.partner", [pid])
    assert client.read("res.partner", [pid], ["name"]) == []
    with pytest.raises(errors.MissingRecord) as info:
        client.write("res.partner", [pid], {"name": "x"})
    assert info.value.name == "odoo.exceptions.MissingError"
    assert "does not exist or has been deleted" in info.value.message
    assert (info.value.model, info.value.method) == ("res.partner", "write")
    with pytest.raises(errors.MissingRecord):
        client.unlink("res.partner", [pid])


def test_fields_get(client: OdooClient) -> None:
    fields = client.fields_get("res.partner", attributes=["string", "type"])
    assert fields["name"]["type"] == "char"
    assert fields["write_date"]["type"] == "datetime"
    assert set(fields["name"]) <= {"string", "type"}


def test_execute_kw_is_the_primitive(client: OdooClient) -> None:
    domain = [("is_company", "=", True)]
    expected = client.search_count("res.partner", domain)
    assert client.execute_kw("res.partner", "search_count", [domain]) == expected
    assert client.execute_kw("res.partner", "search", (domain,), {"limit": 1}) != []


def test_unknown_model_is_a_user_error(client: OdooClient) -> None:
    with pytest.raises(errors.OdooUserError) as info:
        client.search("no.such.model", [])
    assert info.value.message == "Object no.such.model doesn't exist"
    assert info.value.name == "odoo.exceptions.UserError"
    assert "no.such.model doesn't exist" in str(info.value)


@pytest.mark.parametrize("domain", [
    [("nonexistent_field", "=", 1)],
    [("name", "~", "x")],
])
def test_malformed_domain_is_a_value_error(client: OdooClient, domain: list[Any]) -> None:
    with pytest.raises(errors.OdooServerError) as info:
        client.search("res.partner", domain)
    assert not isinstance(info.value, errors.OdooUserError)
    assert info.value.name == "builtins.ValueError"
    assert "leaf" in info.value.message


def test_constraint_is_a_validation_error(client: OdooClient) -> None:
    with pytest.raises(errors.OdooValidationError) as info:
        client.create("res.partner", {"name": False})
    assert "Contacts require a name" in info.value.message
