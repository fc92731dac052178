"""Access rights of a restricted user (needs the simulator to create one)."""

from __future__ import annotations

import xmlrpc.client

import odoorpc
import pytest


@pytest.fixture
def restricted(sim, marker):
    """(uid, password) of a user who may only use res.partner, and read res.users."""
    password = "secret"
    uid = sim.add_user(marker.lower(), password, models=["res.partner"],
                       read_models=["res.users"])
    return uid, password


def test_restricted_user_logs_in(target, restricted, marker):
    uid, password = restricted
    assert target.proxy("common").authenticate(target.db, marker.lower(), password, {}) == uid
    client = odoorpc.ODOO(target.host, port=target.port)
    client.login(target.db, marker.lower(), password)
    assert client.env.uid == uid
    assert client.env["res.partner"].search([("id", "=", 1)]) == [1]


def test_allowed_model_works(target, restricted, marker):
    uid, password = restricted
    pid = target.execute_kw("res.partner", "create", [{"name": marker}], uid=uid,
                            password=password)
    assert target.execute_kw("res.partner", "unlink", [[pid]], uid=uid, password=password)


def test_other_models_raise_access_error(target, restricted):
    uid, password = restricted
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("mail.message", "search", [[]], uid=uid, password=password)
    assert info.value.faultCode == 4
    assert info.value.faultString.startswith(
        "You are not allowed to access 'Message' (mail.message) records.")
    answer = target.jsonrpc("object", "execute_kw", target.db, uid, password, "mail.message",
                            "search_read", [[]], {})
    assert answer["error"]["data"]["name"] == "odoo.exceptions.AccessError"


def test_read_only_model_refuses_writes(target, restricted):
    uid, password = restricted
    assert target.execute_kw("res.users", "search", [[("id", "=", uid)]], uid=uid,
                             password=password) == [uid]
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.users", "write", [[uid], {"signature": "x"}], uid=uid,
                          password=password)
    assert info.value.faultCode == 4
    assert "You are not allowed to modify 'User' (res.users) records." in (
        info.value.faultString)
    assert target.execute_kw("res.users", "check_access_rights", ["write"],
                             {"raise_exception": False}, uid=uid, password=password) is False


def test_wrong_password_of_a_new_user(target, restricted):
    uid, _password = restricted
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner", "search", [[]], uid=uid, password="nope")
    assert info.value.faultCode == 3
