"""Odoo 19's External JSON-2 API, added to the Odoo 17 simulator: ``/json/2/<model>/<method>``.

What the simulator reproduces (Odoo 19 documentation "External JSON-2 API", and the shape of
Odoo 19's ``json2`` route and dispatcher):

* ``POST /json/2/<model>/<method>`` with ``Authorization: bearer <API key>``, an optional
  ``X-Odoo-Database`` header and a JSON object of named arguments; ``ids`` and ``context``
  are special (they make the recordset and its environment), every other key is a parameter
  of the method.
* Success: status 200 and the method's return value as the body, no envelope; a returned
  recordset becomes its list of ids (so ``create`` always answers a list).
* Errors: a 4xx/5xx status and ``{"name", "message", "arguments", "context", "debug"}``:
  401 ``werkzeug.exceptions.Unauthorized`` for a missing or wrong key, 404
  ``werkzeug.exceptions.NotFound`` for an unknown model or method, 422
  ``werkzeug.exceptions.UnprocessableEntity`` for arguments the method does not take (or
  ``ids`` given to an ``@api.model`` method), the exception's own status for
  ``odoo.exceptions`` (UserError/ValidationError 422, AccessError 403, MissingError 404) and
  500 for anything else (``builtins.ValueError`` of a malformed domain).
* ``GET /web/version`` answers ``{"version_info": [...], "version": "..."}``.

Choices where the documentation is silent: an ``X-Odoo-Database`` naming another database
answers 500 ``psycopg2.OperationalError`` 'database "x" does not exist' (what the simulator's
other protocols say for a missing database); the simulator still reports its Odoo 17 version
numbers. Keys live in memory: :meth:`ApiKeys.add` makes one for a user; the admin's
:data:`ADMIN_API_KEY` is always valid so another process can use it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import secrets
import threading
from typing import Any

from .errors import DatabaseMissing, OdooException, exception_name, format_debug
from .orm import BaseModel
from .services import VERSION_INFO

PREFIX = "/json/2/"
#: The admin's key: fixed, like admin/admin, so a simulator in another process is usable.
ADMIN_API_KEY = hashlib.sha1(b"odoo-simulator admin api key").hexdigest()
#: HTTP status of each simulated odoo.exceptions class, as Odoo 19's exceptions declare.
HTTP_STATUS = {
    "odoo.exceptions.AccessDenied": 403,
    "odoo.exceptions.AccessError": 403,
    "odoo.exceptions.MissingError": 404,
}
#: Odoo 19 parameter names that the simulated (Odoo 17) methods spell differently.
RENAMED = {"name_search": {"domain": "args"}}
#: Methods whose Odoo result is a recordset: JSON-2 sends its ids, always a list.
RETURNS_RECORDS = frozenset({"create", "search", "copy", "exists", "message_post"})


class ApiKeys:
    """The simulator's API keys: key -> uid (thread-safe)."""

    def __init__(self, admin_uid: int) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, int] = {ADMIN_API_KEY: admin_uid}

    def add(self, uid: int) -> str:
        """A new key (40 hex digits, 160 bits like Odoo's) for user ``uid``."""
        key = secrets.token_hex(20)
        with self._lock:
            self._keys[key] = int(uid)
        return key

    def revoke(self, key: str) -> bool:
        """Forget ``key``; False when it did not exist."""
        with self._lock:
            return self._keys.pop(key, None) is not None

    def uid(self, key: str) -> int | None:
        """The user of ``key``, or None."""
        with self._lock:
            return self._keys.get(key)


