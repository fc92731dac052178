"""Change-detection benchmark: ``python -m bench.detection [--quick] [--only PART]``; a table.

Runs against the built-in Odoo simulator and a SQLite own database in a temporary directory.
The first parts (latency, idle, burst, snapshot; issue 3's targets) use free logins, so their
figures compare with earlier runs; the parts of :mod:`bench.detection.conditions` (isolation,
many, cold; issue 12's) give logins the 0.5 s they cost on a real Odoo 17.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from connector.connections import ClientPool
from connector.detection.poller import Poller
from connector.odoo import make_client
from connector.projects import ProjectImporter
from connector.settings import Settings
from connector.simulator import OdooSimulator
from connector.store import migrate
from connector.store.crypto import SecretBox
from connector.store.db import Database
from connector.store.models import Job

from . import conditions

ROOT = Path(__file__).resolve().parents[2]
PARTNER = "res.partner"
PASS_CODE = "def handle_db(records):\n    pass\n"


@contextmanager
def own_db(sim: OdooSimulator, triggers: list[dict[str, Any]],
           **overrides: Any) -> Iterator[tuple[Settings, Database]]:
    """A fresh own database with one project watching ``sim``."""
    with tempfile.TemporaryDirectory(prefix="bench-detection-") as home:
        settings = Settings.from_env({"SYNCSTUDIO_HOME": home}, **overrides)
        db = Database(settings.database_url)
        migrate.upgrade(db)
        data = {"name": "Bench", "odoo": {"url": sim.url, "database": sim.database,
                                          "login": "admin", "password": "admin"},
                "tasks": [{"name": "T", "code": PASS_CODE, "triggers": {"db": triggers}}]}
        with db.session() as session:
            ProjectImporter(session, SecretBox.from_settings(settings), environ={}).import_data(
                data)
        try:
            yield settings, db
        finally:
            db.dispose()


def poller_for(settings: Settings, db: Database, **options: Any) -> Poller:
    return Poller(db, ClientPool(SecretBox.from_settings(settings)), **options)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def bench_latency(sim: OdooSimulator, samples: int) -> tuple[float, float]:
    """Commit in Odoo → handler started (Job.started_at), poller at a 1 s interval."""
    from worker.service import Service

    client = make_client(sim.url, sim.database, "admin", "admin")
    with own_db(sim, [{"trigger_name": "ON_NEW", "model": PARTNER, "condition": "create"}],
                poll_interval=1.0) as (settings, db):
        service = Service(settings, db)
        service.poller.run_once()  # baseline before measuring
        service.start_worker(threads=2)
        service.start_poller()
        committed: dict[int, float] = {}
        rng = random.Random(1)
        try:
            for i in range(samples):
                time.sleep(rng.uniform(0.1, 1.0))
                pid = client.create(PARTNER, {"name": f"latency {i}"})
                committed[int(pid)] = time.time()  # type: ignore[arg-type]
            deadline = time.monotonic() + 30
            latencies: dict[int, float] = {}
            while time.monotonic() < deadline and len(latencies) < samples:
                with db.session() as session:
                    for job in session.scalars(select(Job).where(Job.started_at.is_not(None))):
                        started = job.started_at.replace(tzinfo=dt.UTC).timestamp()
                        for rid in job.args[1]:
                            if rid in committed:
                                latencies[rid] = started - committed[rid]
                time.sleep(0.2)
        finally:
            service.stop()
    values = list(latencies.values())
    if len(values) < samples:
        raise RuntimeError(f"only {len(values)} of {samples} handlers started")
    return percentile(values, 50), percentile(values, 95)


def bench_idle(sim: OdooSimulator, count: int, cycles: int = 10) -> float:
    """RPC calls per idle cycle with ``count`` triggers of mixed kinds on one model."""
    kinds = [{"condition": "create"},
             {"condition": "write", "watched_fields": ["email"]},
             {"condition": "create_or_write", "domain": "[('is_company', '=', False)]"},
             {"condition": "write", "watched_fields": ["phone"],
              "before_domain": "[('phone', '!=', False)]"}]
    triggers = [{"trigger_name": f"T{i}", "model": PARTNER, **kinds[i % len(kinds)]}
                for i in range(count)]
    with own_db(sim, triggers) as (settings, db):
        poller = poller_for(settings, db, deep_every=3.0)
        poller.run_once()
        sim.reset_calls()
        for _ in range(cycles):
            poller.run_once()
        return sum(sim.calls.values()) / cycles


def bench_burst(sim: OdooSimulator, size: int) -> tuple[float, int, int]:
    """``size`` records changed at once: seconds until every handler finished, RPC calls."""
    from worker.service import Service

    with own_db(sim, [{"trigger_name": "ON_ANY", "model": PARTNER, "condition": "create_or_write",
                       "domain": "[('is_company', '=', False)]"}],
                poll_interval=1.0, batch_size=200) as (settings, db):
        service = Service(settings, db)
        service.poller.run_once()
        service.start_worker(threads=4)
        service.start_poller()
        try:
            time.sleep(0.5)
            sim.reset_calls()
            ids = set(sim.execute(PARTNER, "create",
                                  [{"name": f"burst {i}"} for i in range(size)]))
            started = time.monotonic()
            while time.monotonic() - started < 120:
                with db.session() as session:
                    done = [job.args[1] for job in session.scalars(
                        select(Job).where(Job.state.in_(("done", "done_warnings"))))]
                if ids <= {rid for batch in done for rid in batch}:
                    break
                time.sleep(0.1)
            elapsed = time.monotonic() - started
            calls = dict(sim.calls)
        finally:
            service.stop()
    detection = sum(n for (model, method), n in calls.items()
                    if model == PARTNER and method in ("search_read", "search"))
    return elapsed, detection, sum(calls.values())


def bench_snapshot(sim: OdooSimulator, size: int, watch_seconds: float) -> tuple[float, float]:
    """Snapshot build time of a ``size``-record model and the poller's peak RSS, in MB."""
    existing = sim.execute(PARTNER, "search_count", [])
    for start in range(existing, size, 5000):
        sim.execute(PARTNER, "create", [{"name": f"bulk {i}", "email": f"b{i}@x"}
                                        for i in range(start, min(size, start + 5000))])
    with own_db(sim, [{"trigger_name": "ON_EMAIL", "model": PARTNER, "condition": "write",
                       "watched_fields": ["email"]}]) as (settings, _db):
        env = {**os.environ, "SYNCSTUDIO_HOME": str(settings.home),
               "SYNCSTUDIO_DATABASE_URL": settings.database_url, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "bench.detection.rss_runner",
                                 str(watch_seconds)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout is not None
        built = json.loads(proc.stdout.readline())
        ids = sim.execute(PARTNER, "search", [], limit=2000)
        rng = random.Random(2)
        deadline = time.monotonic() + watch_seconds
        while time.monotonic() < deadline:  # keep it busy while it watches
            sim.execute(PARTNER, "write", rng.sample(ids, 50), {"email": f"{rng.random()}@x"})
            time.sleep(0.5)
        done = json.loads(proc.stdout.readline())
        proc.wait(timeout=60)
    return built["build_s"], done["peak_rss_mb"]


PARTS = ("latency", "idle", "burst", "snapshot", "isolation", "many", "cold")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--only", action="append", choices=PARTS, default=[],
                        help="run only this part (repeatable; default: all)")
    args = parser.parse_args()
    parts = set(args.only or PARTS)
    samples, burst, big = (10, 2000, 20000) if args.quick else (40, 10000, 100000)
    rows: list[tuple[str, str, str, bool]] = []
    if parts & {"latency", "idle", "burst", "snapshot"}:
        rows += bench_basics(parts, samples, burst, big)
    if "isolation" in parts:
        rows += conditions.bench_isolation(20 if args.quick else 60)
    if "many" in parts:
        rows += conditions.bench_many(15.0 if args.quick else 40.0)
    if "cold" in parts:
        rows += conditions.bench_cold_start(1 if args.quick else 3)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>16}  {'target':>8}  result")
    for name, value, target, ok in rows:
        print(f"{name:<{width}}  {value:>16}  {target:>8}  {'pass' if ok else 'FAIL'}")
    sys.exit(0 if all(r[3] for r in rows) else 1)


