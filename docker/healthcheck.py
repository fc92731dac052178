"""The container health check: exit 0 when this container's process can do its work.

``SYNCSTUDIO_HEALTHCHECK=web`` (the default) asks the web process's ``/health`` on
``SYNCSTUDIO_WEB_PORT``; ``db`` (worker and poller containers, which serve no HTTP) checks that
the own database answers with the container's settings.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def web() -> bool:
    port = os.environ.get("SYNCSTUDIO_WEB_PORT", "8000")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=4) as answer:
        return bool(answer.status == 200)


def database() -> bool:
    from sqlalchemy import create_engine, text

    from connector.settings import Settings

    engine = create_engine(Settings.from_env(os.environ).database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    return True


def main() -> int:
    mode = os.environ.get("SYNCSTUDIO_HEALTHCHECK", "web")
    try:
        healthy = database() if mode == "db" else web()
    except Exception as exc:  # any failure is "unhealthy"; say why in `docker inspect`
        print(f"unhealthy: {type(exc).__name__}: {exc}")
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
