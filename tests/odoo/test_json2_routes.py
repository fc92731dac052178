"""Conformance of the JSON-2 routes (Odoo 19 ``POST /json/2/<model>/<method>``) over plain HTTP.

Runs on the simulator by default; set ``ODOO_TEST_URL``, ``ODOO_TEST_DB`` and
``ODOO_TEST_API_KEY`` (a key of a user allowed to create/unlink partners) to run the same
tests against a real Odoo 19. Facts from the Odoo 19 documentation "External JSON-2 API".
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from connector.simulator.testing import running_simulator

JSON2_ENV = ("ODOO_TEST_URL", "ODOO_TEST_DB", "ODOO_TEST_API_KEY")
ERROR_KEYS = {"name", "message", "arguments", "context", "debug"}


class Json2Target:
    """An Odoo with JSON-2 and a valid API key."""

    def __init__(self, url: str, db: str, key: str, sim: Any = None) -> None:
        self.url, self.db, self.key, self.sim = url.rstrip("/"), db, key, sim

    def post(self, model: str, method: str, body: Any, key: str | None = None,
             raw: bytes | None = None) -> tuple[int, Any]:
        """(status, decoded JSON body) of one call."""
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Authorization": f"bearer {key if key is not None else self.key}",
                   "X-Odoo-Database": self.db}
        data = raw if raw is not None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/json/2/{model}/{method}", data=data,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.headers["Content-Type"].startswith("application/json")
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def odoo19() -> Iterator[Json2Target]:
    """A real Odoo 19 from the environment, or a fresh simulator."""
    if all(os.environ.get(name) for name in JSON2_ENV):
        yield Json2Target(os.environ["ODOO_TEST_URL"], os.environ["ODOO_TEST_DB"],
                          os.environ["ODOO_TEST_API_KEY"])
        return
    with running_simulator(database="odootest", demo=True) as sim:
        yield Json2Target(sim.url, sim.database, sim.admin_api_key, sim=sim)


def test_search_read_answers_the_bare_result(odoo19: Json2Target) -> None:
    status, body = odoo19.post("res.partner", "search_read",
                               {"domain": [["is_company", "=", True]], "fields": ["name"],
                                "limit": 2, "context": {"lang": "en_US"}})
    assert status == 200
    assert isinstance(body, list) and 0 < len(body) <= 2
    assert all(set(row) == {"id", "name"} for row in body)


def test_create_read_write_unlink(odoo19: Json2Target) -> None:
    status, ids = odoo19.post("res.partner", "create", {"vals_list": [{"name": "JSON2 conf"}]})
    assert status == 200 and isinstance(ids, list) and len(ids) == 1
    assert odoo19.post("res.partner", "write", {"ids": ids, "vals": {"name": "JSON2 conf2"}}) \
        == (200, True)
    assert odoo19.post("res.partner", "read", {"ids": ids, "fields": ["name"]}) == \
        (200, [{"id": ids[0], "name": "JSON2 conf2"}])
    assert odoo19.post("res.partner", "search_count",
                       {"domain": [["id", "in", ids]]}) == (200, 1)
    assert odoo19.post("res.partner", "unlink", {"ids": ids}) == (200, True)
    status, error = odoo19.post("res.partner", "write", {"ids": ids, "vals": {"name": "x"}})
    assert status == 404 and error["name"] == "odoo.exceptions.MissingError"
    assert set(error) == ERROR_KEYS


def test_context_get_tells_the_uid(odoo19: Json2Target) -> None:
    status, context = odoo19.post("res.users", "context_get", {})
    assert status == 200 and isinstance(context["uid"], int) and context["uid"] > 0


def test_bad_key_is_401_unauthorized(odoo19: Json2Target) -> None:
    status, error = odoo19.post("res.partner", "search", {"domain": []}, key="0" * 40)
    assert status == 401
    assert error["name"] == "werkzeug.exceptions.Unauthorized"
    assert error["message"] == "Invalid apikey" and set(error) == ERROR_KEYS


def test_unknown_model_and_method_are_404(odoo19: Json2Target) -> None:
    status, error = odoo19.post("no.such.model", "search", {"domain": []})
    assert (status, error["name"]) == (404, "werkzeug.exceptions.NotFound")
    assert error["message"] == "the model 'no.such.model' does not exist"
    status, error = odoo19.post("res.partner", "no_such_method", {})
    assert (status, error["name"]) == (404, "werkzeug.exceptions.NotFound")


def test_bad_arguments_are_422(odoo19: Json2Target) -> None:
    status, error = odoo19.post("res.partner", "search", {"domain": [], "bogus": 1})
    assert (status, error["name"]) == (422, "werkzeug.exceptions.UnprocessableEntity")
    assert "bogus" in error["message"]
    status, error = odoo19.post("res.partner", "search", {"ids": [1], "domain": []})
    assert status == 422 and "with ids" in error["message"]


def test_validation_error_is_422(odoo19: Json2Target) -> None:
    status, error = odoo19.post("res.partner", "create", {"vals_list": [{"name": False}]})
    assert (status, error["name"]) == (422, "odoo.exceptions.ValidationError")


def test_malformed_domain_is_500_value_error(odoo19: Json2Target) -> None:
    status, error = odoo19.post("res.partner", "search", {"domain": [["nope", "=", 1]]})
    assert (status, error["name"]) == (500, "builtins.ValueError")
    assert "debug" in error and error["debug"]


def test_bad_json_is_400(odoo19: Json2Target) -> None:
    status, error = odoo19.post("res.partner", "search", None, raw=b"{not json")
    assert (status, error["name"]) == (400, "werkzeug.exceptions.BadRequest")


def test_web_version(odoo19: Json2Target) -> None:
    with urllib.request.urlopen(odoo19.url + "/web/version", timeout=30) as response:
        info = json.loads(response.read())
    assert isinstance(info["version"], str) and info["version_info"][0] >= 17


def test_simulator_api_keys_per_user(odoo19: Json2Target) -> None:
    if odoo19.sim is None:
        pytest.skip("needs the simulator's test controls (add_api_key)")
    sim = odoo19.sim
    uid = sim.add_user("json2conf", "pw")
    key = sim.add_api_key(uid)
    assert len(key) == 40 and key != sim.admin_api_key
    assert odoo19.post("res.users", "context_get", {}, key=key)[1]["uid"] == uid
    assert sim.revoke_api_key(key) is True
    assert odoo19.post("res.users", "context_get", {}, key=key)[0] == 401


def test_real_odoo_19_reports_version_19(odoo19: Json2Target) -> None:
    if odoo19.sim is not None:
        pytest.skip("real Odoo 19 only: set ODOO_TEST_URL, ODOO_TEST_DB and ODOO_TEST_API_KEY")
    with urllib.request.urlopen(odoo19.url + "/web/version", timeout=30) as response:
        assert json.loads(response.read())["version_info"][0] >= 19