def bench_basics(parts: set[str], samples: int, burst: int,
                 big: int) -> list[tuple[str, str, str, bool]]:
    """Issue 3's parts, on one simulator whose logins are free."""
    sim = OdooSimulator(database="benchdb", demo=True, login_cost=0)
    sim.start(host="127.0.0.1", port=0)
    rows: list[tuple[str, str, str, bool]] = []
    try:
        if "latency" in parts:
            rows += _latency_rows(sim, samples)
        if "idle" in parts:
            rows += _idle_rows(sim)
        if "burst" in parts:
            rows += _burst_rows(sim, burst)
        if "snapshot" in parts:
            build, rss = bench_snapshot(sim, big, 8.0)
            rows.append((f"snapshot build, {big} records", f"{build:.1f} s", "≤ 60 s",
                         build <= 60))
            rows.append(("poller peak RSS while watching them", f"{rss:.0f} MB", "≤ 150 MB",
                         rss <= 150))
    finally:
        sim.stop()
    return rows


def _latency_rows(sim: OdooSimulator, samples: int) -> list[tuple[str, str, str, bool]]:
    p50, p95 = bench_latency(sim, samples)
    return [("latency p50 (commit → handler start, 1 s poll)", f"{p50:.2f} s", "-", True),
            ("latency p95", f"{p95:.2f} s", "≤ 1.5 s", p95 <= 1.5)]


def _idle_rows(sim: OdooSimulator) -> list[tuple[str, str, str, bool]]:
    rows = []
    for count in (1, 10, 50):
        per_cycle = bench_idle(sim, count)
        rows.append((f"RPC calls per idle cycle, {count} trigger(s) on one model",
                     f"{per_cycle:g}", "= 1", per_cycle == 1))
    return rows


def _burst_rows(sim: OdooSimulator, burst: int) -> list[tuple[str, str, str, bool]]:
    elapsed, detection, total = bench_burst(sim, burst)
    return [(f"burst of {burst} records: all handled", f"{elapsed:.1f} s", "≤ 30 s",
             elapsed <= 30),
            (f"burst of {burst}: detection calls (all calls {total})", str(detection),
             f"≤ {burst // 500}", detection <= burst // 500)]


if __name__ == "__main__":
    main()
