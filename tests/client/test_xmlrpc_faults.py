"""How Odoo's /xmlrpc/2 fault codes and strings are read back (no network)."""

from __future__ import annotations

import pytest

from connector.odoo.xmlrpc import parse_fault

TRACEBACK = """Traceback (most recent call last):
  File "/odoo/odoo/service/model.py", line 1, in execute_kw
    raise ValueError("x")
ValueError: Invalid field res.partner.nope in leaf ('nope', '=', 1)
"""


@pytest.mark.parametrize(("code", "text", "name", "message"), [
    (1, TRACEBACK, "builtins.ValueError",
     "Invalid field res.partner.nope in leaf ('nope', '=', 1)"),
    (1, "ValueError: Invalid leaf ('name', '~', 'x')", "builtins.ValueError",
     "Invalid leaf ('name', '~', 'x')"),
    (1, "Traceback (most recent call last):\npsycopg2.OperationalError: database \"x\" does "
        "not exist\nUser: 2", "psycopg2.OperationalError", 'database "x" does not exist\nUser: 2'),
    (1, "something odd", "", "something odd"),
    (2, "Record does not exist or has been deleted.\n(Record: res.partner(7349,), User: 2)",
     "odoo.exceptions.MissingError",
     "Record does not exist or has been deleted.\n(Record: res.partner(7349,), User: 2)"),
    (2, "Object no.such.model doesn't exist", "odoo.exceptions.UserError",
     "Object no.such.model doesn't exist"),
    (2, "The operation cannot be completed: Contacts require a name",
     "odoo.exceptions.ValidationError",
     "The operation cannot be completed: Contacts require a name"),
    (3, "Access Denied", "odoo.exceptions.AccessDenied", "Access Denied"),
    (4, "You are not allowed to access 'Contact'", "odoo.exceptions.AccessError",
     "You are not allowed to access 'Contact'"),
])
def test_parse_fault(code: int, text: str, name: str, message: str) -> None:
    assert parse_fault(code, text) == (name, message)
