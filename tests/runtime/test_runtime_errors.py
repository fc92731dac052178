"""Client errors reach task code as Odoo-named exceptions; requests are plain data."""

from __future__ import annotations

import pickle

import pytest

from connector.odoo import errors as odoo_errors
from worker.runtime import (
    AccessError,
    Environment,
    HttpRequest,
    MissingError,
    RetryableJobError,
    UserError,
    ValidationError,
)


class FailingClient:
    uid = 2

    def __init__(self, error: Exception) -> None:
        self.error = error

    def fields_get(self, model, attributes=None):
        return {"name": {"type": "char"}}

    def write(self, model, ids, vals, context=None):
        raise self.error

    def search(self, *args, **kwargs):
        raise self.error


@pytest.mark.parametrize(("error", "expected"), [
    (odoo_errors.MissingRecord("gone", name="odoo.exceptions.MissingError"), MissingError),
    (odoo_errors.AccessDenied("no", name="odoo.exceptions.AccessError"), AccessError),
    (odoo_errors.OdooValidationError("bad", name="odoo.exceptions.ValidationError"),
     ValidationError),
    (odoo_errors.OdooUserError("stop", name="odoo.exceptions.UserError"), UserError),
    (odoo_errors.OdooServerError("bad domain", name="builtins.ValueError"), ValueError),
    (odoo_errors.OdooUnreachable("refused", kind="refused"), RetryableJobError),
    (odoo_errors.OdooUnreachable("tls", kind="tls", retryable=False), ConnectionError),
])
def test_client_errors_are_translated(error: Exception, expected: type) -> None:
    env = Environment(FailingClient(error))
    with pytest.raises(expected) as info:
        env["res.partner"].browse(1).write({"name": "x"})
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(expected):
        env["res.partner"].search([])


def test_failed_write_invalidates_the_records() -> None:
    env = Environment(FailingClient(odoo_errors.OdooUserError("stop")))
    env._cache["res.partner"] = {1: {"name": "old"}}
    with pytest.raises(UserError):
        env["res.partner"].browse(1).write({"name": "new"})
    assert 1 not in env._cache["res.partner"]


def test_recordsets_and_env_do_not_pickle() -> None:
    env = Environment(FailingClient(ValueError()))
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(env["res.partner"].browse(1))
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(env)


def test_http_request_is_plain_picklable_data() -> None:
    request = HttpRequest(method="POST", form={"a": "1"}, data=b'{"update_id": 5}',
                          remote_addr="10.0.0.1")
    copy = pickle.loads(pickle.dumps(request))
    assert copy.json == {"update_id": 5} and copy.get_json() == {"update_id": 5}
    assert copy.form["a"] == "1" and copy.get_data(as_text=True) == '{"update_id": 5}'
    with pytest.raises(Exception):  # noqa: B017 - frozen dataclass
        copy.form = {}
