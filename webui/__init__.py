"""Sync Studio's web process: the Flask app factory (dashboard, webhook relay, health,
metrics)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from connector.settings import Settings
from connector.store.db import Database
from worker.executor import WorkerContext


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the web application; ``test_config`` overrides settings in tests."""
    app = Flask(__name__)
    config = dict(test_config or {})
    settings = config.pop("SETTINGS", None)
    if not isinstance(settings, Settings):
        # The command line reads the environment once and hands its settings down.
        raise TypeError("create_app() needs {'SETTINGS': Settings.from_env(os.environ)}")
    app.config.update(SETTINGS=settings, MAX_CONTENT_LENGTH=settings.webhook_max_body)
    app.config.update(config)
    db = config.get("DATABASE") or Database(settings.database_url)
    app.extensions["syncstudio.db"] = db
    # Webhooks run their handler in this process, through the same executor as the workers.
    app.extensions["syncstudio.worker"] = WorkerContext.from_settings(settings, db)

    from webui import auth, dashboard, health, metrics, security, webhooks

    app.register_blueprint(health.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(metrics.bp)
    # Login, sessions and CSRF (the webhook relay is exempt), then the dashboard's pages.
    auth.init_app(app)
    dashboard.init_app(app)
    security.init_app(app)
    return app
