"""``python -m bench.web webhooks``: /health and dashboard latency while webhook handlers are busy.

A web app on a fresh SQLite home is served by waitress with its real thread count; N callers
hit a webhook whose handler sleeps S seconds, and meanwhile /health and the login page are
requested every 50 ms. Prints the latency of those requests (median, 95th percentile, max) and
how the webhook calls ended. All traffic stays on loopback.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import threading
import time
from collections import Counter

import requests
from sqlalchemy import select
from waitress import create_server
from werkzeug.security import generate_password_hash

from connector.projects import ProjectImporter, parse
from connector.settings import Settings
from connector.store import migrate
from connector.store.crypto import SecretBox
from connector.store.db import Database
from connector.store.models import DashboardUser, Trigger
from webui import create_app
from webui.server import threads_for

PROJECT = """
name: Bench
tasks:
  - name: Slow
    code: |
      def handle_webhook(httprequest):
          time.sleep(float(httprequest.args.get("s", "2")))
          return "slept"
    triggers:
      webhook: [{trigger_name: SLOW, type: form}]
"""


def main(argv: list[str] | None = None) -> None:
    """Run the webhook-load benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.web webhooks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--handlers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=2.0, help="each handler's sleep")
    args = parser.parse_args(argv)
    home = tempfile.mkdtemp(prefix="syncstudio-bench-web-")
    settings = Settings.from_env({"SYNCSTUDIO_HOME": home})  # key file made in home
    settings = dataclasses.replace(settings, webhook_queue=max(0, args.handlers - 8))
    db = Database(settings.database_url)
    migrate.upgrade(db)
    with db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings), environ={}).import_data(
            parse(PROJECT))
        session.add(DashboardUser(login="bench", role="manager",
                                  password_hash=generate_password_hash("bench")))
        token = session.scalars(select(Trigger).where(Trigger.trigger_name == "SLOW")).one().token
    app = create_app({"SETTINGS": settings, "DATABASE": db})
    server = create_server(app, host="127.0.0.1", port=0, threads=threads_for(app))
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{server.effective_port}"
    requests.get(f"{base}/webhooks/{token}?s=0", timeout=60)  # warm the sandbox up
    outcomes: Counter[str] = Counter()

    def call() -> None:
        try:
            code = requests.get(f"{base}/webhooks/{token}?s={args.seconds}", timeout=300)
            outcomes[str(code.status_code)] += 1
        except requests.RequestException as exc:
            outcomes[type(exc).__name__] += 1

    callers = [threading.Thread(target=call) for _ in range(args.handlers)]
    started = time.perf_counter()
    for caller in callers:
        caller.start()
    latency: dict[str, list[float]] = {"/health": [], "/login": []}
    while any(caller.is_alive() for caller in callers):
        for path, samples in latency.items():
            before = time.perf_counter()
            requests.get(base + path, timeout=30)
            samples.append(time.perf_counter() - before)
        time.sleep(0.05)
    total = time.perf_counter() - started
    print(f"{args.handlers} webhook handlers sleeping {args.seconds:g} s, "
          f"{settings.web_sandboxes} sandboxes, {threads_for(app)} server threads, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"webhook calls: {dict(outcomes)} in {total:.1f} s")
    for path, samples in latency.items():
        ordered = sorted(samples)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        print(f"{path:8} {len(samples):4} requests  median {statistics.median(samples) * 1000:7.1f}"
              f" ms  p95 {p95 * 1000:7.1f} ms  max {max(samples) * 1000:7.1f} ms")
    server.close()


if __name__ == "__main__":
    main()
