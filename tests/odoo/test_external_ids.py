"""External ids (``ir.model.data``), which ``env.ref`` in task code reads over RPC."""

from __future__ import annotations

BASE_IDS = {"main_company": ("res.company", 1), "main_partner": ("res.partner", 1),
            "user_admin": ("res.users", 2), "partner_admin": ("res.partner", 3),
            "user_root": ("res.users", 1), "public_user": ("res.users", 4)}


def test_base_external_ids_point_at_the_base_records(target):
    rows = target.execute_kw("ir.model.data", "search_read", [[
        ("module", "=", "base"), ("name", "in", sorted(BASE_IDS))]],
        {"fields": ["module", "name", "model", "res_id", "noupdate"]})
    found = {row["name"]: (row["model"], row["res_id"]) for row in rows}
    assert found == BASE_IDS
    assert all(row["noupdate"] is True and row["module"] == "base" for row in rows)


def test_an_unknown_external_id_is_no_row(target):
    assert target.execute_kw("ir.model.data", "search_read", [[
        ("module", "=", "base"), ("name", "=", "no_such_external_id")]],
        {"fields": ["res_id"]}) == []


def test_the_stored_fields_match(target):
    fields = target.execute_kw("ir.model.data", "fields_get", [],
                               {"attributes": ["type", "required", "store"]})
    stored = {name: (spec["type"], spec["required"]) for name, spec in fields.items()
              if spec["store"] and name in ("model", "module", "name", "noupdate", "res_id")}
    assert stored == {"model": ("char", True), "module": ("char", True), "name": ("char", True),
                      "noupdate": ("boolean", False), "res_id": ("many2one_reference", False)}
