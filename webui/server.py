"""Serving the web app: waitress in one process, or gunicorn with several worker processes.

Webhook handlers run in the web process, so on a machine with several cores one process (one
GIL) caps the webhook rate; ``syncstudio web --processes N`` forks N gunicorn workers, each
building its own app (database pool, sandbox processes) after the fork.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from flask import Flask

from connector.settings import Settings

DASHBOARD_THREADS = 8  # threads left for /health and the dashboard whatever handlers do


def threads_for(app: Flask) -> int:
    """Server threads: one per webhook handler slot (running or waiting), plus
    :data:`DASHBOARD_THREADS` that the handler pool's bound keeps free for everyone else."""
    settings = app.config["SETTINGS"]
    return settings.webhook_threads + settings.webhook_queue + DASHBOARD_THREADS


def serve_waitress(app: Flask, host: str, port: int,
                   announce: Callable[[str], None] = print) -> None:
    """Serve ``app`` in this process until interrupted."""
    from waitress import create_server

    server = create_server(app, host=host, port=port, threads=threads_for(app))
    announce(f"Dashboard: http://{host}:{server.effective_port}/")
    with contextlib.suppress(KeyboardInterrupt):
        server.run()


def _child_exit(_server: Any, worker: Any) -> None:
    """A worker process ended: its live metrics (gauges) must not be reported any more."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def serve_gunicorn(factory: Callable[[], Flask], host: str, port: int, processes: int,
                   announce: Callable[[str], None] = print, *,
                   settings: Settings) -> None:
    """Serve the app built by ``factory`` in ``processes`` forked worker processes."""
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):
        def load_config(self) -> None:
            threads = settings.webhook_threads + settings.webhook_queue + DASHBOARD_THREADS
            options: dict[str, Any] = {
                "bind": f"{host}:{port}", "workers": processes, "worker_class": "gthread",
                "threads": threads, "accesslog": None, "graceful_timeout": 10,
                # Each worker builds its own app: database connections and sandbox processes
                # must not be shared across a fork.
                "preload_app": False,
                "child_exit": _child_exit,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return factory()

    announce(f"Dashboard: http://{host}:{port}/ ({processes} processes)")
    Application().run()
