"""Protocol-level facts: version, login/authenticate, sessions, odoorpc's login sequence."""

from __future__ import annotations

import re
import xmlrpc.client

import odoorpc
import pytest

VERSION = {
    "server_version": "17.0",
    "server_version_info": [17, 0, 0, "final", 0, ""],
    "server_serie": "17.0",
    "protocol_version": 1,
}
COOKIE_RE = re.compile(r"^session_id=[0-9a-f]{40}; Expires=[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} "
                       r"\d{4} \d\d:\d\d:\d\d GMT; Max-Age=604800; HttpOnly; Path=/$")


def test_xmlrpc_version_is_odoo_17(target):
    assert target.proxy("common").version() == VERSION


def test_jsonrpc_version_is_odoo_17(target):
    answer = target.jsonrpc("common", "version")
    assert answer["jsonrpc"] == "2.0"
    assert answer["result"] == VERSION


def test_version_info_route_opens_a_session(target):
    answer, headers = target.post_json("/web/webclient/version_info", {})
    assert answer["result"] == VERSION
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert COOKIE_RE.match(headers["Set-Cookie"]), headers["Set-Cookie"]


def test_xmlrpc_response_content_type(target):
    proxy = target.proxy("common")
    proxy.version()
    # ServerProxy does not expose headers; ask the transport-level endpoint directly.
    import urllib.request

    body = xmlrpc.client.dumps((), "version").encode()
    request = urllib.request.Request(target.url + "/xmlrpc/2/common", data=body,
                                     headers={"Content-Type": "text/xml"})
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
        assert b"<name>server_serie</name>" in response.read()


def test_authenticate_and_login_return_the_uid(target):
    common = target.proxy("common")
    assert common.authenticate(target.db, target.login, target.password, {}) == target.uid
    assert common.login(target.db, target.login, target.password) == target.uid
    assert target.jsonrpc("common", "login", target.db, target.login,
                          target.password)["result"] == target.uid


def test_bad_password_is_false_not_a_fault(target):
    common = target.proxy("common")
    assert common.authenticate(target.db, target.login, "wrong", {}) is False
    assert common.login(target.db, target.login, "wrong") is False
    answer = target.jsonrpc("common", "login", target.db, target.login, "wrong")
    assert answer["result"] is False and "error" not in answer


def test_execute_kw_with_bad_password_is_access_denied_fault_3(target):
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner", "search", [[]], password="bad")
    assert info.value.faultCode == 3
    assert info.value.faultString == "Access Denied"


def test_jsonrpc_bad_password_is_access_denied_error(target):
    answer = target.json_execute_kw("res.partner", "search", [[]], password="bad")
    error = answer["error"]
    assert error["code"] == 200 and error["message"] == "Odoo Server Error"
    assert error["data"]["name"] == "odoo.exceptions.AccessDenied"
    assert error["data"]["message"] == "Access Denied"


def test_db_service(target):
    try:
        databases = target.proxy("db").list()
    except xmlrpc.client.Fault:
        pytest.skip("database listing is disabled on this server")
    assert target.db in databases
    assert target.proxy("db").server_version() == "17.0"


def test_odoorpc_login_sequence_and_models(target, odoo):
    assert odoo.version == "17.0"
    assert odoo.env.uid == target.uid
    assert {"lang", "tz", "uid"} <= set(odoo.env.context)
    partners = odoo.env["res.partner"]
    ids = partners.search([("id", "=", odoo.env.user.partner_id.id)])
    assert ids == [odoo.env.user.partner_id.id]
    assert partners.browse(ids).name == odoo.env.user.name
    assert odoo.execute_kw("res.partner", "read", [ids, ["name"]])[0]["name"] == (
        odoo.env.user.name)


def test_odoorpc_refuses_a_bad_password(target):
    client = odoorpc.ODOO(target.host, protocol="jsonrpc+ssl" if target.ssl else "jsonrpc",
                          port=target.port)
    with pytest.raises(odoorpc.error.RPCError, match="Wrong login ID or password"):
        client.login(target.db, target.login, "definitely-wrong")


def test_context_get(target):
    context = target.proxy("object").execute(target.db, target.uid, target.password,
                                              "res.users", "context_get")
    assert context["uid"] == target.uid
    assert isinstance(context["lang"], str) and "tz" in context


def test_execute_takes_positional_arguments(target):
    object_proxy = target.proxy("object")
    ids = object_proxy.execute(target.db, target.uid, target.password, "res.users", "search",
                               [("id", "=", target.uid)])
    assert ids == [target.uid]
    rows = object_proxy.execute(target.db, target.uid, target.password, "res.users", "read",
                                ids, ["login"])
    assert rows == [{"id": target.uid, "login": target.login}]


def test_web_session_and_call_kw(target):
    answer, headers = target.post_json("/web/session/authenticate", {
        "db": target.db, "login": target.login, "password": target.password})
    assert answer["result"]["uid"] == target.uid
    cookie = headers["Set-Cookie"].split(";")[0]
    answer, _ = target.post_json("/web/dataset/call_kw/res.users/read", {
        "model": "res.users", "method": "read", "args": [[target.uid], ["login"]],
        "kwargs": {}}, cookie=cookie)
    assert answer["result"] == [{"id": target.uid, "login": target.login}]


def test_call_kw_without_session_is_session_expired(target):
    answer, _ = target.post_json("/web/dataset/call_kw", {
        "model": "res.users", "method": "read", "args": [[target.uid], ["login"]],
        "kwargs": {}})
    error = answer["error"]
    assert error["code"] == 100
    assert error["data"]["name"] == "odoo.http.SessionExpiredException"


def test_unknown_method_is_an_attribute_error(target):
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner", "no_such_method", [[]])
    assert info.value.faultCode == 1
    last_line = info.value.faultString.strip().splitlines()[-1]
    assert last_line.startswith("AttributeError: ") and "no_such_method" in last_line


def test_private_method_is_refused(target):
    with pytest.raises(xmlrpc.client.Fault) as info:
        target.execute_kw("res.partner", "_search", [[]])
    assert info.value.faultCode == 4
    assert "cannot be called remotely" in info.value.faultString
