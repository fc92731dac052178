"""The poll loop: each watched (connection, model) once per cycle, under a lease.

The loop is thin: :mod:`watch` runs one model's cycle, the pure modules decide. Cursor advance,
snapshots and job rows are written in one transaction (the outbox), so a crash never loses or
doubles a change. When Odoo is down the poller backs off exponentially, logs the outage once, and
resumes from the cursor.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector.connections import ClientPool
from connector.detection import health, lease, stats
from connector.detection import rules as rl
from connector.detection.health import backoff_delay
from connector.detection.watch import ModelWatch, Options
from connector.errors import OdooError
from connector.store.db import Database
from connector.store.models import OdooConnection, PollCursor, Project, Task, Trigger, utcnow

logger = logging.getLogger("syncstudio.poller")


@dataclasses.dataclass
class PollReport:
    """What one cycle did: models polled, jobs recorded, models that failed."""

    models: int = 0
    jobs: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)
    skipped: int = 0  # models leased by another poller
    waiting: int = 0  # models not tried this cycle: their connection or model backs off


class Poller:
    """Polls every (connection, model) watched by an active DB trigger.

    Each connection is polled in its own thread (at most ``max_workers`` at once), so a slow
    Odoo does not stretch the others' cycle. Back-off is kept per connection (down, timeout,
    refused login) and per (connection, model) (Odoo refuses the model), and a trigger whose
    model, fields or domain Odoo refuses gets the ``error`` state with the reason while the
    other triggers of its model go on; both clear by themselves once fixed.
    """

    def __init__(self, db: Database, pool: ClientPool, *, batch_size: int = 200,
                 interval: float = 1.0, on_jobs: Any = None, lookback: float = 600.0,
                 backoff_cap: float = 60.0, owner: str | None = None,
                 now: Callable[[], dt.datetime] = utcnow,
                 clock: Callable[[], float] = time.monotonic, max_workers: int = 8,
                 **options: Any) -> None:
        self.db = db
        self.pool = pool
        self.interval = interval
        self.on_jobs = on_jobs  # called after jobs were committed (to dispatch them at once)
        self.backoff_cap = backoff_cap
        self.options = Options(batch_size=batch_size, lookback=lookback, **options)
        self.owner = owner or lease.default_owner()
        self.now = now
        self.clock = clock  # for back-off only
        self.max_workers = max(1, max_workers)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.connections: dict[int, health.Backoff] = defaultdict(health.Backoff)
        self.models: dict[tuple[int, str], health.Backoff] = defaultdict(health.Backoff)
        #: trigger id → (state, reason) as last written to the trigger row.
        self.states: dict[int, tuple[str, str | None]] = {}
        self._checked: dict[int, tuple[Any, ...]] = {}  # trigger id → signature Odoo accepted
        #: trigger id → (signature, reason, back-off) of triggers Odoo refused.
        self._bad: dict[int, tuple[tuple[Any, ...], str, health.Backoff]] = {}
        self._cursors: dict[tuple[int, str], int] = {}
        # When each cursor's last cycle succeeded, saved with the next cycle's lease statement
        # rather than by one more commit per model and cycle.
        self._succeeded: dict[int, dt.datetime] = {}
        #: (connection id, model) → (done, total) of snapshot builds, for the dashboard.
        self.snapshot_progress: dict[tuple[int, str], tuple[int, int]] = {}
        #: Per-connection cycles, RPC calls and detection latencies for the dashboard.
        self.stats = stats.PollStats(db, now)
        self._latencies: dict[int, list[float]] = defaultdict(list)
        self._loaded: dict[tuple[int, str], tuple[dict[int, Trigger], OdooConnection | None]] = {}

    @property
    def batch_size(self) -> int:
        """Records per handle_db job."""
        return self.options.batch_size

    @property
    def failures(self) -> int:
        """The longest run of failed cycles of any connection or model (0: all healthy)."""
        counts = [b.failures for b in (*self.connections.values(), *self.models.values())]
        return max(counts, default=0)

    def watched(self, session: Session) -> dict[tuple[int, str], list[Trigger]]:
        """Active DB triggers of active tasks and projects, by (connection, model)."""
        query = (
            select(Trigger, Project.connection_id)
            .join(Task, Trigger.task_id == Task.id)
            .join(Project, Trigger.project_id == Project.id)
            .where(Trigger.kind == "db", Trigger.active.is_(True), Task.active.is_(True),
                   Project.active.is_(True), Project.connection_id.is_not(None),
                   Trigger.model.is_not(None))
            .order_by(Trigger.id)
        )
        groups: dict[tuple[int, str], list[Trigger]] = defaultdict(list)
        for trigger, connection_id in session.execute(query):
            groups[(connection_id or 0, trigger.model or "")].append(trigger)
        return groups

    def run_once(self) -> PollReport:
        """Poll each watched model once; one connection's trouble does not delay the others."""
        report = PollReport()
        with self.db.session() as session:
            groups = self.watched(session)
            connections = {conn.id: conn for conn in session.scalars(select(OdooConnection).where(
                OdooConnection.id.in_({cid for cid, _model in groups})))}
        # What this cycle read already, so a model's poll does not read it again.
        self._loaded = {key: ({t.id: t for t in triggers}, connections.get(key[0]))
                        for key, triggers in groups.items()}
        by_connection: dict[int, list[tuple[str, list[int]]]] = defaultdict(list)
        for (connection_id, model), triggers in groups.items():
            by_connection[connection_id].append((model, [t.id for t in triggers]))
        if len(by_connection) <= 1:
            parts = [self._poll_counted(cid, models) for cid, models in by_connection.items()]
        else:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_workers,
                                                    thread_name_prefix="syncstudio-poll")
            futures = [self._executor.submit(self._poll_counted, cid, models)
                       for cid, models in by_connection.items()]
            parts = [future.result() for future in futures]
        for part in parts:
            report.models += part.models
            report.jobs += part.jobs
            report.errors.extend(part.errors)
            report.skipped += part.skipped
            report.waiting += part.waiting
        if report.jobs and self.on_jobs is not None:
            self.on_jobs()
        return report

    def _poll_counted(self, connection_id: int,
                      models: list[tuple[str, list[int]]]) -> PollReport:
        """One connection's cycle, tallied for the dashboard (see :mod:`stats`)."""
        self._latencies[connection_id] = []
        report = self._poll_connection(connection_id, models)
        client = dict(self.pool.clients()).get(connection_id)
        self.stats.cycle(connection_id, client.total_calls if client is not None else None,
                         self.connections[connection_id].error,
                         self._latencies.pop(connection_id, []))
        return report

    def _poll_connection(self, connection_id: int,
                         models: list[tuple[str, list[int]]]) -> PollReport:
        """One cycle of one connection's models, in order (one thread per connection)."""
        report = PollReport()
        backoff = self.connections[connection_id]
        if not backoff.due(self.clock()):
            report.waiting += len(models)
            report.errors.append(f"connection {connection_id}: {backoff.error}")
            return report
        for model, trigger_ids in models:
            key = (connection_id, model)
            model_backoff = self.models[key]
            if not model_backoff.due(self.clock()):
                report.waiting += 1
                continue
            try:
                polled, count = self._poll_model(connection_id, model, trigger_ids)
            except lease.LeaseLost as exc:
                logger.warning("%s; its cycle was rolled back", exc)
                report.skipped += 1
                continue
            except Exception as exc:  # one broken model must not stop the others
                reason = health.describe(exc)
                report.models += 1
                report.errors.append(f"{model}: {reason}")
                if health.is_connection_error(exc):
                    if backoff.failed(reason, self.clock(), self.interval, self.backoff_cap):
                        logger.warning("Odoo unavailable, backing off connection %s: %s",
                                       connection_id, reason)
                    self._set_states([tid for _m, ids in models for tid in ids],
                                     health.WAITING, reason)
                    report.waiting += len(models) - 1
                    return report  # its other models would fail the same way
                if model_backoff.failed(reason, self.clock(), self.interval, self.backoff_cap):
                    if isinstance(exc, OdooError):
                        logger.error("detection failed for %s: %s", model, reason)
                    else:
                        logger.exception("detection failed for %s", model)
                self._set_states([tid for tid in trigger_ids if tid not in self._bad],
                                 health.ERROR, reason)
                continue
            if model_backoff.succeeded():
                logger.warning("detection of %s works again", model)
            report.models += polled
            report.skipped += 1 - polled
            report.jobs += count
        failures = backoff.succeeded()
        if failures:
            logger.warning("Odoo reachable again (connection %s) after %d failed cycles",
                           connection_id, failures)
        return report

    def _set_states(self, trigger_ids: list[int], state: str, reason: str | None) -> None:
        """Write the state of triggers whose state changed (the dashboard, CLI, metrics)."""
        wanted = {tid: (state, reason) for tid in trigger_ids}
        with self._lock:
            changed = health.states_changed(self.states, wanted)
            self.states.update(changed)
        if not changed:
            return
        with self.db.session() as session:
            for tid, (new_state, new_reason) in changed.items():
                session.execute(update(Trigger).where(Trigger.id == tid).values(
                    poll_state=new_state, poll_error=new_reason, poll_state_at=self.now()))

    def _cursor(self, connection_id: int, model: str) -> int:
        key = (connection_id, model)
        if key not in self._cursors:
            try:
                with self.db.session() as session:
                    row = session.scalar(select(PollCursor).where(
                        PollCursor.connection_id == connection_id, PollCursor.model == model))
                    if row is None:
                        row = PollCursor(connection_id=connection_id, model=model)
                        session.add(row)
                        session.flush()
                    self._cursors[key] = row.id
            except IntegrityError:  # another poller created it first
                return self._cursor(connection_id, model)
        return self._cursors[key]

    def _poll_model(self, connection_id: int, model: str, trigger_ids: list[int],
                    progress: Callable[[int, int], None] | None = None,
                    force: bool = False) -> tuple[int, int]:
        """(1, jobs) when polled, (0, 0) when another poller holds the lease."""
        cursor_id = self._cursor(connection_id, model)
        with self.db.session() as session:
            if not lease.acquire(session, cursor_id, self.owner, self.now(),
                                 self.options.lease_ttl,
                                 polled_at=self._succeeded.pop(cursor_id, None)):
                return 0, 0
        loaded = self._loaded.get((connection_id, model))
        with self.db.session() as session:
            row = session.execute(select(PollCursor.state_json).where(
                PollCursor.id == cursor_id)).first()
            if row is None:  # deleted with its connection meanwhile: recreate next cycle
                self._cursors.pop((connection_id, model), None)
                return 0, 0
            state_json = row[0]
            if loaded is not None and loaded[1] is not None and \
                    set(loaded[0]) == set(trigger_ids):
                triggers, connection = loaded
            else:
                triggers = {t.id: t for t in session.scalars(
                    select(Trigger).where(Trigger.id.in_(trigger_ids)))}
                connection = None
            rules = self._rules(triggers.values())
            if not rules:
                return 1, 0
            if connection is None:
                project = session.get(Project, next(iter(triggers.values())).project_id)
                assert project is not None and project.connection is not None
                connection = project.connection
            client = self.pool.get(connection)
        rules = self._accepted(client, model, rules)
        if not rules:
            return 1, 0
        watch = ModelWatch(self.db, client, cursor_id, model, triggers, rules, self.options,
                           self.owner, self.now)
        key = (connection_id, model)

        def report(done: int, total: int) -> None:
            self.snapshot_progress[key] = (done, total)
            if progress is not None:
                progress(done, total)

        watch.progress = report
        count = watch.run(connection_id, state_json, force=force)
        self._latencies[connection_id].extend(watch.latencies)
        self._succeeded[cursor_id] = self.now()  # reached only when the whole cycle succeeded
        self._set_states([rule.id for rule in rules], health.OK, None)
        return 1, count

    def _accepted(self, client: Any, model: str, rules: list[rl.Rule]) -> list[rl.Rule]:
        """The rules Odoo can serve; the others get the error state with the reason.

        A rule is checked when it is new or changed, and a refused one again after its
        back-off, so a fix on either side (the trigger or Odoo) clears the error by itself.
        """
        now = self.clock()
        todo = []
        for rule in rules:
            sig = health.signature(rule)
            bad = self._bad.get(rule.id)
            if self._checked.get(rule.id) == sig:
                continue
            if bad is not None and bad[0] == sig and not bad[2].due(now):
                continue
            todo.append(rule)
        if todo:
            found = health.problems(client, model, todo)
            for rule in todo:
                sig = health.signature(rule)
                reason = found.get(rule.id)
                if reason is None:
                    self._checked[rule.id] = sig
                    self._bad.pop(rule.id, None)
                    continue
                self._checked.pop(rule.id, None)
                previous = self._bad.get(rule.id)
                backoff = previous[2] if previous is not None and previous[0] == sig else (
                    health.Backoff())
                if backoff.failed(reason, now, self.interval, self.backoff_cap):
                    logger.error("trigger %s on %s is not watched: %s", rule.id, model, reason)
                self._bad[rule.id] = (sig, reason, backoff)
                self._set_states([rule.id], health.ERROR, reason)
        return [rule for rule in rules if rule.id not in self._bad]

    def build_snapshots(self, connection_id: int, model: str,
                        progress: Callable[[int, int], None] | None = None) -> bool:
        """Re-take the baseline of one watched model now, rebuilding its snapshot if its
        triggers need one; ``progress(done, total)`` follows the build page by page.

        False when the model is not watched or another poller holds its lease.
        """
        with self.db.session() as session:
            triggers = self.watched(session).get((connection_id, model), [])
        if not triggers:
            return False
        polled, _count = self._poll_model(connection_id, model, [t.id for t in triggers],
                                          progress, force=True)
        return bool(polled)

    def _rules(self, triggers: Any) -> list[rl.Rule]:
        """The rules of ``triggers`` detection can evaluate; the others get the error state."""
        rules = []
        for trigger in triggers:
            try:
                rule = rl.Rule.from_trigger(trigger)
                problem = rl.check(rule)
            except ValueError as exc:
                problem = str(exc)
            if problem is None:
                rules.append(rule)
                continue
            if self.states.get(trigger.id) != (health.ERROR, problem):
                logger.error("trigger %s is not watched: %s", trigger.trigger_name, problem)
            self._set_states([trigger.id], health.ERROR, problem)
        return rules

    def release(self) -> None:
        """Give up every lease this poller holds (on a clean stop)."""
        with self.db.session() as session:
            for cursor_id in self._cursors.values():
                lease.release(session, cursor_id, self.owner)

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, waiting ``interval`` (or the back-off) between cycles."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.run_once()
            except Exception:  # the poller must survive anything; the cause goes to the log
                logger.exception("poll cycle failed")
                stop.wait(backoff_delay(1, self.interval, self.backoff_cap))
            # Back-off is kept per connection and model: the loop itself keeps its pace, one
            # cycle start per interval (a cycle's own time does not add to the latency), with
            # a rest of a quarter interval at least for the own database and Odoo.
            elapsed = time.monotonic() - started
            stop.wait(max(self.interval - elapsed, self.interval / 4))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self.stats.flush()
        try:
            self.release()
        except Exception:  # a failed release only delays the next poller by one lease
            logger.exception("could not release the poll leases")


def build_snapshots(db: Database, pool: ClientPool, trigger: Trigger,
                    progress: Callable[[int, int], None] | None = None,
                    **options: Any) -> bool:
    """Rebuild the snapshot of ``trigger``'s model (for ``syncstudio`` and the dashboard).

    Takes the model's lease like a poller; False when a running poller holds it (that poller
    builds snapshots itself when a trigger needs them) or the trigger is not an active DB one.
    """
    with db.session() as session:
        project = session.get(Project, trigger.project_id)
        connection_id = project.connection_id if project is not None else None
    if connection_id is None or not trigger.model:
        return False
    poller = Poller(db, pool, **options)
    try:
        return poller.build_snapshots(connection_id, trigger.model, progress)
    finally:
        poller.release()
