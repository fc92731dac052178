"""A poller killed with SIGKILL at random points during 2,000 changes, and restarted each time,
still hands every change to exactly one job: the cursor, the snapshots and the job rows are
committed together, so a kill either keeps all of a cycle or none of it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from connector.store.models import PollCursor
from tests.detection.conftest import ids_of, import_triggers, sim_odoo
from tests.support import wait_until

#: Long-running: left out of the fast subset (-m "not slow").
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PARTNER = "res.partner"


def start_runner(settings) -> subprocess.Popen:
    env = {**os.environ, "SYNCSTUDIO_HOME": str(settings.home),
           "SYNCSTUDIO_DATABASE_URL": settings.database_url, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.detection.poller_runner", "crash"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def baseline_taken(db) -> bool:
    """Whether the poller has taken its baseline (its cursor is ready)."""
    with db.session() as session:
        state = session.scalar(select(PollCursor.state_json))
    return bool(state) and '"ready": true' in state


def test_sigkill_at_random_points_loses_and_doubles_nothing(settings, sqlite_db, sim):
    odoo = sim_odoo(sim)
    import_triggers(settings, sqlite_db, odoo, [
        {"trigger_name": "ON_NEW", "model": PARTNER, "condition": "create"},
        {"trigger_name": "ON_EMAIL", "model": PARTNER, "condition": "write",
         "watched_fields": ["email"]}])
    existing = odoo.create(PARTNER, [{"name": f"old {i}"} for i in range(1000)])
    rng = random.Random(3)
    proc = start_runner(settings)
    kills = 0
    done = threading.Event()

    def killer() -> None:
        nonlocal proc, kills
        while not done.is_set():
            time.sleep(rng.uniform(0.3, 1.2))
            if done.is_set():
                break
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            proc = start_runner(settings)

    created: list[int] = []
    written: list[int] = []
    try:
        # Let the first runner take its baseline before anything changes.
        wait_until(lambda: baseline_taken(sqlite_db), 30, "the first runner's baseline")
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        todo = list(existing)
        rng.shuffle(todo)
        for step in range(100):  # 100 × (10 creations + 10 updates) = 2,000 changes
            created += odoo.create(PARTNER, [{"name": f"new {step}.{i}"} for i in range(10)])
            batch, todo = todo[:10], todo[10:]
            odoo.write(PARTNER, batch, {"email": f"step{step}@x"})
            written += batch
            time.sleep(0.05)
        wait_until(lambda: min(len(ids_of(sqlite_db, "ON_NEW")),
                               len(ids_of(sqlite_db, "ON_EMAIL"))) >= 1000, 60,
                   "every change handed to a job", interval=0.2)
        # A few more cycles (and kills) after the last change: nothing is handed over twice.
        later = kills + 2
        wait_until(lambda: kills >= later, 30, "two more kills", interval=0.1)
    finally:
        done.set()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert kills >= 5
    new, email = ids_of(sqlite_db, "ON_NEW"), ids_of(sqlite_db, "ON_EMAIL")
    assert len(new) == len(set(new)) == 1000, "a creation was lost or handled twice"
    assert sorted(new) == sorted(created)
    assert len(email) == len(set(email)) == 1000, "an update was lost or handled twice"
    assert sorted(email) == sorted(written)
