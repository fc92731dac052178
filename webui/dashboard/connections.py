"""Odoo connections: the list, "Test" (a login and a version call), and creating and editing
them, which is for Managers only.

A connection holds a password or API key, and its URL, database and login say where that
credential is sent: whoever may change the URL may have the credential sent to a server of their
choosing. So a Developer tests connections and picks them in trigger forms, and never edits one;
the password is written, never shown, and an empty password field keeps the stored one.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy import select

from connector.connections import connection_params
from connector.errors import SyncStudioError
from connector.odoo import make_client
from connector.odoo.factory import PROTOCOLS
from connector.schema.errors import problems_of
from connector.schema.models import OdooSpec
from connector.store.crypto import SecretBox
from connector.store.models import OdooConnection, Project
from webui.auth import role_required
from webui.dashboard import bp, catalog, database, get_or_404

NAME_LENGTH = 200
FIELDS = ("name", "url", "database", "login", "protocol", "timeout")


@bp.get("/connections")
@role_required("user")
def connections() -> Any:
    """Every connection with the projects using it (never the password)."""
    return _render_list()


def _render_list(status: int = 200, typed: dict[str, str] | None = None) -> Any:
    with database().session() as session:
        rows = list(session.scalars(select(OdooConnection).order_by(OdooConnection.name)))
        used: dict[int | None, list[str]] = {}
        for conn_id, name in session.execute(select(Project.connection_id, Project.name)):
            used.setdefault(conn_id, []).append(name)
        return render_template("dashboard/connections.html", connections=rows, used=used,
                               protocols=PROTOCOLS, typed=typed or {}), status


class Refused(Exception):
    """A connection form that cannot be saved; the message names the field and the fix."""


def _checked_form() -> dict[str, Any]:
    """The submitted settings, checked as a project file's ``odoo:`` section is."""
    typed = {key: request.form.get(key, "").strip() for key in FIELDS}
    if not typed["name"] or len(typed["name"]) > NAME_LENGTH:
        raise Refused(f"name: a connection needs a name of at most {NAME_LENGTH} characters")
    try:
        timeout = float(typed["timeout"] or 30)
    except ValueError:
        raise Refused(f"timeout: a number of seconds, got {typed['timeout']!r}") from None
    values: dict[str, Any] = {"url": typed["url"], "database": typed["database"],
                              "login": typed["login"], "protocol": typed["protocol"] or "jsonrpc",
                              "timeout": timeout}
    try:
        OdooSpec.model_validate(values)
    except ValidationError as exc:
        raise Refused("; ".join(p.render() for p in problems_of(exc, OdooSpec))) from None
    if not values["url"].startswith(("http://", "https://")):
        raise Refused(f"url: an http:// or https:// address, got {values['url']!r}")
    return {"name": typed["name"], **values, "url": str(values["url"]).rstrip("/")}


def _store(conn: OdooConnection, values: dict[str, Any]) -> None:
    for key, value in values.items():
        setattr(conn, key, value)
    password = request.form.get("password", "")
    if password:
        conn.password_enc = SecretBox.from_settings(current_app.config["SETTINGS"]).encrypt(
            password)
    elif request.form.get("clear_password") == "on":
        conn.password_enc = None


@bp.post("/connections")
@role_required("manager")
def create_connection() -> Any:
    """Add a connection (its password encrypted at once)."""
    try:
        values = _checked_form()
        with database().session() as session:
            if session.scalar(select(OdooConnection.id).where(
                    OdooConnection.name == values["name"])) is not None:
                raise Refused(f"name: a connection named {values['name']} exists already")
            conn = OdooConnection()
            _store(conn, values)
            session.add(conn)
    except Refused as exc:
        flash(str(exc), "error")
        typed = {key: request.form.get(key, "") for key in FIELDS}
        return _render_list(400, typed)
    flash(f"Connection {values['name']} saved; test it to see that Odoo answers.", "info")
    return redirect(url_for("dashboard.connections"))


@bp.get("/connections/<int:connection_id>")
@role_required("manager")
def connection(connection_id: int) -> Any:
    """The edit form of one connection."""
    with database().session() as session:
        conn = get_or_404(session, OdooConnection, connection_id)
        return render_template("dashboard/connection.html", conn=conn, protocols=PROTOCOLS,
                               typed={key: str(getattr(conn, key)) for key in FIELDS})


@bp.post("/connections/<int:connection_id>")
@role_required("manager")
def edit_connection(connection_id: int) -> Any:
    """Change a connection; an empty password keeps the stored one."""
    try:
        values = _checked_form()
        with database().session() as session:
            conn = get_or_404(session, OdooConnection, connection_id)
            if session.scalar(select(OdooConnection.id).where(
                    OdooConnection.name == values["name"],
                    OdooConnection.id != connection_id)) is not None:
                raise Refused(f"name: a connection named {values['name']} exists already")
            _store(conn, values)
    except Refused as exc:
        flash(str(exc), "error")
        with database().session() as session:
            conn = get_or_404(session, OdooConnection, connection_id)
            return render_template("dashboard/connection.html", conn=conn, protocols=PROTOCOLS,
                                   typed={k: request.form.get(k, "") for k in FIELDS}), 400
    catalog.clear()  # the pickers' answers came from the old settings
    flash(f"Connection {values['name']} saved.", "info")
    return redirect(url_for("dashboard.connections"))


@bp.post("/connections/<int:connection_id>/test")
@role_required("developer")
def test_connection(connection_id: int) -> Any:
    """Log in to the connection's Odoo and say what answered, or what went wrong."""
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
        flash(f"Test of {name} failed: {str(exc).splitlines()[0]}", "error")
    else:
        flash(f"Test of {name} passed: Odoo {info.get('server_version')}, logged in as "
              f"{info.get('user')} (uid {info.get('uid')})", "info")
    return redirect(url_for("dashboard.connections"))
