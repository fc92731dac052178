"""OCA auditlog rows as an external client reads them (recorded on Odoo 17, auditlog 17.0).

On the simulator these run on a second simulator started with ``auditlog=True``; on a real
Odoo they need the auditlog module and ensure a subscribed full rule on res.partner.
"""

from __future__ import annotations

import pytest

from connector.simulator.testing import running_simulator

LOG_FIELDS = {"create_date", "create_uid", "display_name", "http_request_id",
              "http_session_id", "id", "line_ids", "log_type", "method", "model_id",
              "model_model", "model_name", "name", "res_id", "user_id", "write_date",
              "write_uid"}
LINE_FIELDS = {"create_date", "create_uid", "display_name", "field_description", "field_id",
               "field_name", "id", "log_id", "new_value", "new_value_text", "old_value",
               "old_value_text", "write_date", "write_uid"}


@pytest.fixture(scope="module")
def audit(target):
    """A Target with auditlog and a subscribed full rule on res.partner."""
    if target.sim is not None:
        with running_simulator(database="odootest", auditlog=True) as sim:
            sim.subscribe_auditlog("res.partner", log_type="full", capture_record=True)
            yield type(target)(sim.url, sim.database, "admin", "admin", sim=sim, uid=2)
        return
    if not target.execute_kw("ir.model", "search", [[("model", "=", "auditlog.rule")]]):
        pytest.skip("the OCA auditlog module is not installed on this Odoo")
    [model_id] = target.execute_kw("ir.model", "search", [[("model", "=", "res.partner")]])
    rules = target.execute_kw("auditlog.rule", "search_read", [[("model_id", "=", model_id)]],
                              {"fields": ["state", "log_type", "capture_record"]})
    created = None
    if not rules:
        created = target.execute_kw("auditlog.rule", "create", [{
            "name": "conformance", "model_id": model_id, "log_type": "full",
            "log_create": True, "log_write": True, "log_unlink": True,
            "capture_record": True}])
        target.execute_kw("auditlog.rule", "subscribe", [[created]])
    elif rules[0]["state"] != "subscribed" or not rules[0]["capture_record"]:
        pytest.skip("res.partner has an auditlog rule this suite must not change")
    yield target
    if created:
        target.execute_kw("auditlog.rule", "unsubscribe", [[created]])
        target.execute_kw("auditlog.rule", "unlink", [[created]])


@pytest.fixture(scope="module")
def probe(audit, make_marker):
    """Create, write twice and unlink one partner; return (partner id, logs, lines)."""
    name = f"AUDIT {make_marker()}"
    pid = audit.execute_kw("res.partner", "create", [{"name": name, "email": "a@example.com"}])
    audit.execute_kw("res.partner", "write", [[pid], {"email": "b@example.com",
                                                      "phone": "123"}])
    audit.execute_kw("res.partner", "write", [[pid], {"email": "c@example.com"}])
    audit.execute_kw("res.partner", "unlink", [[pid]])
    logs = audit.execute_kw("auditlog.log", "search_read", [[
        ("model_model", "=", "res.partner"), ("res_id", "=", pid)]], {
        "fields": ["model_model", "res_id", "method", "user_id", "create_date", "log_type",
                   "line_ids", "name", "model_id"], "order": "id"})
    lines = audit.execute_kw("auditlog.log.line", "search_read", [[
        ("log_id", "in", [log["id"] for log in logs]),
        ("field_name", "in", ["name", "email", "phone"])]], {
        "fields": ["log_id", "field_name", "old_value", "new_value", "old_value_text",
                   "new_value_text"], "order": "id"})
    return name, pid, logs, lines


def test_auditlog_fields_are_the_recorded_ones(audit):
    log_fields = audit.execute_kw("auditlog.log", "fields_get", [], {"attributes": ["type"]})
    line_fields = audit.execute_kw("auditlog.log.line", "fields_get", [],
                                   {"attributes": ["type"]})
    assert set(log_fields) == LOG_FIELDS
    assert set(line_fields) == LINE_FIELDS
    assert log_fields["res_id"] == {"type": "integer"}
    assert line_fields["old_value"] == {"type": "text"}


def test_one_log_per_call_and_record(audit, probe):
    name, pid, logs, _lines = probe
    assert [log["method"] for log in logs] == ["create", "write", "write", "unlink"]
    for log in logs:
        assert log["model_model"] == "res.partner" and log["res_id"] == pid
        assert log["user_id"][0] == audit.uid
        assert log["log_type"] == "full"
        assert log["name"] == name
        assert log["model_id"][1] == "Contact"
        assert len(log["create_date"]) == 19


def _changes(logs, lines, method_index):
    log_id = logs[method_index]["id"]
    return {line["field_name"]: (line["old_value"], line["new_value"])
            for line in lines if line["log_id"][0] == log_id}


def test_create_lines_hold_new_values(probe):
    name, _pid, logs, lines = probe
    changes = _changes(logs, lines, 0)
    assert changes["name"] == (False, name)
    assert changes["email"] == (False, "a@example.com")
    assert changes["phone"] == (False, False)
    assert len(logs[0]["line_ids"]) > 40  # a full rule logs every stored field


def test_write_lines_hold_old_and_new_values(probe):
    _name, _pid, logs, lines = probe
    assert _changes(logs, lines, 1) == {"email": ("a@example.com", "b@example.com"),
                                        "phone": (False, "123")}
    assert _changes(logs, lines, 2) == {"email": ("b@example.com", "c@example.com")}
    # full rules also log recomputed stored fields (email_normalized follows email)
    assert len(logs[1]["line_ids"]) == 4 and len(logs[2]["line_ids"]) == 2


def test_unlink_lines_hold_the_last_values(probe):
    name, _pid, logs, lines = probe
    assert _changes(logs, lines, 3) == {"name": (name, False),
                                        "email": ("c@example.com", False),
                                        "phone": ("123", False)}
    line = next(line for line in lines if line["log_id"][0] == logs[3]["id"]
                and line["field_name"] == "name")
    assert line["old_value_text"] == name and line["new_value_text"] is False
