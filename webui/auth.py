"""Dashboard authentication: Flask-Login against :class:`DashboardUser`, roles, CSRF.

Roles are ordered ``user`` < ``developer`` < ``manager``: a User only reads, a
Developer edits projects, tasks, triggers and params but never sees secret values or protected
code, a Manager does everything. Every dashboard form is CSRF-protected; the webhook relay is
exempt (its callers are other systems, authenticated by the unguessable token in the URL).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import math
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import select
from werkzeug.security import check_password_hash

from connector.settings import Settings
from connector.store.crypto import load_or_create_key
from connector.store.models import ROLES, DashboardUser

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
login_manager = LoginManager()
# Per client address; in memory of each web process (a shared storage is one setting away).
limiter = Limiter(get_remote_address, default_limits=[], storage_uri="memory://",
                  headers_enabled=False)
LOCKOUT = "syncstudio.lockout"
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see the dashboard."

RANK = {role: rank for rank, role in enumerate(ROLES)}  # user < developer < manager
F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class LoggedUser:
    """What a request knows of the logged-in person (detached from any database session)."""

    id: int
    login: str
    role: str
    session_version: int = 1
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        # The version rides in the session: bumping it in the row ends every older session.
        return f"{self.id}:{self.session_version}"

    def has_role(self, role: str) -> bool:
        """True when this user's role is ``role`` or above it."""
        return RANK.get(self.role, -1) >= RANK[role]


def session_secret(settings: Settings) -> str:
    """The key signing session cookies, derived from the secrets' key material.

    It is the configured ``SYNCSTUDIO_SECRET_KEY`` or the data directory's key file, so it is
    never hard-coded and every process of one installation shares it; an HMAC with a label keeps
    the signing key distinct from the encryption key.
    """
    material = load_or_create_key(settings)
    return hmac.new(material, b"syncstudio dashboard session", hashlib.sha256).hexdigest()


def has_role(role: str) -> bool:
    """True when someone is logged in with ``role`` or above (for templates and views)."""
    return bool(current_user.is_authenticated) and cast(LoggedUser, current_user).has_role(role)


#: The attribute naming the role a view requires ("public": none); the role-matrix test
#: checks every route has one and that it is enforced.
REQUIRED_ROLE = "required_role"


def role_required(role: str) -> Callable[[F], F]:
    """Log-in required, then 403 unless the user's role is ``role`` or above
    (``role_required("user")``: any logged-in user)."""
    if role not in RANK:
        raise ValueError(f"unknown role {role!r}, expected one of {', '.join(ROLES)}")

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not has_role(role):
                abort(403)
            return view(*args, **kwargs)

        guarded = login_required(wrapped)
        setattr(guarded, REQUIRED_ROLE, role)
        return cast(F, guarded)

    return decorate


def public(view: F) -> F:
    """Mark a view as open to anyone (login page, webhooks, health, metrics)."""
    setattr(view, REQUIRED_ROLE, "public")
    return view


@login_manager.user_loader
def _load_user(user_id: str) -> LoggedUser | None:
    try:
        key, version = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None  # malformed, or a cookie from before session versions
    db = current_app.extensions["syncstudio.db"]
    with db.session() as session:
        row = session.get(DashboardUser, key)
        if row is None or not row.active or row.session_version != version:
            return None
        return LoggedUser(row.id, row.login, row.role, row.session_version)


def _safe_next(target: str | None) -> str:
    """Only redirect to a path on this site after login (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") \
                and not target.startswith("//") and "\\" not in target:
            return target
    return url_for("dashboard.index")


class Lockout:
    """Per-account lockout: ``max_failures`` wrong passwords in a row lock a login for
    ``seconds``. Kept in memory of the web process; ``clock`` is injectable for tests."""

    def __init__(self, max_failures: int, seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.seconds, self.clock = max_failures, seconds, clock
        self._failures: dict[str, tuple[int, float]] = {}  # login → (failures, locked until)
        self._lock = threading.Lock()

    def locked_for(self, name: str) -> float:
        """Seconds ``name`` stays locked (0: not locked)."""
        with self._lock:
            _count, until = self._failures.get(name, (0, 0.0))
            return max(0.0, until - self.clock())

    def failed(self, name: str) -> None:
        """Count a wrong password; the ``max_failures``-th locks the login."""
        with self._lock:
            count, _until = self._failures.get(name, (0, 0.0))
            count += 1
            if count >= self.max_failures:
                self._failures[name] = (0, self.clock() + self.seconds)
            else:
                self._failures[name] = (count, 0.0)
            if len(self._failures) > 100_000:  # bounded memory under a spray of logins
                self._failures.clear()

    def succeeded(self, name: str) -> None:
        """A right password resets the count."""
        with self._lock:
            self._failures.pop(name, None)


def _login_attempt_limit() -> str:
    return str(current_app.config["SETTINGS"].login_rate_limit)


def _nobody_can_log_in() -> bool:
    """True while no dashboard user exists: the login page then says how to create one."""
    db = current_app.extensions["syncstudio.db"]
    with db.session() as session:
        return session.scalar(select(DashboardUser.id).limit(1)) is None


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_login_attempt_limit, methods=["POST"],
               error_message="Too many login attempts from this address; wait a minute.")
def login() -> Any:
    """The login form; a wrong login or password gets one message for both."""
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for("dashboard.index"))
        return render_template("login.html", next=request.args.get("next", ""),
                               first_run=_nobody_can_log_in())
    name = request.form.get("login", "").strip()[:200]
    password = request.form.get("password", "")
    lockout: Lockout = current_app.extensions[LOCKOUT]
    wait = lockout.locked_for(name)
    if wait:
        flash(f"Too many wrong passwords for this login: try again in {math.ceil(wait)} s.",
              "error")
        response = render_template("login.html", next=request.form.get("next", ""), login=name)
        return response, 429, {"Retry-After": str(math.ceil(wait))}
    db = current_app.extensions["syncstudio.db"]
    with db.session() as session:
        row = session.scalar(select(DashboardUser).where(DashboardUser.login == name))
        ok = row is not None and row.active and check_password_hash(row.password_hash, password)
        user = (LoggedUser(row.id, row.login, row.role, row.session_version)
                if ok and row is not None else None)
    if user is None:
        lockout.failed(name)
        flash("Wrong login or password.", "error")
        return render_template("login.html", next=request.form.get("next", ""), login=name), 401
    lockout.succeeded(name)
    login_user(user)
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
@role_required("user")
def logout() -> Any:
    """End the session, and every copy of its cookie (the user's other sessions too)."""
    db = current_app.extensions["syncstudio.db"]
    with db.session() as session:
        row = session.get(DashboardUser, cast(LoggedUser, current_user).id)
        if row is not None:
            row.session_version += 1
    logout_user()
    flash("Logged out.", "info")
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    """Sessions, login and CSRF for the dashboard; the webhook relay stays CSRF-exempt."""
    from webui import webhooks

    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = session_secret(app.config["SETTINGS"])
    settings: Settings = app.config["SETTINGS"]
    # Flask's defaults already hold these keys, so they are set outright (tests may override
    # them through test_config, applied after this by the caller's own config).
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    app.config["SESSION_COOKIE_SECURE"] = settings.secure_cookies
    app.config["REMEMBER_COOKIE_SAMESITE"] = "Strict"
    app.config["REMEMBER_COOKIE_SECURE"] = settings.secure_cookies
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    app.extensions[LOCKOUT] = Lockout(settings.login_max_failures, settings.login_lockout_seconds)
    limiter.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    csrf.exempt(webhooks.bp)
    app.register_blueprint(bp)
