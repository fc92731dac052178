"""The dashboard: projects, tasks, triggers, jobs, logs and links, behind a login.

One module per area registers its views on :data:`bp`; :mod:`home` is the start page. Views
read with one short session each and render inside it; every view declares the role it needs
with :func:`webui.auth.role_required` (tests/dashboard/test_role_matrix.py checks that every
route has one); every write is a POST, CSRF-protected.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import yaml
from flask import Blueprint, Flask, abort, current_app, flash, request
from sqlalchemy.orm import Session

from connector.store.db import Database
from webui.auth import has_role

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
T = TypeVar("T")


def database() -> Database:
    """The app's own database."""
    db: Database = current_app.extensions["syncstudio.db"]
    return db


def get_or_404(session: Session, model: type[T], key: int) -> T:
    """The row ``key`` of ``model``, or a 404."""
    row = session.get(model, key)
    if row is None:
        abort(404)
    return row


def time_arg(name: str) -> dt.datetime | None:
    """The query argument ``name`` as a date and time; a malformed one is flashed and ignored."""
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        flash(f"{name} {value!r} is not a date and time; the filter was ignored.", "error")
        return None


def as_yaml(value: Any) -> str:
    """``value`` as block YAML, the way a project file writes it."""
    return str(yaml.safe_dump(value, sort_keys=False, allow_unicode=True,
                              default_flow_style=False)).removesuffix("...\n").strip()


def as_yaml_inline(value: Any) -> str:
    """``value`` as one line of flow YAML (``{mode: full}``), for tables."""
    return str(yaml.safe_dump(value, sort_keys=False, allow_unicode=True,
                              default_flow_style=True, width=10**6)).removesuffix("...\n").strip()


def init_app(app: Flask) -> None:
    """Register the dashboard's views, template helpers and error pages."""
    from webui.dashboard import (  # noqa: F401 - they register views
        connections,
        home,
        jobs,
        links,
        logs,
        projects,
        replay,
        tasks,
        triggers,
    )

    app.register_blueprint(bp)
    app.jinja_env.globals["has_role"] = has_role
    app.jinja_env.filters.update(yaml=as_yaml, yaml_inline=as_yaml_inline)
    app.jinja_env.globals.update(can_retry=jobs.can_retry, can_replay=jobs.can_replay,
                                 job_names=jobs.job_names)
    app.jinja_env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M:%S") \
        if value else ""

    @app.errorhandler(403)
    def forbidden(_error: Any) -> Any:
        from flask import render_template

        return render_template("error.html", code=403,
                               message="Your role does not allow this."), 403
