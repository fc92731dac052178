"""The Odoo exception tree, shared by every client implementation.

Each client maps its raw errors (``odoorpc.error.RPCError``, ``xmlrpc.client.Fault``, urllib,
socket and ``http.client`` errors) onto these classes, so callers never see a transport-specific
exception. Messages are one line, say what went wrong and how to fix it, and never hold the
password (clients scrub it with :func:`scrub`).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.error
from urllib.parse import urlsplit, urlunsplit

from connector.errors import OdooError

__all__ = [
    "AccessDenied", "AuthenticationError", "MissingRecord", "OdooError", "OdooRemoteError",
    "OdooServerError", "OdooTimeout", "OdooUnreachable", "OdooUserError", "OdooValidationError",
    "from_odoo", "http_status_error", "public_url", "scrub", "transport_error",
]


class OdooUnreachable(OdooError):
    """Raised when Odoo cannot be reached or does not answer like Odoo.

    Connection refused or reset, DNS failure, TLS failure, timeout, an HTTP error status (a proxy's
    502/503/504, a 404 for a wrong URL) or an answer that is not JSON-RPC/XML-RPC. ``kind`` is one
    of ``refused``, ``dns``, ``dropped``, ``timeout``, ``tls``, ``http``, ``protocol``, ``other``;
    ``retryable`` tells whether trying again later may help.
    """

    def __init__(self, message: str, *, kind: str = "other", retryable: bool = True) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


class OdooTimeout(OdooUnreachable):
    """Raised when Odoo accepted the connection but did not answer within the client timeout."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="timeout", retryable=False)


class AuthenticationError(OdooError):
    """Raised when Odoo refuses the login, password/API key or database name.

    Covers ``login``/``authenticate`` answering False, an unknown database, and
    odoo.exceptions.AccessDenied (XML-RPC fault 3) on a call after a re-login failed.
    """


class OdooRemoteError(OdooError):
    """Raised when Odoo itself reports an error while running a method (base class).

    ``name`` is Odoo's exception name (``odoo.exceptions.UserError``, ``builtins.ValueError``),
    ``message`` Odoo's own message, ``model``/``method`` the call that failed and ``traceback``
    the server traceback when Odoo sent one.
    """

    def __init__(self, message: str, *, name: str = "", model: str | None = None,
                 method: str | None = None, traceback: str | None = None) -> None:
        self.name = name
        self.message = message
        self.model = model
        self.method = method
        self.traceback = traceback
        call = f"{model}.{method}" if model and method else (method or "the call")
        text = " ".join(message.split()) or "(no message)"
        suffix = f" [{name}]" if name else ""
        super().__init__(f"Odoo refused {call}: {text}{suffix}")


class AccessDenied(OdooRemoteError):
    """Raised when the Odoo user lacks the rights for a call (odoo.exceptions.AccessError).

    Odoo's own ``AccessDenied`` means bad credentials and becomes :class:`AuthenticationError`.
    """


class MissingRecord(OdooRemoteError):
    """Raised when a call targets records that do not exist (odoo.exceptions.MissingError)."""


class OdooServerError(OdooRemoteError):
    """Raised when Odoo reports any other error; ``name`` says which one."""


class OdooUserError(OdooServerError):
    """Raised when Odoo refuses a call with a user-facing message (odoo.exceptions.UserError)."""


class OdooValidationError(OdooServerError):
    """Raised when a constraint refuses the values (odoo.exceptions.ValidationError)."""


_BY_NAME: dict[str, type[OdooRemoteError]] = {
    "odoo.exceptions.AccessError": AccessDenied,
    "odoo.exceptions.MissingError": MissingRecord,
    "odoo.exceptions.ValidationError": OdooValidationError,
    "odoo.exceptions.UserError": OdooUserError,
    "odoo.exceptions.RedirectWarning": OdooUserError,
    "odoo.exceptions.except_orm": OdooUserError,
    "odoo.exceptions.Warning": OdooUserError,
}
_AUTH_NAMES = {"odoo.exceptions.AccessDenied", "odoo.http.SessionExpiredException"}


