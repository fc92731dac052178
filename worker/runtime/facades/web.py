"""The ``requests`` facade: HTTP calls that give back data, never the library's objects.

``requests.get/post/…`` take the usual keyword arguments as plain data (no hooks, sessions,
adapters, file paths or file objects) and return a :class:`Response` holding a copy of what
came back: status, reason, url, headers, body. The library's ``Response`` leads to the
request that was sent (its headers carry the credentials), the connection and the shared
connection pool; none of that is kept. Errors become the facade's own exception classes,
named like ``requests``' (``HTTPError``, ``ConnectionError``, ``Timeout`` …), carrying a
message only.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import requests
import requests.exceptions
import requests.utils
from requests.compat import chardet

from worker.runtime.facades.plain import Mask, Opaque, fresh_exception, mask_bytes, plain
from worker.runtime.facades.plain import register_exception as _register
from worker.runtime.namespace import Namespace

__all__ = ["METHODS", "Headers", "Response", "build", "build_exceptions"]

METHODS = ("request", "get", "options", "head", "post", "put", "patch", "delete")
#: Keyword arguments the facade passes on; the others (hooks, stream, cert, proxies …) would
#: hand the library callables or file names, or return the raw connection.
ACCEPTED = ("params", "data", "json", "headers", "cookies", "files", "auth", "timeout",
            "allow_redirects", "verify")


# --------------------------------------------------------------------------------------------
# Exceptions
# --------------------------------------------------------------------------------------------


class RequestException(OSError):
    """An HTTP call failed (``requests.RequestException``); ``response`` is the facade's."""

    def __init__(self, *args: Any, response: Response | None = None) -> None:
        super().__init__(*args)
        self.response = response


class HTTPError(RequestException):
    """``raise_for_status()`` found a 4xx or 5xx status."""


class ConnectionError(RequestException):  # noqa: A001 - requests' name
    """The server could not be reached."""


class ProxyError(ConnectionError):
    """The proxy could not be reached."""


class SSLError(ConnectionError):
    """The TLS handshake or certificate check failed."""


class Timeout(RequestException):
    """The server did not answer in time."""


class ConnectTimeout(ConnectionError, Timeout):
    """Connecting took longer than the timeout."""


class ReadTimeout(Timeout):
    """The server accepted the connection but sent nothing in time."""


class URLRequired(RequestException):
    """No URL was given."""


class TooManyRedirects(RequestException):
    """The redirects went on for too long."""


class MissingSchema(RequestException, ValueError):
    """The URL has no ``http://`` or ``https://``."""


class InvalidSchema(RequestException, ValueError):
    """The URL's scheme is not http or https."""


class InvalidURL(RequestException, ValueError):
    """The URL cannot be parsed."""


class InvalidHeader(RequestException, ValueError):
    """A header name or value is not valid."""


class ChunkedEncodingError(RequestException):
    """The server's chunked body was broken."""


class ContentDecodingError(RequestException):
    """The body could not be decompressed."""


class RetryError(RequestException):
    """Retries were exhausted."""


class InvalidJSONError(RequestException):
    """The ``json=`` body cannot be encoded."""


class JSONDecodeError(InvalidJSONError, ValueError):
    """``Response.json()`` found no JSON in the body."""


_EXCEPTIONS: dict[str, type[RequestException]] = {
    cls.__name__: cls for cls in (
        RequestException, HTTPError, ConnectionError, ProxyError, SSLError, Timeout,
        ConnectTimeout, ReadTimeout, URLRequired, TooManyRedirects, MissingSchema,
        InvalidSchema, InvalidURL, InvalidHeader, ChunkedEncodingError, ContentDecodingError,
        RetryError, InvalidJSONError, JSONDecodeError)
}
for _cls in _EXCEPTIONS.values():
    _register(_cls)


def _translate(exc: BaseException) -> BaseException:
    """The facade's exception for one raised by the library (a message, nothing else)."""
    for cls in type(exc).__mro__:
        if cls.__module__.startswith("requests") and cls.__name__ in _EXCEPTIONS:
            return _EXCEPTIONS[cls.__name__](str(exc))
    return fresh_exception(exc)


