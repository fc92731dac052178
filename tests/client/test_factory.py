"""make_client: protocol choice and URL checks (no network)."""

from __future__ import annotations

import pytest

from connector.errors import ConfigurationError, OdooError
from connector.odoo import Json2Client, JsonRpcClient, OdooClient, XmlRpcClient, errors, make_client


@pytest.mark.parametrize(("protocol", "url", "cls", "expected"), [
    ("jsonrpc", "http://odoo.example.com:8069", JsonRpcClient, "http://odoo.example.com:8069"),
    ("jsonrpc", "odoo.example.com", JsonRpcClient, "http://odoo.example.com:8069"),
    ("jsonrpc+ssl", "odoo.example.com", JsonRpcClient, "https://odoo.example.com:8069"),
    ("jsonrpc+ssl", "https://odoo.example.com/", JsonRpcClient, "https://odoo.example.com:443"),
    ("xmlrpc", "http://10.0.0.1", XmlRpcClient, "http://10.0.0.1:80"),
    ("xmlrpcs", "https://odoo.example.com/odoo", XmlRpcClient,
     "https://odoo.example.com:443/odoo"),
    ("XMLRPC", "[::1]:8069", XmlRpcClient, "http://[::1]:8069"),
    ("json2", "http://odoo.example.com:8069/odoo", Json2Client,
     "http://odoo.example.com:8069/odoo"),
    ("json2s", "odoo.example.com", Json2Client, "https://odoo.example.com:8069"),
])
def test_protocol_picks_class_and_url(protocol: str, url: str, cls: type, expected: str) -> None:
    client = make_client(url=url, database="db", login="admin", password="pw",
                         protocol=protocol)
    assert isinstance(client, cls)
    assert isinstance(client, OdooClient)
    assert client.url == expected
    assert client.protocol == protocol.lower()


@pytest.mark.parametrize(("protocol", "url", "fragment"), [
    ("json2s", "http://h", "does not match the protocol"),
    ("soap", "http://h", "unknown Odoo protocol"),
    ("jsonrpc", "https://h", "does not match the protocol"),
    ("xmlrpcs", "http://h", "does not match the protocol"),
    ("jsonrpc", "http://h/prefix", "path"),
    ("xmlrpc", "ftp://h", "not an http(s) URL"),
    ("xmlrpc", "http://h:99999", "bad port"),
])
def test_bad_configuration_is_refused_clearly(protocol: str, url: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        make_client(url=url, database="db", login="admin", password="pw", protocol=protocol)


def test_missing_database_or_login_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="database name and a login"):
        make_client(url="http://h", database="", login="admin", password="pw")


def test_error_tree_roots_in_the_product_tree() -> None:
    for cls in (errors.OdooUnreachable, errors.OdooTimeout, errors.AuthenticationError,
                errors.AccessDenied, errors.MissingRecord, errors.OdooServerError,
                errors.OdooUserError, errors.OdooValidationError):
        assert issubclass(cls, OdooError), cls
        assert cls.__doc__ and cls.__doc__.startswith("Raised when"), cls
    assert issubclass(errors.OdooTimeout, errors.OdooUnreachable)
    assert issubclass(errors.OdooUserError, errors.OdooServerError)
    assert issubclass(errors.OdooValidationError, errors.OdooServerError)


@pytest.mark.parametrize(("name", "cls"), [
    ("odoo.exceptions.MissingError", errors.MissingRecord),
    ("odoo.exceptions.AccessError", errors.AccessDenied),
    ("odoo.exceptions.AccessDenied", errors.AuthenticationError),
    ("odoo.exceptions.UserError", errors.OdooUserError),
    ("odoo.exceptions.ValidationError", errors.OdooValidationError),
    ("builtins.ValueError", errors.OdooServerError),
    ("psycopg2.errors.SerializationFailure", errors.OdooServerError),
])
def test_odoo_names_map_onto_the_tree(name: str, cls: type) -> None:
    exc = errors.from_odoo(name, "boom\nsecond line", model="res.partner", method="write")
    assert type(exc) is cls
    assert "\n" not in str(exc)
    if isinstance(exc, errors.OdooRemoteError):
        assert exc.name == name and exc.message == "boom\nsecond line"


def test_repr_of_a_client_hides_the_password() -> None:
    client = make_client(url="http://h", database="db", login="bob", password="Hunter2-xyz")
    assert "Hunter2-xyz" not in repr(client) and "Hunter2-xyz" not in str(client)
    assert "Hunter2-xyz" not in repr(vars(client))