def from_odoo(name: str, message: str, *, model: str | None = None, method: str | None = None,
              traceback: str | None = None) -> OdooError:
    """Build the product error for an Odoo exception called ``name`` with ``message``."""
    if name in _AUTH_NAMES:
        call = f"{model}.{method}" if model and method else "the call"
        return AuthenticationError(
            f"Odoo refused the credentials for {call} ({' '.join(message.split())}) — "
            "check the login and password/API key"
        )
    cls = _BY_NAME.get(name, OdooServerError)
    return cls(message, name=name, model=model, method=method, traceback=traceback)


def public_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, fit for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


_DROPPED = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
            http.client.RemoteDisconnected, http.client.IncompleteRead,
            http.client.BadStatusLine)


def transport_error(exc: BaseException, url: str, what: str, timeout: float) -> OdooUnreachable:
    """Map a socket/urllib/http.client error raised while calling ``what`` to OdooUnreachable."""
    if isinstance(exc, urllib.error.HTTPError):
        return http_status_error(exc.code, str(exc.reason), url, what)
    reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    where = public_url(url)
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return OdooTimeout(
            f"Odoo at {where} did not answer {what} within {timeout:g} s — the server is busy "
            "or down, or the timeout is too short"
        )
    if isinstance(reason, ConnectionRefusedError):
        return OdooUnreachable(
            f"cannot reach Odoo at {where}: connection refused — is the server running and the "
            "URL right?", kind="refused")
    if isinstance(reason, socket.gaierror):
        host = urlsplit(url).hostname or url
        return OdooUnreachable(
            f"cannot reach Odoo at {where}: host name {host!r} could not be resolved — check "
            "the URL", kind="dns")
    if isinstance(reason, ssl.SSLError):
        return OdooUnreachable(
            f"TLS error talking to Odoo at {where}: {reason} — check the certificate, or use "
            "http:// with the jsonrpc/xmlrpc protocol", kind="tls", retryable=False)
    if isinstance(reason, _DROPPED):
        return OdooUnreachable(
            f"connection to Odoo at {where} was dropped during {what} — the server restarted "
            "or a proxy closed it", kind="dropped")
    if isinstance(reason, http.client.HTTPException):
        return OdooUnreachable(
            f"Odoo at {where} sent a broken HTTP answer to {what} ({type(reason).__name__}) — "
            "is the URL an Odoo server?", kind="protocol")
    return OdooUnreachable(f"cannot reach Odoo at {where}: {reason} — check the URL and network")


def http_status_error(status: int, reason: str, url: str, what: str) -> OdooUnreachable:
    """Map an HTTP error status answered to ``what`` to OdooUnreachable."""
    where = public_url(url)
    if status in (502, 503, 504):
        return OdooUnreachable(
            f"Odoo at {where} is unavailable (HTTP {status} {reason} from a proxy) during "
            f"{what} — the server is down or restarting", kind="http")
    if status == 404:
        return OdooUnreachable(
            f"{where} has no Odoo RPC endpoint for {what} (HTTP 404) — check the URL and the "
            "protocol", kind="http", retryable=False)
    return OdooUnreachable(
        f"Odoo at {where} answered {what} with HTTP {status} {reason} — check the URL and the "
        "server logs", kind="http", retryable=status >= 500)


def scrub(exc: BaseException, secret: str) -> BaseException:
    """Remove ``secret`` from ``exc``'s message and attributes, in place; return ``exc``."""
    if not secret:
        return exc
    mask = "**********"
    exc.args = tuple(a.replace(secret, mask) if isinstance(a, str) else a for a in exc.args)
    for attr in ("message", "traceback"):
        value = getattr(exc, attr, None)
        if isinstance(value, str):
            setattr(exc, attr, value.replace(secret, mask))
    cause = exc.__cause__ or exc.__context__
    if cause is not None and (secret in str(cause) or secret in repr(cause)):
        exc.__cause__ = exc.__context__ = None
        exc.__suppress_context__ = True
    return exc