def build_exceptions() -> dict[str, Any]:
    """The names of ``requests.exceptions`` (also on the ``requests`` facade)."""
    return dict(_EXCEPTIONS)


# --------------------------------------------------------------------------------------------
# Response
# --------------------------------------------------------------------------------------------


class Headers(dict[str, str]):
    """Response headers: a plain dict whose look-ups ignore case, as HTTP wants."""

    def _key(self, key: Any) -> Any:
        if isinstance(key, str) and not dict.__contains__(self, key):
            lowered = key.lower()
            for existing in dict.keys(self):
                if isinstance(existing, str) and existing.lower() == lowered:
                    return existing
        return key

    def __getitem__(self, key: Any) -> Any:
        return dict.__getitem__(self, self._key(key))

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, self._key(key))

    def get(self, key: Any, default: Any = None) -> Any:
        """The header's value (any case), or ``default``."""
        return dict.get(self, self._key(key), default)


class Response(Opaque):
    """What an HTTP call gave back, as data: ``status_code``, ``ok``, ``reason``, ``url``,
    ``headers``, ``content``, ``text``, ``json()``, ``raise_for_status()``."""

    __slots__ = ("_content", "_elapsed", "_encoding", "_headers", "_reason", "_status",
                 "_text", "_url")
    _content: bytes
    _elapsed: datetime.timedelta
    _encoding: str | None
    _headers: dict[str, str]
    _reason: str
    _status: int
    _text: str | None
    _url: str

    def __init__(self, status_code: int, reason: str, url: str, headers: Mapping[str, str],
                 content: bytes, encoding: str | None,
                 elapsed: datetime.timedelta = datetime.timedelta(0)) -> None:
        for name, value in (("_status", status_code), ("_reason", reason), ("_url", url),
                            ("_headers", dict(headers)), ("_content", content),
                            ("_encoding", encoding), ("_elapsed", elapsed), ("_text", None)):
            object.__setattr__(self, name, value)

    @classmethod
    def of(cls, response: requests.Response) -> Response:
        """Copy what the library's response holds as data."""
        return cls(int(response.status_code), str(response.reason or ""), str(response.url),
                   {str(k): str(v) for k, v in response.headers.items()},
                   bytes(response.content or b""), response.encoding, response.elapsed)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Response is read-only")

    def cross(self, mask: Mask | None) -> Response:
        """A copy with secrets masked (what crosses from protected to task code)."""
        headers = plain(self._headers, mask=mask)
        return Response(self._status, plain(self._reason, mask=mask),
                        plain(self._url, mask=mask), headers,
                        mask_bytes(self._content, mask) if mask else self._content,
                        self._encoding, self._elapsed)

    @property
    def status_code(self) -> int:
        """The HTTP status, e.g. 200."""
        return int(self._status)

    @property
    def ok(self) -> bool:
        """True when the status is below 400."""
        return int(self._status) < 400

    @property
    def reason(self) -> str:
        """The status text, e.g. ``'Not Found'``."""
        return str(self._reason)

    @property
    def url(self) -> str:
        """The URL that answered (after redirects)."""
        return str(self._url)

    @property
    def headers(self) -> Headers:
        """A copy of the response headers (look-ups ignore case)."""
        return Headers(self._headers)

    @property
    def content(self) -> bytes:
        """The body as bytes."""
        return bytes(self._content)

    @property
    def encoding(self) -> str | None:
        """The body's character set, from the headers (None if they do not say)."""
        return self._encoding

    @property
    def elapsed(self) -> datetime.timedelta:
        """How long the call took until the headers arrived."""
        return self._elapsed

    @property
    def text(self) -> str:
        """The body decoded (the headers' charset, else a guess)."""
        if self._text is None:
            encoding = self._encoding
            if encoding is None and self._content:
                detected = chardet.detect(self._content) if chardet is not None else None
                encoding = (detected or {}).get("encoding")
            try:
                text = str(self._content, encoding or "utf-8", errors="replace")
            except LookupError:
                text = str(self._content, "utf-8", errors="replace")
            object.__setattr__(self, "_text", text)
        return str(self._text)

    def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON; :class:`JSONDecodeError` when it is not JSON."""
        try:
            if self._encoding is None or self._encoding.lower().replace("-", "") == "utf8":
                return json.loads(self._content)
            return json.loads(self.text)
        except ValueError as exc:
            message = str(exc)
        raise JSONDecodeError(message)

    def raise_for_status(self) -> None:
        """Raise :class:`HTTPError` for a 4xx or 5xx status."""
        status = int(self._status)
        if 400 <= status < 500:
            kind = "Client Error"
        elif 500 <= status < 600:
            kind = "Server Error"
        else:
            return
        raise HTTPError(f"{status} {kind}: {self._reason} for url: {self._url}", response=self)

    def iter_lines(self) -> Iterator[str]:
        """The body's lines, as text."""
        return iter(self.text.splitlines())

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"<Response [{self._status}]>"


