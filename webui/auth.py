"""Dashboard authentication: Flask-Login against :class:`DashboardUser`, roles, CSRF.

Roles are ordered ``user`` < ``developer`` < ``manager`` (SPEC §3): a User only reads, a
Developer edits projects, tasks, triggers and params but never sees secret values or protected
code, a Manager does everything. Every dashboard form is CSRF-protected; the webhook relay is
exempt (its callers are other systems, authenticated by the unguessable token in the URL).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
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
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        return str(self.id)

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


def role_required(role: str) -> Callable[[F], F]:
    """Log-in required, then 403 unless the user's role is ``role`` or above."""
    if role not in RANK:
        raise ValueError(f"unknown role {role!r}, expected one of {', '.join(ROLES)}")

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not has_role(role):
                abort(403)
            return view(*args, **kwargs)

        return cast(F, login_required(wrapped))

    return decorate


@login_manager.user_loader
def _load_user(user_id: str) -> LoggedUser | None:
    try:
        key = int(user_id)
    except ValueError:
        return None
    db = current_app.extensions["syncstudio.db"]
    with db.session() as session:
        row = session.get(DashboardUser, key)
        if row is None or not row.active:
            return None
        return LoggedUser(row.id, row.login, row.role)


def _safe_next(target: str | None) -> str:
    """Only redirect to a path on this site after login (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") \
                and not target.startswith("//") and "\\" not in target:
            return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form; a wrong login or password gets one message for both."""
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for("dashboard.index"))
        return render_template("login.html", next=request.args.get("next", ""))
    name = request.form.get("login", "").strip()
    password = request.form.get("password", "")
    db = current_app.extensions["syncstudio.db"]
    with db.session() as session:
        row = session.scalar(select(DashboardUser).where(DashboardUser.login == name))
        ok = row is not None and row.active and check_password_hash(row.password_hash, password)
        user = LoggedUser(row.id, row.login, row.role) if ok and row is not None else None
    if user is None:
        flash("Wrong login or password.", "error")
        return render_template("login.html", next=request.form.get("next", ""), login=name), 401
    login_user(user)
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
@login_required
def logout() -> Any:
    """Forget the session."""
    logout_user()
    flash("Logged out.", "info")
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    """Sessions, login and CSRF for the dashboard; the webhook relay stays CSRF-exempt."""
    from webui import webhooks

    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = session_secret(app.config["SETTINGS"])
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    login_manager.init_app(app)
    csrf.init_app(app)
    csrf.exempt(webhooks.bp)
    app.register_blueprint(bp)
