"""Health endpoint: is the web process up and can it reach the own database."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, request, url_for
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from webui.auth import public

bp = Blueprint("health", __name__)


@bp.get("/health")
@public
def health() -> Any:
    """200 with ``{"status": "ok"}`` when the own database answers, else 503."""
    token = current_app.config["SETTINGS"].metrics_token
    if token and not hmac.compare_digest(request.headers.get("Authorization", "").encode(),
                                         f"Bearer {token.reveal()}".encode()):
        # Without the token: up or not, never why (the database's error stays private).
        return jsonify(status="ok")
    db = current_app.extensions["syncstudio.db"]
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return jsonify(status="error", database=type(exc).__name__), 503
    return jsonify(status="ok", database="ok")


@bp.get("/")
@public
def index() -> Any:
    """The landing page is the dashboard (which asks for a login first)."""
    return redirect(url_for("dashboard.index"))
