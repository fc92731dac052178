"""Error shapes: JSON-RPC error objects and XML-RPC faults, as recorded on Odoo 17."""

from __future__ import annotations

import xmlrpc.client

import pytest

ERROR_KEYS = {"code", "message", "data"}
DATA_KEYS = {"name", "debug", "message", "arguments", "context"}


@pytest.fixture
def deleted_id(target):
    """The id of a partner that existed and was deleted."""
    pid = target.execute_kw("res.partner", "create", [{"name": "REC probe"}])
    target.execute_kw("res.partner", "unlink", [[pid]])
    return pid


def assert_error(answer: dict, name: str, message: str) -> None:
    error = answer["error"]
    assert set(error) == ERROR_KEYS
    assert error["code"] == 200
    assert error["message"] == "Odoo Server Error"
    assert set(error["data"]) == DATA_KEYS
    assert error["data"]["name"] == name
    assert error["data"]["message"] == message
    assert error["data"]["arguments"] == [message]
    assert error["data"]["context"] == {}
    assert isinstance(error["data"]["debug"], str)
    assert "result" not in answer


def missing_message(model: str, ids, uid: int) -> str:
    return ("Record does not exist or has been deleted.\n"
            f"(Record: {model}{tuple(ids)!r}, User: {uid})")


def test_read_of_a_deleted_id_is_empty(target, deleted_id):
    assert target.execute_kw("res.partner", "read", [[deleted_id], ["name"]]) == []
    answer = target.json_execute_kw("res.partner", "read", [[deleted_id], ["name"]])
    assert answer["result"] == []


def test_read_keeps_existing_ids_and_drops_deleted_ones(target, deleted_id):
    rows = target.execute_kw("res.partner", "read", [[deleted_id, 1], ["name"]])
    assert [row["id"] for row in rows] == [1]


def test_read_of_only_the_id_answers_deleted_ids_too(target, deleted_id):
    """``['id']`` alone reads nothing from the table: the deleted id comes back."""
    rows = target.execute_kw("res.partner", "read", [[deleted_id, 1], ["id"]])
    assert [row["id"] for row in rows] == [deleted_id, 1]


def test_read_of_every_field_of_a_deleted_partner_is_a_fault(target, deleted_id):
    with pytest.raises(xmlrpc.client.Fault):
        target.execute_kw("res.partner", "read", [[deleted_id, 1]])
    answer = target.json_execute_kw("res.partner", "read", [[deleted_id, 1]])
    assert answer["error"]["data"]["name"] == "builtins.TypeError", answer


def test_write_of_a_deleted_id_is_missing_error(target, deleted_id):
    message = missing_message("res.partner", [deleted_id], target.uid)
    answer = target.json_execute_kw("res.partner", "write", [[deleted_id], {"name": "x"}])
    assert_error(answer, "odoo.exceptions.MissingError", message)
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner", "write", [[deleted_id], {"name": "x"}])
    assert (info.value.faultCode, info.value.faultString) == (2, message)


def test_unlink_of_a_deleted_id_is_missing_error(target, deleted_id):
    message = missing_message("res.partner", [deleted_id], target.uid)
    answer = target.json_execute_kw("res.partner", "unlink", [[deleted_id]])
    assert_error(answer, "odoo.exceptions.MissingError", message)
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner", "unlink", [[deleted_id]])
    assert (info.value.faultCode, info.value.faultString) == (2, message)


def test_unknown_model_is_user_error(target):
    message = "Object no.such.model doesn't exist"
    assert_error(target.json_execute_kw("no.such.model", "search", [[]]),
                 "odoo.exceptions.UserError", message)
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("no.such.model", "search", [[]])
    assert (info.value.faultCode, info.value.faultString) == (2, message)


def test_partner_without_name_is_validation_error(target):
    message = "The operation cannot be completed: Contacts require a name"
    assert_error(target.json_execute_kw("res.partner", "create", [{"name": False}]),
                 "odoo.exceptions.ValidationError", message)
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner", "create", [{"name": False}])
    assert (info.value.faultCode, info.value.faultString) == (2, message)


def test_failed_create_of_a_list_creates_nothing(target, marker):
    with pytest.raises(xmlrpc.client.Fault):
        target.execute_kw("res.partner", "create", [[{"name": marker}, {"name": False}]])
    assert target.execute_kw("res.partner", "search", [[("name", "=", marker)]]) == []


def test_unknown_field_in_domain_is_value_error(target):
    message = "Invalid field res.partner.nonexistent_field in leaf ('nonexistent_field', '=', 1)"
    assert_error(target.json_execute_kw("res.partner", "search",
                                        [[["nonexistent_field", "=", 1]]]),
                 "builtins.ValueError", message)
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner", "search", [[["nonexistent_field", "=", 1]]])
    assert info.value.faultCode == 1
    assert info.value.faultString.strip().splitlines()[-1] == f"ValueError: {message}"


def test_unknown_field_in_read_is_value_error(target):
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner", "read", [[1], ["nope"]])
    assert info.value.faultCode == 1
    assert info.value.faultString.strip().splitlines()[-1] == (
        "ValueError: Invalid field 'nope' on model 'res.partner'")


def test_jsonrpc_error_keeps_the_request_id(target):
    answer, _ = target.post_json("/jsonrpc", {"service": "object", "method": "execute_kw",
                                              "args": [target.db, target.uid, target.password,
                                                       "no.such.model", "search", [[]], {}]})
    assert answer["jsonrpc"] == "2.0" and isinstance(answer["id"], int)
