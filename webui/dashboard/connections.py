"""Odoo connections, with a "Test connection" action."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from sqlalchemy import select

from connector.connections import connection_params
from connector.errors import SyncStudioError
from connector.odoo import make_client
from connector.store.crypto import SecretBox
from connector.store.models import OdooConnection, Project
from webui.auth import role_required
from webui.dashboard import bp, database, get_or_404


@bp.get("/connections")
@role_required("user")
def connections() -> Any:
    """Every connection with the projects using it (never the password)."""
    with database().session() as session:
        rows = list(session.scalars(select(OdooConnection).order_by(OdooConnection.name)))
        used: dict[int | None, list[str]] = {}
        for conn_id, name in session.execute(select(Project.connection_id, Project.name)):
            used.setdefault(conn_id, []).append(name)
        return render_template("dashboard/connections.html", connections=rows, used=used)


@bp.post("/connections/<int:connection_id>/test")
@role_required("developer")
def test_connection(connection_id: int) -> Any:
    """Log in to the connection's Odoo and say what answered, or what went wrong."""
    from flask import current_app

    with database().session() as session:
        conn = get_or_404(session, OdooConnection, connection_id)
        params = connection_params(conn, SecretBox.from_settings(
            current_app.config["SETTINGS"]))
        name = conn.name
    try:
        client = make_client(**params)
        try:
            info = client.test_connection()
        finally:
            client.close()
    except SyncStudioError as exc:  # the client's errors never carry the password
        flash(f"{name}: {str(exc).splitlines()[0]}", "error")
    else:
        flash(f"{name}: Odoo {info.get('server_version')}, logged in as {info.get('user')} "
              f"(uid {info.get('uid')})", "info")
    return redirect(url_for("dashboard.connections"))
