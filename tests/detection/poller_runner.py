"""A poller process for the crash test: ``python -m tests.detection.poller_runner OWNER``.

Reads SYNCSTUDIO_HOME and SYNCSTUDIO_DATABASE_URL like ``syncstudio poller`` but only detects
(no dispatcher, no workers), so the test can count job rows while killing it at random.
"""

from __future__ import annotations

import os
import sys
import threading

from connector.connections import ClientPool
from connector.detection.poller import Poller
from connector.settings import Settings
from connector.store.crypto import SecretBox
from connector.store.db import Database


def main() -> None:
    owner = sys.argv[1] if len(sys.argv) > 1 else "crash-test"
    settings = Settings.from_env(os.environ)
    db = Database(settings.database_url)
    poller = Poller(db, ClientPool(SecretBox.from_settings(settings)), batch_size=50,
                    interval=0.05, owner=owner, lease_ttl=2.0, deep_every=2.0, recent=3.0)
    print("ready", flush=True)
    poller.run(threading.Event())


if __name__ == "__main__":
    main()
