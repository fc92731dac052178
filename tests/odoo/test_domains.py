"""Search semantics against the golden vectors recorded on a real Odoo 17 (data/domains.json).

The 10-partner dataset is created under a unique marker replacing "GOLD", so it coexists
with other data (and earlier runs) on a real server; every domain is ANDed with
``('name', '=like', '<marker> %')`` exactly as the recording was made.
"""

from __future__ import annotations

import json
import xmlrpc.client
from pathlib import Path

import pytest

GOLDEN = json.loads((Path(__file__).parent / "data" / "domains.json").read_text("utf-8"))


def _case_id(case) -> str:
    return json.dumps(case["domain"], ensure_ascii=False)


@pytest.fixture(scope="module")
def gold(target, make_marker):
    """The golden dataset: {"marker", "ids": {key: id}, "keys": {id: key}, "base": leaf}."""
    marker = make_marker("GOLD")
    ids: dict[str, int] = {}
    for row in GOLDEN["dataset"]:
        vals = {k: v for k, v in row.items() if k not in ("key", "parent")}
        vals["name"] = vals["name"].replace("GOLD", marker, 1)
        if "parent" in row:
            vals["parent_id"] = ids[row["parent"]]
        ids[row["key"]] = target.execute_kw("res.partner", "create", [vals])
    yield {"marker": marker, "ids": ids, "keys": {v: k for k, v in ids.items()},
           "base": ["name", "=like", f"{marker} %"]}
    target.execute_kw("res.partner", "unlink", [list(reversed(ids.values()))])


def _localize(domain, marker):
    """Replace GOLD by the marker in string values of a golden domain."""
    out = []
    for item in domain:
        if isinstance(item, list) and isinstance(item[2], str):
            out.append([item[0], item[1], item[2].replace("GOLD", marker, 1)])
        else:
            out.append(item)
    return out


def _search(target, gold, domain, **kwargs):
    ids = target.execute_kw("res.partner", "search", [[gold["base"]] + domain], kwargs)
    return [gold["keys"][i] for i in ids]


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=_case_id)
def test_golden_domain(target, gold, case):
    found = _search(target, gold, _localize(case["domain"], gold["marker"]))
    assert sorted(found) == case["expect"]


def test_all_golden_cases_are_here():
    assert len(GOLDEN["cases"]) == 51


@pytest.mark.parametrize("case", GOLDEN["orders"], ids=lambda c: f"{c['order']}-{c['limit']}")
def test_golden_order(target, gold, case):
    kwargs = {"order": case["order"], "offset": case["offset"]}
    if case["limit"] is not None:
        kwargs["limit"] = case["limit"]
    assert _search(target, gold, [], **kwargs) == case["expect_in_order"]


def test_golden_order_with_positional_arguments(target, gold):
    case = next(c for c in GOLDEN["orders"] if c["order"] == "ref asc, name asc")
    ids = target.execute_kw("res.partner", "search",
                            [[gold["base"]], case["offset"], case["limit"], case["order"]])
    assert [gold["keys"][i] for i in ids] == case["expect_in_order"]


def test_golden_counts(target, gold):
    counts = GOLDEN["counts"]
    base = [gold["base"]]
    assert target.execute_kw("res.partner", "search_count", [base]) == (
        counts["search_count(base)"])
    assert target.execute_kw("res.partner", "search_count",
                             [base + [["active", "in", [True, False]]]]) == (
        counts["search_count(base + active in [T,F])"])
    found = _search(target, gold, [], context={"active_test": False})
    assert sorted(found) == counts["search(base, context active_test False)"]


def test_search_read_respects_active_test_context(target, gold):
    rows = target.execute_kw("res.partner", "search_read", [[gold["base"]]], {
        "fields": ["active"], "context": {"active_test": False}})
    assert sorted(row["active"] for row in rows) == [False] + [True] * 9


def test_search_read_order_limit_offset(target, gold):
    rows = target.execute_kw("res.partner", "search_read", [[gold["base"]]], {
        "fields": ["name"], "order": "id asc", "limit": 2, "offset": 1})
    assert [gold["keys"][row["id"]] for row in rows] == ["globex", "alice"]
    assert set(rows[0]) == {"id", "name"}


ERRORS: dict[str, list] = {
    "unknown field": [["nope", "=", 1]],
    "bad operator": [["name", "~", "x"]],
    "malformed leaf": [["name", "="]],
    "dangling operator": ["|", ["name", "=", "x"]],
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_golden_error(target, gold, name):
    expected = GOLDEN["errors"][name]
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner", "search", [[gold["base"]] + ERRORS[name]])
    assert info.value.faultCode == expected["faultCode"]
    last_line = expected["last_line"].replace("GOLD", gold["marker"], 1)
    assert info.value.faultString.strip().splitlines()[-1] == last_line


def test_golden_error_over_jsonrpc_is_builtins_value_error(target, gold):
    answer = target.json_execute_kw("res.partner", "search", [[gold["base"], ["name", "~", "x"]]])
    assert answer["error"]["data"]["name"] == "builtins.ValueError"
    assert answer["error"]["data"]["message"] == "Invalid leaf ('name', '~', 'x')"


def test_display_name_of_a_contact_includes_its_company(target, gold):
    alice = gold["ids"]["alice"]
    [row] = target.execute_kw("res.partner", "read", [[alice], ["display_name", "parent_id"]])
    company = f"{gold['marker']} Acme Corp"
    assert row["display_name"] == f"{company}, {gold['marker']} Alice Smith"
    assert row["parent_id"] == [gold["ids"]["acme"], company]


def test_name_search(target, gold):
    found = target.execute_kw("res.partner", "name_search", [f"{gold['marker']} Glob"],
                              {"limit": 5})
    globex = f"{gold['marker']} Globex"
    # Contacts match through their complete name ("Company, Contact"), ordered after it.
    assert found == [[gold["ids"]["globex"], globex],
                     [gold["ids"]["carol"], f"{globex}, {gold['marker']} Carol Ng"]]


def test_child_of(target, gold):
    acme = gold["ids"]["acme"]
    found = _search(target, gold, [["id", "child_of", acme]])
    assert sorted(found) == ["acme", "alice", "bob"]
