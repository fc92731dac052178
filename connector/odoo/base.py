"""The Odoo client interface and the logic every protocol shares.

A subclass supplies the transport (``_connect``, ``_rpc_version``, ``_rpc_login``,
``_rpc_execute_kw``) and raises only :mod:`connector.odoo.errors` from it. This class adds lazy
authentication, per-thread connections, call counting, one transparent reconnect for idempotent
reads, re-login when Odoo stops accepting the credentials, and the convenience methods.

A login is expensive on a real Odoo (the password is hashed: about 0.5 s, more when logins
overlap) while a call with a known uid costs milliseconds, so a client logs in once, however
many threads want the uid at the same moment, and a client can start from a uid obtained
elsewhere (``uid=``, e.g. by the worker for its sandbox processes) without logging in at all.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from connector.errors import ConfigurationError
from connector.odoo import errors
from connector.settings import Secret

log = logging.getLogger("connector.odoo")
T = TypeVar("T")


def split_url(url: str, ssl: bool) -> tuple[str, str, int, str]:
    """Split ``url`` into (scheme, host, port, path); a bare ``host[:port]`` gets 8069."""
    text = url.strip()
    if "://" not in text:
        text = ("https://" if ssl else "http://") + text
        default_port = 8069
    else:
        default_port = 0
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"Odoo URL {errors.public_url(url)!r} is not an http(s) URL")
    if (scheme == "https") != ssl:
        wanted = "an SSL protocol (jsonrpc+ssl, xmlrpcs, json2s)" if scheme == "https" else "http://"
        raise ConfigurationError(
            f"Odoo URL {errors.public_url(url)!r} does not match the protocol: use {wanted}")
    try:
        port = parts.port or default_port or (443 if ssl else 80)
    except ValueError:
        raise ConfigurationError(f"Odoo URL {errors.public_url(url)!r} has a bad port") from None
    return scheme, parts.hostname, port, parts.path.rstrip("/")


class OdooClient(abc.ABC):
    """One Odoo database seen through one user; safe to share between threads."""

    #: Protocol names of the subclass: (plain, over TLS).
    PROTOCOL_NAMES: ClassVar[tuple[str, str]] = ("", "")
    #: Methods that change nothing, so a dropped connection may be retried once.
    IDEMPOTENT_METHODS: ClassVar[frozenset[str]] = frozenset({
        "search", "search_read", "read", "search_count", "fields_get", "name_search",
        "read_group", "default_get", "check_access_rights", "context_get",
    })

    def __init__(self, url: str, database: str, login: str, password: str | Secret, *,
                 ssl: bool = False, timeout: float = 30.0, retry_delay: float = 0.2,
                 uid: int | None = None) -> None:
        if not database or not login:
            raise ConfigurationError("an Odoo connection needs a database name and a login")
        if timeout <= 0:
            raise ConfigurationError("the Odoo timeout must be greater than 0 seconds")
        self.protocol = self.PROTOCOL_NAMES[1 if ssl else 0]
        self.scheme, self.host, self.port, self.path = split_url(url, ssl)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{self.scheme}://{host}:{self.port}{self.path}"
        self.database = database
        self.login = login
        self._password = password if isinstance(password, Secret) else Secret(password)
        self.timeout = float(timeout)
        self.retry_delay = retry_delay
        self.calls: Counter[tuple[str, str]] = Counter()
        if uid is not None and (not isinstance(uid, int) or isinstance(uid, bool) or uid <= 0):
            raise ConfigurationError(f"a known Odoo uid is a positive integer, not {uid!r}")
        self._uid: int | None = uid
        self._login_failed_at: float | None = None
        self._lock = threading.Lock()
        self._auth_lock = threading.Lock()
        self._local = threading.local()
        self._generation = 0
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.protocol} {self.url} db={self.database!r} "
                f"login={self.login!r} uid={self._uid}>")

    # -- transport, supplied by subclasses ------------------------------------------------

    @abc.abstractmethod
    def _connect(self) -> Any:
        """Open a connection object for the calling thread."""

    def _disconnect(self, conn: Any) -> None:  # noqa: B027 - optional hook
        """Release ``conn``; the default has nothing to release."""

    @abc.abstractmethod
    def _rpc_version(self, conn: Any) -> dict[str, Any]:
        """Return Odoo's version information."""

    @abc.abstractmethod
    def _rpc_login(self, conn: Any) -> Any:
        """Return the uid for the credentials, or False when Odoo refuses them."""

    @abc.abstractmethod
    def _rpc_execute_kw(self, conn: Any, uid: int, model: str, method: str,
                        args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Run ``model.method(*args, **kwargs)`` as ``uid``."""

    # -- connection management ------------------------------------------------------------

    def _connection(self) -> Any:
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or getattr(local, "generation", None) != self._generation:
            conn = self._connect()
            local.conn, local.generation = conn, self._generation
            with self._lock:
                self._connections.add(conn)
        return conn

    def _reset_connection(self) -> None:
        """Drop the calling thread's connection; the next call opens a new one."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            self._safe_disconnect(conn)

    def _safe_disconnect(self, conn: Any) -> None:
        try:
            self._disconnect(conn)
        except Exception:  # closing a broken connection must not hide the real error
            log.debug("ignored error while closing an Odoo connection", exc_info=True)

    def close(self) -> None:
        """Close every connection; the client reconnects if it is used again."""
        with self._lock:
            conns = list(self._connections)
            self._connections = weakref.WeakSet()
            self._generation += 1
        for conn in conns:
            self._safe_disconnect(conn)

    def _guarded(self, what: str, fn: Callable[[], T], *, retry: bool) -> T:
        """Run ``fn``; scrub the password from errors; retry a dropped connection once."""
        try:
            return self._scrubbed(fn)
        except errors.OdooUnreachable as exc:
            self._reset_connection()
            if not (retry and exc.retryable):
                if exc.kind in ("dropped", "timeout") and not retry:
                    exc.args = (f"{exc} (not retried: {what} may already have been applied)",)
                raise
            log.info("%s; reconnecting once to retry %s", exc, what)
        time.sleep(self.retry_delay)
        return self._scrubbed(fn)

    def _scrubbed(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except errors.OdooError as exc:
            errors.scrub(exc, self._password.reveal())
            raise

    # -- the primitives -------------------------------------------------------------------

    def version(self) -> dict[str, Any]:
        """Odoo's version information: ``server_version``, ``server_version_info``, …"""
        return self._guarded("version", lambda: self._rpc_version(self._connection()),
                             retry=True)

    def authenticate(self) -> int:
        """Log in and return the uid; raise AuthenticationError when Odoo refuses."""
        return self._guarded("login", self._login, retry=True)

    def _login(self) -> int:
        with self._auth_lock:
            return self._login_locked()

    def _ensure_uid(self) -> int:
        """The known uid, or one login shared by every thread asking at the same time."""
        uid = self._uid
        if uid is not None:
            return uid
        with self._auth_lock:
            uid = self._uid  # another thread may have logged in while this one waited
            return uid if uid is not None else self._login_locked()

    def _login_locked(self) -> int:
        # The caller holds _auth_lock.
        try:
            uid = self._rpc_login(self._connection())
        except errors.OdooServerError as exc:
            if "does not exist" not in exc.message or self.database not in exc.message:
                raise
            raise errors.AuthenticationError(
                f"database {self.database!r} does not exist on Odoo at "
                f"{errors.public_url(self.url)} — check the database name") from exc
        if not uid or not isinstance(uid, int):
            self._uid = None
            raise errors.AuthenticationError(
                f"Odoo at {errors.public_url(self.url)} refused login {self.login!r} on "
                f"database {self.database!r} — check the login, the password/API key and "
                "the database name")
        self._uid = uid
        self._login_failed_at = None
        return uid

    @property
    def uid(self) -> int:
        """The user id; authenticates on first use (one login for all threads)."""
        uid = self._uid
        return uid if uid is not None else self._guarded("login", self._ensure_uid, retry=True)

    @property
    def known_uid(self) -> int | None:
        """The uid if one is known, without logging in."""
        return self._uid

    def try_uid(self, retry_after: float = 30.0) -> int | None:
        """The uid, logging in if none is known; None when that login fails.

        Never raises an Odoo error: callers that only want to save a login elsewhere
        (e.g. a worker handing the uid to its sandbox processes) go on without one. After a
        failure, no login is tried again for ``retry_after`` seconds.
        """
        uid = self._uid
        if uid is not None:
            return uid
        failed = self._login_failed_at
        if failed is not None and time.monotonic() - failed < retry_after:
            return None
        try:
            return self._guarded("login", self._ensure_uid, retry=True)
        except errors.OdooError as exc:
            self._login_failed_at = time.monotonic()
            log.info("no uid for %s yet: %s", errors.public_url(self.url), exc)
            return None

    @property
    def total_calls(self) -> int:
        """How many ``execute_kw`` calls were sent, all models and methods together."""
        return sum(self.calls.values())

    def execute_kw(self, model: str, method: str, args: Sequence[Any] = (),
                   kwargs: Mapping[str, Any] | None = None) -> Any:
        """Call ``model.method(*args, **kwargs)`` in Odoo and return its result."""
        call_args, call_kwargs = list(args), dict(kwargs or {})
        what = f"{model}.{method}"

        def send() -> Any:
            for attempt in (1, 2):
                uid = self._ensure_uid()
                conn = self._connection()
                with self._lock:
                    self.calls[(model, method)] += 1
                started = time.monotonic()
                try:
                    result = self._rpc_execute_kw(conn, uid, model, method, call_args,
                                                  call_kwargs)
                except errors.AuthenticationError:
                    # Odoo checked the credentials before running anything: re-login once.
                    with self._auth_lock:
                        if self._uid == uid:
                            self._uid = None
                    if attempt == 2:
                        raise
                    continue
                log.debug("odoo %s took %.1f ms", what, (time.monotonic() - started) * 1000)
                return result
            raise AssertionError("unreachable")  # pragma: no cover

        return self._guarded(what, send, retry=method in self.IDEMPOTENT_METHODS)

    # -- conveniences ---------------------------------------------------------------------

    @staticmethod
    def _ids(ids: int | Iterable[int]) -> list[int]:
        return [ids] if isinstance(ids, int) else [int(i) for i in ids]

    @staticmethod
    def _options(context: Mapping[str, Any] | None, **options: Any) -> dict[str, Any]:
        kwargs = {key: value for key, value in options.items() if value not in (None, 0, "")}
        if context:
            kwargs["context"] = dict(context)
        return kwargs

    def search(self, model: str, domain: Sequence[Any], offset: int = 0,
               limit: int | None = None, order: str | None = None,
               context: Mapping[str, Any] | None = None) -> list[int]:
        """Ids of the records of ``model`` matching ``domain``."""
        kwargs = self._options(context, offset=offset, limit=limit, order=order)
        return list(self.execute_kw(model, "search", [list(domain)], kwargs))

    def search_read(self, model: str, domain: Sequence[Any], fields: Sequence[str],
                    offset: int = 0, limit: int | None = None, order: str | None = None,
                    context: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """``fields`` (plus ``id``) of the records matching ``domain``."""
        kwargs = self._options(context, offset=offset, limit=limit, order=order)
        return list(self.execute_kw(model, "search_read", [list(domain), list(fields)], kwargs))

    def read(self, model: str, ids: int | Iterable[int], fields: Sequence[str],
             context: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """``fields`` of the records ``ids``; deleted ids are simply missing from the answer."""
        id_list = self._ids(ids)
        if not id_list:
            return []
        return list(self.execute_kw(model, "read", [id_list, list(fields)],
                                    self._options(context)))

    def search_count(self, model: str, domain: Sequence[Any],
                     context: Mapping[str, Any] | None = None) -> int:
        """How many records of ``model`` match ``domain``."""
        return int(self.execute_kw(model, "search_count", [list(domain)],
                                   self._options(context)))

    def create(self, model: str, vals_or_list: Mapping[str, Any] | Sequence[Mapping[str, Any]],
               context: Mapping[str, Any] | None = None) -> int | list[int]:
        """Create one record (dict → id) or several (list of dicts → list of ids)."""
        kwargs = self._options(context)
        if isinstance(vals_or_list, Mapping):
            result = self.execute_kw(model, "create", [dict(vals_or_list)], kwargs)
            return int(result[0] if isinstance(result, list) else result)
        vals_list = [dict(vals) for vals in vals_or_list]
        if not vals_list:
            return []
        result = self.execute_kw(model, "create", [vals_list], kwargs)
        return [int(result)] if isinstance(result, int) else [int(i) for i in result]

    def write(self, model: str, ids: int | Iterable[int], vals: Mapping[str, Any],
              context: Mapping[str, Any] | None = None) -> bool:
        """Write ``vals`` on the records ``ids``; MissingRecord if one was deleted."""
        id_list = self._ids(ids)
        if not id_list:
            return True
        return bool(self.execute_kw(model, "write", [id_list, dict(vals)],
                                    self._options(context)))

    def unlink(self, model: str, ids: int | Iterable[int],
               context: Mapping[str, Any] | None = None) -> bool:
        """Delete the records ``ids``; MissingRecord if one was already deleted."""
        id_list = self._ids(ids)
        if not id_list:
            return True
        return bool(self.execute_kw(model, "unlink", [id_list], self._options(context)))

    def fields_get(self, model: str, attributes: Sequence[str] | None = None) -> dict[str, Any]:
        """Field definitions of ``model``, limited to ``attributes`` when given."""
        kwargs = {"attributes": list(attributes)} if attributes else {}
        return dict(self.execute_kw(model, "fields_get", [], kwargs))

    def test_connection(self) -> dict[str, Any]:
        """Check URL, credentials and rights: ``{"server_version", "uid", "user"}``."""
        info = self.version()
        uid = self.authenticate()
        users = self.read("res.users", [uid], ["name"])
        name = users[0]["name"] if users else self.login
        return {"server_version": info.get("server_version"), "uid": uid, "user": name}