class HttpError(Exception):
    """A werkzeug HTTP exception as Odoo 19 serializes it (name ``werkzeug.exceptions.X``)."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message, status)
        self.status = status
        self.odoo_name = f"werkzeug.exceptions.{name}"
        self.message = message

    def __str__(self) -> str:
        return self.message


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(status, body) of Odoo 19's Json2Dispatcher for ``exc``."""
    name = exception_name(exc)
    if isinstance(exc, HttpError):
        status, arguments = exc.status, [exc.message, exc.status]
    else:
        status = HTTP_STATUS.get(name, 422) if isinstance(exc, OdooException) else 500
        arguments = [a if isinstance(a, (str, int, float, bool)) or a is None else str(a)
                     for a in exc.args]
    return status, {"name": name, "message": str(exc), "arguments": arguments,
                    "context": {}, "debug": format_debug(exc)}


def version_body() -> dict[str, Any]:
    """The body of ``GET /web/version``."""
    info: Any = VERSION_INFO["server_version_info"]
    return {"version_info": list(info),
            "version": VERSION_INFO["server_version"]}


class Json2:
    """Handles the JSON-2 routes of one simulator."""

    def __init__(self, sim) -> None:
        self.sim = sim
        self.services = sim.services

    def handle(self, path: str, headers, body: bytes) -> tuple[int, Any]:
        """(status, JSON body) for one ``POST /json/2/...`` request."""
        try:
            return 200, self._call(path, headers, body)
        except Exception as exc:  # every error becomes a status and an error body
            return error_body(exc)

    def _user(self, headers) -> int:
        scheme, _, key = (headers.get("Authorization") or "").strip().partition(" ")
        uid = self.sim.api_keys.uid(key.strip()) if scheme.lower() == "bearer" else None
        if uid is None or not self._active(uid):
            raise HttpError(401, "Unauthorized", "Invalid apikey")
        return uid

    def _active(self, uid: int) -> bool:
        storage = self.sim.storage
        with storage.lock:
            row = storage.conn.execute("SELECT active FROM res_users WHERE id = ?",
                                       (uid,)).fetchone()
        return bool(row and row[0])

    def _call(self, path: str, headers, body: bytes) -> Any:
        parts = path[len(PREFIX):].split("/")
        if len(parts) != 2 or not all(parts):
            raise HttpError(404, "NotFound", "Did you mean POST /json/2/<model>/<method>?")
        model, method = parts
        database = headers.get("X-Odoo-Database")
        if database and database != self.sim.database:
            raise DatabaseMissing(database)
        uid = self._user(headers)
        try:
            params = json.loads(body) if body else {}
        except ValueError as exc:
            raise HttpError(400, "BadRequest",
                            f"could not parse the body as json: {exc}") from None
        if not isinstance(params, dict):
            params = {}  # Odoo ignores a body that is not an object
        ids = params.pop("ids", None) or []
        context = params.pop("context", None) or {}
        args, kwargs = self._bind(model, method, ids, params)
        if context:
            kwargs["context"] = context
        result = self.services.call(uid, model, method, args, kwargs)
        if method in RETURNS_RECORDS and isinstance(result, int) and \
                not isinstance(result, bool):
            result = [result]
        return result

    def _bind(self, model: str, method: str, ids: Any, params: dict) -> tuple[list, dict]:
        """Positional args and kwargs for the simulated method; 404/422 like Odoo 19."""
        if model not in self.sim.registry:
            raise HttpError(404, "NotFound", f"the model {model!r} does not exist")
        if method.startswith("_"):
            return [], params  # Services.call answers AccessError, as Odoo does
        function = BaseModel(None, self.sim.registry[model]).rpc_method(method)  # type: ignore[arg-type]
        if function is None:
            raise HttpError(404, "NotFound",
                            f"The method {method!r} does not exist on the model {model!r}")
        renamed = RENAMED.get(method, {})
        kwargs = {renamed.get(key, key): value for key, value in params.items()}
        record_method = method in BaseModel.RECORD_METHODS
        if not record_method and ids:
            raise HttpError(422, "UnprocessableEntity", f"cannot call {model}.{method} with ids")
        args = [ids] if record_method else []
        try:
            inspect.signature(function).bind(*args, **kwargs)
        except TypeError as exc:
            raise HttpError(422, "UnprocessableEntity", str(exc)) from None
        return args, kwargs