# --------------------------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------------------------


def _options(name: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key not in ACCEPTED:
            raise TypeError(f"requests.{name}() does not take {key!r} in the sandbox; it takes "
                            f"{', '.join(ACCEPTED)}")
        if key == "verify" and not isinstance(value, bool):
            raise TypeError("verify= takes True or False in the sandbox (no certificate files)")
        options[key] = plain(value, what=f"requests.{name}({key}=…)")
    return options


def _environment(url: str, options: dict[str, Any]) -> None:
    # What requests would take from the environment, except ~/.netrc: credentials read from
    # a file must not go to a URL that code chose.
    options.setdefault("proxies", requests.utils.get_environ_proxies(url))
    if options.get("verify", True) is True:
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            options["verify"] = bundle


def _call(name: str, method: str, url: Any, kwargs: Mapping[str, Any]) -> Response:
    options = _options(name, {k: v for k, v in kwargs.items() if v is not None})
    failure: BaseException
    try:
        with requests.Session() as session:
            session.trust_env = False
            _environment(str(url), options)
            response = session.request(str(method), str(url), **options)
            return Response.of(response)
    except requests.exceptions.RequestException as exc:
        failure = _translate(exc)
    except (TypeError, ValueError, UnicodeError) as exc:
        failure = fresh_exception(exc)
    raise failure


def get(url: str, params: Any = None, **kwargs: Any) -> Response:
    """An HTTP GET request; returns a Response."""
    return _call("get", "GET", url, {**kwargs, "params": params})


def options(url: str, **kwargs: Any) -> Response:
    """An HTTP OPTIONS request; returns a Response."""
    return _call("options", "OPTIONS", url, kwargs)


def head(url: str, **kwargs: Any) -> Response:
    """An HTTP HEAD request (no redirects unless asked); returns a Response."""
    kwargs.setdefault("allow_redirects", False)
    return _call("head", "HEAD", url, kwargs)


def post(url: str, data: Any = None, json: Any = None, **kwargs: Any) -> Response:
    """An HTTP POST request; returns a Response."""
    return _call("post", "POST", url, {**kwargs, "data": data, "json": json})


def put(url: str, data: Any = None, **kwargs: Any) -> Response:
    """An HTTP PUT request; returns a Response."""
    return _call("put", "PUT", url, {**kwargs, "data": data})


def patch(url: str, data: Any = None, **kwargs: Any) -> Response:
    """An HTTP PATCH request; returns a Response."""
    return _call("patch", "PATCH", url, {**kwargs, "data": data})


def delete(url: str, **kwargs: Any) -> Response:
    """An HTTP DELETE request; returns a Response."""
    return _call("delete", "DELETE", url, kwargs)


def request(method: str, url: str, **kwargs: Any) -> Response:
    """An HTTP request with any method; returns a Response."""
    return _call("request", method, url, kwargs)


def _codes() -> Namespace:
    names = {name: getattr(requests.codes, name) for name in dir(requests.codes)
             if not name.startswith("_") and isinstance(getattr(requests.codes, name), int)}
    return Namespace("requests.codes", names)


def build() -> dict[str, Any]:
    """The names of the ``requests`` facade."""
    values: dict[str, Any] = {"request": request, "get": get, "options": options, "head": head,
                              "post": post, "put": put, "patch": patch, "delete": delete}
    values.update(build_exceptions())
    values["codes"] = _codes()
    return values
