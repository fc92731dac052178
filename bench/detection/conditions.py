"""Detection under real conditions: trouble next to healthy projects, many connections, cold start.

Each function returns table rows ``(measure, value, target, met)`` for ``bench.detection``:

* :func:`bench_isolation` runs two services side by side on the same simulators: one watches
  only two healthy projects, the other the same two plus a dead connection and a trigger on a
  model that does not exist. Every commit is seen by both, so their latencies compare directly.
* :func:`bench_many` is one poller with 20 connections x 5 models at a 1 s cycle, each
  simulator answering with 20 ms latency and 0.5 s logins (in a process of their own); the
  poller's CPU is the thread CPU time of its cycle and connection threads.
* :func:`bench_cold_start` times the first event after start-up (worker, poller, sandbox
  processes all fresh, logins at 0.5 s) against the events that follow it.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from connector.connections import ClientPool
from connector.projects import ProjectImporter
from connector.settings import Settings
from connector.simulator import DEFAULT_LOGIN_COST, OdooSimulator, SimulatorControl
from connector.store import migrate
from connector.store.crypto import SecretBox
from connector.store.db import Database
from connector.store.models import Job, Trigger

ROOT = Path(__file__).resolve().parents[2]
PARTNER = "res.partner"
PASS_CODE = "def handle_db(records):\n    pass\n"
READ_CODE = "def handle_db(records):\n    return [r.name for r in records]\n"
#: Five models of the simulator that take a create with a name, and the values to create.
MODELS: dict[str, Callable[[int], dict[str, Any]]] = {
    "res.partner": lambda i: {"name": f"bench {i}"},
    "res.partner.category": lambda i: {"name": f"bench {i}"},
    "res.country": lambda i: {"name": f"Bench {i}", "code": f"B{i % 1000:03d}"},
    "mail.activity.type": lambda i: {"name": f"bench {i}"},
    "ir.attachment": lambda i: {"name": f"bench-{i}.txt"},
}
Row = tuple[str, str, str, bool]


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def project(name: str, url: str, database: str, triggers: list[dict[str, Any]],
            code: str = PASS_CODE, password: str = "admin") -> dict[str, Any]:
    """Project data for the importer: one task with ``triggers``."""
    return {"name": name, "odoo": {"url": url, "database": database, "login": "admin",
                                   "password": password},
            "tasks": [{"name": "T", "code": code, "triggers": {"db": triggers}}]}


@contextmanager
def own_db(projects: list[dict[str, Any]], **overrides: Any) -> Iterator[tuple[Settings,
                                                                             Database]]:
    """A fresh own database (SQLite, temporary) holding ``projects``."""
    with tempfile.TemporaryDirectory(prefix="bench-conditions-") as home:
        settings = Settings.from_env({"SYNCSTUDIO_HOME": home}, **overrides)
        db = Database(settings.database_url)
        migrate.upgrade(db)
        with db.session() as session:
            importer = ProjectImporter(session, SecretBox.from_settings(settings), environ={})
            for data in projects:
                importer.import_data(data)
        try:
            yield settings, db
        finally:
            db.dispose()


def handler_times(db: Database, column: str = "started_at") -> dict[tuple[int, int], float]:
    """(trigger id, record id) → when its handler started (or ``column``), epoch seconds."""
    found: dict[tuple[int, int], float] = {}
    with db.session() as session:
        for job in session.scalars(select(Job).where(getattr(Job, column).is_not(None))):
            stamp = getattr(job, column).replace(tzinfo=dt.UTC).timestamp()
            for rid in job.args[1]:
                found.setdefault((job.trigger_id or 0, int(rid)), stamp)
    return found


def trigger_ids(db: Database) -> dict[str, int]:
    """Trigger name → id."""
    with db.session() as session:
        return {t.trigger_name: t.id for t in session.scalars(select(Trigger))}


def wait_for(db: Database, wanted: set[tuple[int, int]], timeout: float,
             column: str = "started_at") -> dict[tuple[int, int], float]:
    """Handler times of ``wanted`` once all are there (or what is there at ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        found = handler_times(db, column)
        if wanted <= found.keys() or time.monotonic() > deadline:
            return {key: found[key] for key in wanted if key in found}
        time.sleep(0.1)


def dead_url() -> str:
    """The URL of a simulator that was started and stopped: connection refused."""
    gone = OdooSimulator(database="gone", demo=False, login_cost=0).start()
    url = gone.url
    gone.stop()
    return url


# ------------------------------------------------------------------------------- (a)


def bench_isolation(samples: int) -> list[Row]:
    """Healthy projects' latency with a dead connection and a broken trigger beside them."""
    from worker.service import Service

    sims = [OdooSimulator(database=f"iso{i}", demo=True, login_cost=DEFAULT_LOGIN_COST,
                          latency=0.01).start() for i in range(2)]
    try:
        healthy = [project(f"Healthy {i}", sim.url, sim.database,
                           [{"trigger_name": f"NEW{i}", "model": PARTNER,
                             "condition": "create"}]) for i, sim in enumerate(sims)]
        trouble = [project("Dead", dead_url(), "gone", [{"trigger_name": "DEAD", "model": PARTNER,
                                                         "condition": "create"}]),
                   project("Broken", sims[1].url, sims[1].database,
                           [{"trigger_name": "BROKEN", "model": "res.partnr",
                             "condition": "create"}])]
        with own_db(healthy, poll_interval=1.0) as (set_a, db_a), \
                own_db(healthy + trouble, poll_interval=1.0) as (set_b, db_b):
            services = [Service(set_a, db_a), Service(set_b, db_b)]
            for service in services:
                service.poller.run_once()  # activation: logins, cursors
            for service in services:
                service.start_worker(threads=2)
            for service in services:
                service.start_poller()
            try:
                commits: dict[tuple[int, int], float] = {}
                rng = random.Random(3)
                for i in range(samples):
                    time.sleep(rng.uniform(0.1, 0.6))
                    which = i % 2
                    [rid] = sims[which].execute(PARTNER, "create", [{"name": f"iso {i}"}])
                    commits[(which, rid)] = time.time()
                results = []
                for db in (db_a, db_b):
                    ids = trigger_ids(db)
                    keys = {(ids[f"NEW{which}"], rid): (which, rid) for which, rid in commits}
                    started = wait_for(db, set(keys), 30)
                    results.append([started[key] - commits[keys[key]] for key in started])
            finally:
                for service in services:
                    service.stop()
    finally:
        for sim in sims:
            sim.stop()
    clean, troubled = results
    if len(clean) < samples or len(troubled) < samples:
        raise RuntimeError(f"handlers started: {len(clean)} and {len(troubled)} of {samples}")
    p95_clean, p95_troubled = percentile(clean, 95), percentile(troubled, 95)
    ratio = p95_troubled / p95_clean
    return [
        ("(a) healthy projects alone: latency p50 / p95",
         f"{percentile(clean, 50):.2f}/{p95_clean:.2f} s", "-", True),
        ("(a) same, dead connection + broken trigger beside: p50 / p95",
         f"{percentile(troubled, 50):.2f}/{p95_troubled:.2f} s", "-", True),
        ("(a) p95 with trouble / p95 without", f"{ratio:.2f}x", "≤ 1.10x", ratio <= 1.10),
    ]


# ------------------------------------------------------------------------------- (b)


@contextmanager
def farm(count: int, latency: float, login_cost: float) -> Iterator[list[tuple[str, str]]]:
    """``count`` simulators in a child process: [(url, database)]."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.detection.sim_farm", str(count),
                             str(latency), str(login_cost)], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        started = json.loads(proc.stdout.readline())
        yield list(zip(started["urls"], started["databases"], strict=True))
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


class PollerCpu:
    """CPU time spent by a poller's cycle thread and connection threads."""

    def __init__(self, poller: Any) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()
        self._cycle_thread: int | None = None
        run_once, poll_connection = poller.run_once, poller._poll_connection

        def timed_run_once() -> Any:
            self._cycle_thread = threading.get_ident()
            started = time.thread_time()
            try:
                return run_once()
            finally:
                self._add(time.thread_time() - started)

        def timed_connection(*args: Any) -> Any:
            if threading.get_ident() == self._cycle_thread:
                return poll_connection(*args)  # counted by the cycle already
            started = time.thread_time()
            try:
                return poll_connection(*args)
            finally:
                self._add(time.thread_time() - started)

        poller.run_once, poller._poll_connection = timed_run_once, timed_connection

    def _add(self, seconds: float) -> None:
        with self._lock:
            self.seconds += seconds

    def take(self) -> float:
        """CPU seconds counted so far."""
        with self._lock:
            return self.seconds


def bench_many(seconds: float, connections: int = 20) -> list[Row]:
    """One poller, ``connections`` x 5 models at a 1 s cycle, 20 ms RPC, 0.5 s logins."""
    from worker.service import Service

    models = list(MODELS)
    with farm(connections, 0.02, DEFAULT_LOGIN_COST) as odoos:
        projects = [project(f"Conn {c}", url, database,
                            [{"trigger_name": f"C{c}M{m}", "model": model,
                              "condition": "create"} for m, model in enumerate(models)])
                    for c, (url, database) in enumerate(odoos)]
        controls = [SimulatorControl(url) for url, _db in odoos]
        with own_db(projects, poll_interval=1.0) as (settings, db):
            service = Service(settings, db)
            service.poller.run_once()  # activation: 20 logins, 100 cursors
            cpu = PollerCpu(service.poller)
            service.start_worker(threads=4)
            service.start_poller()
            ids = trigger_ids(db)
            commits: dict[tuple[int, int], float] = {}
            rng = random.Random(4)
            try:
                time.sleep(2.0)  # past the first cycles of the started threads
                cpu_start, wall_start = cpu.take(), time.monotonic()
                deadline, i = wall_start + seconds, 0
                while time.monotonic() < deadline:
                    c, m = rng.randrange(connections), rng.randrange(len(models))
                    rid = controls[c].execute(models[m], "create", MODELS[models[m]](i))
                    commits[(ids[f"C{c}M{m}"], int(rid))] = time.time()
                    i += 1
                    time.sleep(rng.uniform(0.05, 0.35))
                cpu_used = cpu.take() - cpu_start
                wall = time.monotonic() - wall_start
                started = wait_for(db, set(commits), 30)
            finally:
                service.stop()
    if len(started) < len(commits):
        raise RuntimeError(f"only {len(started)} of {len(commits)} handlers started")
    latencies = [started[key] - commits[key] for key in commits]
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    share = cpu_used / wall
    label = f"(b) {connections} connections x 5 models, 20 ms RPC, 0.5 s logins"
    return [
        (f"{label}: p50 ({len(latencies)} changes)", f"{p50:.2f} s", "-", True),
        ("(b) change → handler p95", f"{p95:.2f} s", "≤ 1.5 s", p95 <= 1.5),
        ("(b) poller CPU (cycle + connection threads)", f"{share * 100:.0f} %", "≤ 50 %",
         share <= 0.5),
    ]


# ------------------------------------------------------------------------------- (c)


def _own_login(pool: Any, connection_id: int | None,
               params: dict[str, Any] | None) -> dict[str, Any] | None:
    """The connection as handed to sandboxes before: no uid, each sandbox logs in."""
    return params


def _cold_start(sim: OdooSimulator, later: int,
                reuse: bool) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    """One start-up: (commit → handler done, handler run time) of the first event, then of
    the ``later`` ones."""
    import worker.executor
    import worker.service
    from worker.service import Service

    data = project("Cold", sim.url, sim.database,
                   [{"trigger_name": "NEW", "model": PARTNER, "condition": "create"}],
                   code=READ_CODE)
    saved = worker.executor.sandbox_connection, worker.service.prime_logins
    if not reuse:  # as before: every sandbox process logs in on its first job
        worker.executor.sandbox_connection = _own_login
        worker.service.prime_logins = lambda *_args: 0
    sim.services.forget_checks()  # Odoo restarted too: no credential check is cached
    try:
        with own_db([data], poll_interval=1.0) as (settings, db):
            service = Service(settings, db)
            # A poller of its own, as in a deployment with separate poller and worker.
            service.poller.pool = ClientPool(SecretBox.from_settings(settings))
            # In the order of `syncstudio run`: the worker first (it logs in meanwhile), then
            # the poller, whose first cycle (login, baseline) is not an event yet.
            service.start_worker(threads=2)
            service.poller.run_once()
            service.start_poller()
            trigger = trigger_ids(db)["NEW"]
            try:
                times = []
                for i in range(1 + later):
                    [rid] = sim.execute(PARTNER, "create", [{"name": f"cold {i}"}])
                    committed = time.time()
                    done = wait_for(db, {(trigger, rid)}, 30, column="finished_at")
                    if not done:
                        raise RuntimeError("the cold-start event was not handled in 30 s")
                    began = handler_times(db)[(trigger, rid)]
                    times.append((done[(trigger, rid)] - committed,
                                  done[(trigger, rid)] - began))
                    time.sleep(0.3)
            finally:
                service.stop()
    finally:
        worker.executor.sandbox_connection, worker.service.prime_logins = saved
    return times[0], times[1:]


def bench_cold_start(runs: int) -> list[Row]:
    """The first event after start-up against later ones, logins at 0.5 s."""
    sim = OdooSimulator(database="cold", demo=True, login_cost=DEFAULT_LOGIN_COST,
                        latency=0.01).start()
    try:
        measured = {reuse: [_cold_start(sim, 4, reuse) for _ in range(runs)]
                    for reuse in (True, False)}
    finally:
        sim.stop()
    rows: list[Row] = []
    for reuse, label in ((True, "one login per worker"), (False, "before: login per sandbox")):
        firsts = [first for first, _later in measured[reuse]]
        rest = [t for _first, later in measured[reuse] for t in later]
        worst = max(total for total, _run in firsts)
        first_run = max(run for _total, run in firsts)
        later_total = percentile([total for total, _run in rest], 50)
        later_run = percentile([run for _total, run in rest], 50)
        target = "≤ 1.5 s" if reuse else "-"
        rows.append((f"(c) {label}: first event, commit → handler done (worst of {runs})",
                     f"{worst:.2f} s", target, worst <= 1.5 or not reuse))
        rows.append((f"(c) {label}: later events, commit → done p50",
                     f"{later_total:.2f} s", "-", True))
        rows.append((f"(c) {label}: handler run, first (worst) / later p50",
                     f"{first_run * 1000:.0f}/{later_run * 1000:.0f} ms", "-", True))
    return rows
