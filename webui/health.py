"""Health endpoint: is the web process up and can it reach the own database."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> Any:
    """200 with ``{"status": "ok"}`` when the own database answers, else 503."""
    db = current_app.extensions["syncstudio.db"]
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return jsonify(status="error", database=type(exc).__name__), 503
    return jsonify(status="ok", database="ok")


@bp.get("/")
def index() -> str:
    """A plain landing page until the dashboard lands."""
    return ("<!doctype html><title>Sync Studio</title><h1>Sync Studio</h1>"
            "<p>The service is running. <a href='/health'>Health</a></p>")
