"""The ``xmlrpc.client`` facade: a ``ServerProxy`` that only makes method calls.

The real module's ``Marshaller.dispatch`` and friends are class-level tables shared by every
call in the process: code that can reach them sees every value marshalled afterwards, the
passwords of other helpers included. The facade offers ``ServerProxy(uri, …)`` (a function
returning a proxy object), ``Fault``, ``ProtocolError`` and ``Error``. Arguments go out as
plain data; results come back as plain data (``DateTime`` as ``datetime``, ``Binary`` as
``bytes``); errors become the facade's exception classes or builtin ones, message only.
"""

from __future__ import annotations

import datetime
import xmlrpc.client
from typing import Any

from worker.runtime.facades.plain import Opaque, fresh_exception, plain
from worker.runtime.facades.plain import register_exception as _register

__all__ = ["Error", "Fault", "ProtocolError", "build"]


class Error(Exception):
    """Base of the XML-RPC errors (``xmlrpc.client.Error``)."""


class Fault(Error):
    """The server answered with a fault: ``faultCode`` and ``faultString``."""

    def __init__(self, faultCode: Any = 0, faultString: Any = "") -> None:  # noqa: N803
        super().__init__(faultCode, faultString)
        self.faultCode = faultCode
        self.faultString = faultString

    def __str__(self) -> str:
        return f"<Fault {self.faultCode}: {self.faultString!r}>"


class ProtocolError(Error):
    """The HTTP layer failed: ``url``, ``errcode`` and ``errmsg``."""

    def __init__(self, url: Any = "", errcode: Any = 0, errmsg: Any = "") -> None:
        super().__init__(url, errcode, errmsg)
        self.url = url
        self.errcode = errcode
        self.errmsg = errmsg

    def __str__(self) -> str:
        return f"<ProtocolError for {self.url}: {self.errcode} {self.errmsg}>"


for _cls in (Error, Fault, ProtocolError):
    _register(_cls)


def _result(value: Any) -> Any:
    """Results as plain data: the library's wrapper types become builtin ones."""
    if isinstance(value, xmlrpc.client.DateTime):
        return datetime.datetime.strptime(value.value, "%Y%m%dT%H:%M:%S")
    if isinstance(value, xmlrpc.client.Binary):
        return bytes(value.data)
    if isinstance(value, list):
        return [_result(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_result(v) for v in value)
    if isinstance(value, dict):
        return {k: _result(v) for k, v in value.items()}
    return value


class _Method(Opaque):
    """``proxy.name``: call it, or go on to ``proxy.name.sub``."""

    __slots__ = ("_name", "_proxy")
    _name: str
    _proxy: xmlrpc.client.ServerProxy

    def __init__(self, proxy: xmlrpc.client.ServerProxy, name: str) -> None:
        object.__setattr__(self, "_proxy", proxy)
        object.__setattr__(self, "_name", name)

    def __getattr__(self, name: str) -> _Method:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Method(self._proxy, f"{self._name}.{name}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("XML-RPC methods are read-only")

    def __call__(self, *args: Any) -> Any:
        values = plain(args, what=f"the arguments of {self._name}()")
        failure: BaseException
        try:
            return _result(getattr(self._proxy, self._name)(*values))
        except xmlrpc.client.Fault as exc:
            failure = Fault(plain(exc.faultCode), plain(str(exc.faultString)))
        except xmlrpc.client.ProtocolError as exc:
            failure = ProtocolError(str(exc.url), int(exc.errcode), str(exc.errmsg))
        except xmlrpc.client.Error as exc:
            failure = Error(str(exc))
        except Exception as exc:  # noqa: BLE001 - socket, HTTP and parser errors alike
            failure = fresh_exception(exc)
        raise failure

    def __repr__(self) -> str:
        return f"<XML-RPC method {self._name}>"


class _Proxy(Opaque):
    """A connection to an XML-RPC server: ``proxy.method(*args)``."""

    __slots__ = ("_proxy", "_uri")
    _proxy: xmlrpc.client.ServerProxy
    _uri: str

    def __init__(self, proxy: xmlrpc.client.ServerProxy, uri: str) -> None:
        object.__setattr__(self, "_proxy", proxy)
        object.__setattr__(self, "_uri", uri)

    def __getattr__(self, name: str) -> _Method:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Method(self._proxy, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a ServerProxy is read-only")

    def __enter__(self) -> _Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self._proxy("close")()

    def __repr__(self) -> str:
        return "<ServerProxy>"


def server_proxy(uri: str, *, allow_none: bool = False, use_datetime: bool = False,
                 use_builtin_types: bool = False, headers: Any = (),
                 encoding: str | None = None) -> _Proxy:
    """A proxy of the XML-RPC server at ``uri`` (http or https)."""
    text = str(uri)
    if not text.lower().startswith(("http://", "https://")):
        raise ValueError("ServerProxy() takes an http:// or https:// URL")
    proxy = xmlrpc.client.ServerProxy(
        text, allow_none=bool(allow_none), use_datetime=bool(use_datetime),
        use_builtin_types=bool(use_builtin_types), encoding=encoding and str(encoding),
        headers=[tuple(h) for h in plain(list(headers), what="headers")])
    return _Proxy(proxy, text)


def build() -> dict[str, Any]:
    """The names of the ``xmlrpc.client`` facade."""
    return {"ServerProxy": server_proxy, "Server": server_proxy, "Fault": Fault,
            "ProtocolError": ProtocolError, "Error": Error, "MAXINT": xmlrpc.client.MAXINT,
            "MININT": xmlrpc.client.MININT}
