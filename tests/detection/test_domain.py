"""Domains evaluated on plain values agree with a real Odoo 17 (golden vectors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.detection import domain as dom

#: Recorded on a real Odoo 17; the same file the conformance suite replays over RPC.
GOLDEN = Path(__file__).resolve().parents[1] / "odoo" / "data" / "domains.json"


def golden_cases():
    data = json.loads(GOLDEN.read_text("utf-8"))
    by_key = {row["key"]: row for row in data["dataset"]}
    records = {}
    for key, row in by_key.items():
        values = {"name": row["name"], "is_company": row.get("is_company", False),
                  "email": row.get("email", False), "phone": row.get("phone", False),
                  "ref": row.get("ref", False), "date": row.get("date", False),
                  "active": row.get("active", True), "id": len(records) + 1,
                  "parent_id": False}
        records[key] = values
    for key, row in by_key.items():
        if row.get("parent"):
            parent = records[row["parent"]]
            records[key]["parent_id"] = [parent["id"], parent["name"]]
    cases = []
    for case in data["cases"]:
        domain = dom.parse(case["domain"])
        if not dom.is_local(domain) or any(leaf[0] == "child_ids" for leaf in dom.leaves(domain)):
            continue
        mentions_active = any(leaf[0] == "active" for leaf in dom.leaves(domain))
        cases.append((domain, case["expect"], records, mentions_active))
    return cases


CASES = golden_cases()


@pytest.mark.parametrize("domain,expect,records,mentions_active", CASES,
                         ids=[repr(c[0])[:60] for c in CASES])
def test_golden_vectors_of_a_real_odoo(domain, expect, records, mentions_active):
    found = sorted(key for key, values in records.items()
                   if (mentions_active or values["active"]) and dom.matches(domain, values))
    assert found == expect


def test_enough_golden_vectors_are_local():
    assert len(CASES) >= 35


def test_text_notation_and_operators():
    domain = dom.parse("['|', ('email', '=', False), '!', ('is_company', '=', True)]")
    assert dom.matches(domain, {"email": "a@b", "is_company": False})
    assert not dom.matches(domain, {"email": "a@b", "is_company": True})
    assert dom.matches(domain, {"email": False, "is_company": True})
    assert dom.fields_of(domain) == {"email", "is_company"}


def test_many2one_compares_as_id_and_x2many_as_membership():
    values = {"partner_id": [7, "Acme"], "tag_ids": [1, 2]}
    assert dom.matches([("partner_id", "=", 7)], values)
    assert dom.matches([("partner_id", "in", [3, 7])], values)
    assert not dom.matches([("partner_id", "!=", 7)], values)
    assert dom.matches([("tag_ids", "=", 2)], values)
    assert dom.matches([("tag_ids", "in", [5, 1])], values)
    assert not dom.matches([("tag_ids", "in", [5])], values)


def test_what_needs_odoo_is_reported_not_guessed():
    with pytest.raises(dom.Unsupported):
        dom.matches([("parent_id.name", "=", "X")], {"parent_id": [1, "X"]})
    with pytest.raises(dom.Unsupported):
        dom.matches([("partner_id", "=", "Acme")], {"partner_id": [7, "Acme"]})
    with pytest.raises(dom.Unsupported):
        dom.matches([("email", "=", "x")], {})
    assert not dom.is_local(dom.parse("[('parent_id', 'child_of', 1)]"))
    assert dom.is_local(dom.parse("[(1, '=', 1), ('a', 'ilike', 'x')]"))


@pytest.mark.parametrize("text", ["[('a', '=')]", "['^', ('a', '=', 1)]", "42", "[(]"])
def test_malformed_domains_are_refused(text):
    with pytest.raises(dom.DomainError):
        dom.parse(text)
