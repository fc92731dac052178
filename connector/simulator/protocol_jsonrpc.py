"""JSON-RPC routes: ``/jsonrpc``, ``/web/webclient/version_info``, web sessions, call_kw.

Responses and error objects have the shapes of the recorded Odoo 17 traffic: results as
``{"jsonrpc": "2.0", "id": ..., "result": ...}``, errors as ``{"code": 200, "message":
"Odoo Server Error", "data": {"name", "debug", "message", "arguments", "context"}}``.
"""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from .errors import AccessDenied, SessionExpired, json_error
from .services import VERSION_INFO

SESSION_MAX_AGE = 604800  # seconds, as in the recorded Set-Cookie header


class Sessions:
    """Web sessions (cookie ``session_id``) and the user logged in each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, dict] = {}

    def get(self, sid: str | None) -> dict | None:
        """The session ``sid``, if it exists."""
        with self._lock:
            return self._sessions.get(sid) if sid else None

    def new(self) -> str:
        """Create an anonymous session and return its id."""
        sid = secrets.token_hex(20)
        with self._lock:
            self._sessions[sid] = {"uid": None, "login": None, "db": None}
        return sid

    def put(self, sid: str, session: dict) -> None:
        """Store (replace) a session."""
        with self._lock:
            self._sessions[sid] = session

    def drop(self, sid: str) -> None:
        """Forget a session."""
        with self._lock:
            self._sessions.pop(sid, None)


def cookie_header(sid: str) -> str:
    """The Set-Cookie value Odoo 17 sends for a new session."""
    expires = datetime.now(UTC) + timedelta(days=365)
    return (f"session_id={sid}; Expires={format_datetime(expires, usegmt=True)}; "
            f"Max-Age={SESSION_MAX_AGE}; HttpOnly; Path=/")


class JsonRpc:
    """Handles the JSON routes of one simulator."""

    def __init__(self, sim) -> None:
        self.sim = sim
        self.services = sim.services
        self.sessions = Sessions()

    def handle(self, path: str, body: bytes, cookie_sid: str | None):
        """(status, response dict, Set-Cookie value or None) for one JSON request."""
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ValueError("JSON-RPC request must be an object")
        except ValueError as exc:
            return 400, {"jsonrpc": "2.0", "id": None, "error": json_error(exc)}, None
        params = request.get("params") or {}
        answer = {"jsonrpc": "2.0", "id": request.get("id")}
        session = self.sessions.get(cookie_sid)
        set_cookie = None
        if session is None and path != "/jsonrpc":
            # Odoo opens a session for any web route and sends its cookie.
            cookie_sid = self.sessions.new()
            session = self.sessions.get(cookie_sid)
            set_cookie = cookie_header(cookie_sid)
        try:
            result, rotated = self._route(path, params, session, cookie_sid)
            if rotated:
                set_cookie = cookie_header(rotated)
            answer["result"] = result
        except LookupError:
            return 404, None, None
        except Exception as exc:  # every error becomes an error object, as in Odoo
            answer["error"] = json_error(exc)
        return 200, answer, set_cookie

    def _route(self, path: str, params: dict, session: dict | None, sid: str | None):
        if path == "/jsonrpc":
            return self.services.dispatch(params.get("service"), params.get("method"),
                                          list(params.get("args") or [])), None
        if path == "/web/webclient/version_info":
            return dict(VERSION_INFO), None
        if path == "/web/session/authenticate":
            return self._authenticate(params)
        if path == "/web/session/get_session_info":
            if not session or not session["uid"]:
                raise SessionExpired()
            return self._session_info(session), None
        if path == "/web/session/destroy":
            if sid:
                self.sessions.drop(sid)
            return None, None
        if path == "/web/dataset/call_kw" or path.startswith("/web/dataset/call_kw/"):
            if not session or not session["uid"]:
                raise SessionExpired()
            kwargs = dict(params.get("kwargs") or {})
            return self.services.call(session["uid"], params.get("model"),
                                      params.get("method"), list(params.get("args") or []),
                                      kwargs), None
        raise LookupError(path)

    def _authenticate(self, params: dict):
        uid = self.services.authenticate(params.get("db"), params.get("login"),
                                         params.get("password"), {})
        if not uid:
            raise AccessDenied()
        sid = self.sessions.new()  # a fresh session id on login, as Odoo rotates it
        session = {"uid": uid, "login": params.get("login"), "db": params.get("db")}
        self.sessions.put(sid, session)
        info = self._session_info(session)
        info["session_id"] = sid
        return info, sid

    def _session_info(self, session: dict) -> dict:
        uid = session["uid"]
        context = self.services.call(uid, "res.users", "context_get", [], {}, count=False)
        user = self.services.call(uid, "res.users", "read", [[uid], ["name", "partner_id"]],
                                  {}, count=False)[0]
        return {
            "uid": uid, "is_system": uid in (1, 2), "is_admin": uid in (1, 2),
            "user_context": context, "db": session["db"], "username": session["login"],
            "name": user["name"], "partner_id": user["partner_id"][0],
            "partner_display_name": user["partner_id"][1], "company_id": 1,
            "server_version": VERSION_INFO["server_version"],
            "server_version_info": VERSION_INFO["server_version_info"],
        }
