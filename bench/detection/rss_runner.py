"""The poller of the memory benchmark, in its own process so its peak RSS is its own.

``python -m bench.detection.rss_runner SECONDS``: activates (building the snapshot), polls for
SECONDS, then prints one JSON line with the build time, cycles and peak RSS (VmHWM).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from connector.connections import ClientPool
from connector.detection.poller import Poller
from connector.settings import Settings
from connector.store.crypto import SecretBox
from connector.store.db import Database


def peak_rss_mb() -> float:
    """The process's peak resident set size, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    settings = Settings.from_env(os.environ)
    poller = Poller(Database(settings.database_url), ClientPool(SecretBox.from_settings(settings)),
                    interval=1.0, deletion_interval=2.0)
    started = time.monotonic()
    poller.run_once()
    build = time.monotonic() - started
    print(json.dumps({"event": "built", "build_s": build}), flush=True)
    stop = threading.Event()
    cycles = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        report = poller.run_once()
        cycles += 1
        stop.wait(1.0)
    print(json.dumps({"event": "done", "build_s": build, "cycles": cycles,
                      "jobs": report.jobs, "peak_rss_mb": peak_rss_mb()}), flush=True)


if __name__ == "__main__":
    main()
