"""The JSON-2 client (Odoo 19 ``/json/2``) on the simulator: the shared client tests, re-run with
``protocol="json2"`` and the API key as password, plus what is particular to JSON-2."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from test_connect import (  # the same behaviour as the other protocols
    test_authenticate_and_lazy_uid,
    test_bad_database_is_an_authentication_error,
    test_bad_password_is_a_one_line_authentication_error,
    test_password_changed_after_login_relogs_then_fails_clearly,
    test_server_error_text_is_scrubbed_of_the_password,
    test_test_connection_reports_version_and_user,
    test_tls_against_a_plain_http_server,
    test_unreachable_port,
    test_version,
)
from test_methods import (
    test_constraint_is_a_validation_error,
    test_context_reaches_odoo,
    test_create_one_and_many,
    test_deleted_record,
    test_execute_kw_is_the_primitive,
    test_fields_get,
    test_malformed_domain_is_a_value_error,
    test_search_count,
    test_search_read_and_read,
    test_search_with_order_limit_offset,
    test_write_then_unlink,
)
from test_reconnect import (
    test_reads_are_retried_once,
    test_server_down_then_back,
    test_timeout,
    test_writes_are_not_retried,
)

from connector.odoo import Json2Client, OdooClient, errors, make_client
from connector.odoo.json2 import json2_body

SHARED = [test_authenticate_and_lazy_uid,
          test_bad_database_is_an_authentication_error,
          test_bad_password_is_a_one_line_authentication_error,
          test_password_changed_after_login_relogs_then_fails_clearly,
          test_server_error_text_is_scrubbed_of_the_password,
          test_test_connection_reports_version_and_user, test_tls_against_a_plain_http_server,
          test_unreachable_port, test_version, test_constraint_is_a_validation_error,
          test_context_reaches_odoo, test_create_one_and_many, test_deleted_record,
          test_execute_kw_is_the_primitive, test_fields_get,
          test_malformed_domain_is_a_value_error, test_search_count, test_search_read_and_read,
          test_search_with_order_limit_offset, test_write_then_unlink,
          test_reads_are_retried_once, test_server_down_then_back, test_timeout,
          test_writes_are_not_retried]


@pytest.fixture
def protocol() -> str:
    """Only JSON-2 in this module."""
    return "json2"


@pytest.fixture
def connect(sim: Any) -> Iterator[Any]:
    """Clients on the simulator whose password is an API key (the admin's by default)."""
    made: list[OdooClient] = []

    def factory(password: str | None = None, **options: Any) -> OdooClient:
        options.setdefault("timeout", 5.0)
        options.setdefault("retry_delay", 0.05)
        options.setdefault("url", sim.url)
        options.setdefault("database", sim.database)
        options.setdefault("login", "admin")
        client = make_client(password=password or sim.admin_api_key, protocol="json2",
                             **options)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


@pytest.fixture
def healthy(sim: Any) -> Iterator[Any]:
    """The simulator, put back up and fast whatever the test did."""
    yield sim
    sim.set_latency(0)
    sim.set_down(False)


def test_the_shared_tests_run_here() -> None:
    assert len(SHARED) == 24 and all(callable(test) for test in SHARED)


def test_client_class_and_protocol(client: OdooClient) -> None:
    assert isinstance(client, Json2Client)
    assert client.protocol == "json2"


@pytest.mark.parametrize(("method", "args", "kwargs", "body"), [
    ("search", [[("a", "=", 1)]], {"limit": 2, "context": {"lang": "fr_FR"}},
     {"domain": [("a", "=", 1)], "limit": 2, "context": {"lang": "fr_FR"}}),
    ("search_read", [[], ["name"]], {"offset": 1}, {"domain": [], "fields": ["name"],
                                                    "offset": 1}),
    ("read", [[1, 2], ["name"]], {}, {"ids": [1, 2], "fields": ["name"]}),
    ("read", [7, ["name"]], {}, {"ids": [7], "fields": ["name"]}),
    ("create", [[{"name": "a"}]], {}, {"vals_list": [{"name": "a"}]}),
    ("write", [[3], {"name": "b"}], {}, {"ids": [3], "vals": {"name": "b"}}),
    ("unlink", [[4]], {}, {"ids": [4]}),
    ("search_count", [[]], {}, {"domain": []}),
    ("fields_get", [], {"attributes": ["type"]}, {"attributes": ["type"]}),
    ("name_search", ["Az"], {"args": [], "limit": 5}, {"name": "Az", "domain": [], "limit": 5}),
    ("message_post", [[5]], {"body": "hi"}, {"ids": [5], "body": "hi"}),
    ("context_get", [], {}, {}),
    ("action_archive", [[6]], {}, {"ids": [6]}),
])
def test_positional_arguments_get_their_odoo_19_names(method: str, args: list[Any],
                                                      kwargs: dict[str, Any],
                                                      body: dict[str, Any]) -> None:
    assert json2_body("res.partner", method, args, kwargs) == body


@pytest.mark.parametrize(("method", "args", "kwargs"), [
    ("write", [[1], {"a": 1}, "extra"], {}),
    ("action_confirm", [[1], "positional"], {}),
    ("search", [[]], {"domain": []}),
])
def test_arguments_json2_cannot_name_are_refused(method: str, args: list[Any],
                                                 kwargs: dict[str, Any]) -> None:
    with pytest.raises(errors.OdooServerError, match="by name") as info:
        json2_body("res.partner", method, args, kwargs)
    assert info.value.name == "builtins.TypeError"


def test_a_user_api_key_logs_in_as_that_user(sim: Any, connect: Any) -> None:
    uid = sim.add_user("json2bob", "pw-not-used")
    client = connect(password=sim.add_api_key(uid), login="json2bob")
    assert client.authenticate() == uid
    assert client.test_connection()["user"] == "json2bob"


def test_revoked_key_fails_the_next_call(sim: Any, connect: Any) -> None:
    key = sim.add_api_key(2)
    client = connect(password=key)
    assert client.search_count("res.partner", []) > 0
    sim.revoke_api_key(key)
    with pytest.raises(errors.AuthenticationError, match="refused login 'admin'"):
        client.search_count("res.partner", [])
    assert client._uid is None


def test_key_never_in_messages_reprs_or_logs(sim: Any, connect: Any, caplog: Any) -> None:
    key = sim.add_api_key(2)
    client = connect(password=key)
    caplog.set_level(logging.DEBUG)
    client.search_count("res.partner", [])
    with pytest.raises(errors.OdooServerError) as info:
        client.search("res.partner", [("nope", "=", key)])  # the server echoes the value
    assert key not in str(info.value) and key not in repr(info.value)
    assert key not in info.value.message and key not in str(info.value.traceback)
    assert key not in repr(client) and key not in repr(vars(client))
    assert key not in caplog.text and "json2 POST /json/2/res.partner/search" in caplog.text


def test_calls_are_counted_on_both_sides(sim: Any, client: OdooClient) -> None:
    client.authenticate()
    before = sim.calls[("res.partner", "search_read")]
    client.search_read("res.partner", [], ["name"], limit=1)
    client.search_read("res.partner", [], ["name"], limit=1)
    assert client.calls[("res.partner", "search_read")] == 2
    assert sim.calls[("res.partner", "search_read")] == before + 2


def test_unknown_model_and_method_are_user_errors_with_odoo_messages(client: OdooClient) -> None:
    with pytest.raises(errors.OdooUserError) as info:
        client.search("no.such.model", [])
    assert info.value.name == "werkzeug.exceptions.NotFound"
    assert info.value.message == "the model 'no.such.model' does not exist"
    with pytest.raises(errors.OdooUserError, match="does not exist on the model"):
        client.execute_kw("res.partner", "no_such_method", [])


def test_access_error_is_access_denied(sim: Any, connect: Any) -> None:
    uid = sim.add_user("json2ro", "pw", models=[], read_models=["res.partner"])
    client = connect(password=sim.add_api_key(uid), login="json2ro")
    assert client.search_count("res.partner", []) > 0
    with pytest.raises(errors.AccessDenied) as info:
        client.create("res.partner", {"name": "not allowed"})
    assert info.value.name == "odoo.exceptions.AccessError"


def test_bad_arguments_are_a_server_error_naming_them(client: OdooClient) -> None:
    with pytest.raises(errors.OdooServerError) as info:
        client.execute_kw("res.partner", "search", [[]], {"bogus": 1})
    assert info.value.name == "werkzeug.exceptions.UnprocessableEntity"
    assert "bogus" in info.value.message


def test_odoo_before_19_has_no_json2(sim: Any, client: OdooClient) -> None:
    sim.json2_enabled = False
    try:
        with pytest.raises(errors.OdooUnreachable, match="Odoo 19 or later") as info:
            client.search_count("res.partner", [])
        assert info.value.retryable is False and info.value.kind == "http"
    finally:
        sim.json2_enabled = True


def test_message_post_and_name_search(client: OdooClient) -> None:
    pid = client.create("res.partner", {"name": "JSON2 chatter"})
    result = client.execute_kw("res.partner", "message_post", [[pid]], {"body": "hello"})
    assert isinstance(result, list) and len(result) == 1
    found = client.execute_kw("res.partner", "name_search", ["JSON2 chatter"], {"limit": 5})
    assert [pid, "JSON2 chatter"] in found


def test_idle_connection_closed_by_the_server_is_replaced(client: OdooClient) -> None:
    assert client.search_count("res.partner", []) > 0
    conn = client._connection()
    conn.http.sock.shutdown(2)  # as if the server had closed the keep-alive connection
    assert client.create("res.partner", {"name": "after idle close"}) > 0
    assert client.calls[("res.partner", "create")] == 1


def test_factory_accepts_json2s_over_https() -> None:
    client = make_client(url="https://odoo.example.com", database="db", login="me",
                         password="k", protocol="json2s")
    assert isinstance(client, Json2Client) and client.url == "https://odoo.example.com:443"
