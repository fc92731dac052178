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
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector.connections import ClientPool
from connector.detection import lease
from connector.detection import rules as rl
from connector.detection.watch import ModelWatch, Options
from connector.errors import OdooError
from connector.store.db import Database
from connector.store.models import PollCursor, Project, Task, Trigger, utcnow

logger = logging.getLogger("syncstudio.poller")


@dataclasses.dataclass
class PollReport:
    """What one cycle did: models polled, jobs recorded, models that failed."""

    models: int = 0
    jobs: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)
    skipped: int = 0  # models leased by another poller


def backoff_delay(failures: int, base: float, cap: float = 60.0) -> float:
    """Seconds to wait after ``failures`` failed cycles in a row: doubling, capped."""
    if failures <= 0:
        return base
    return min(cap, base * (2 ** min(failures, 16)))


class Poller:
    """Polls every (connection, model) watched by an active DB trigger."""

    def __init__(self, db: Database, pool: ClientPool, *, batch_size: int = 200,
                 interval: float = 1.0, on_jobs: Any = None, lookback: float = 600.0,
                 backoff_cap: float = 60.0, owner: str | None = None,
                 now: Callable[[], dt.datetime] = utcnow, **options: Any) -> None:
        self.db = db
        self.pool = pool
        self.interval = interval
        self.on_jobs = on_jobs  # called after jobs were committed (to dispatch them at once)
        self.backoff_cap = backoff_cap
        self.options = Options(batch_size=batch_size, lookback=lookback, **options)
        self.owner = owner or lease.default_owner()
        self.now = now
        self.failures = 0
        self._outage: str | None = None
        self._refused: set[tuple[int, str]] = set()  # rules already reported as unusable
        self._cursors: dict[tuple[int, str], int] = {}
        self._broken: dict[tuple[int, str], str] = {}  # last non-Odoo error per model
        # When each cursor's last cycle succeeded, saved with the next cycle's lease statement
        # rather than by one more commit per model and cycle.
        self._succeeded: dict[int, dt.datetime] = {}
        #: (connection id, model) → (done, total) of snapshot builds, for the dashboard.
        self.snapshot_progress: dict[tuple[int, str], tuple[int, int]] = {}

    @property
    def batch_size(self) -> int:
        """Records per handle_db job."""
        return self.options.batch_size

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
        """Poll each watched model once; errors of one connection do not stop the others."""
        report = PollReport()
        with self.db.session() as session:
            groups = self.watched(session)
        for (connection_id, model), triggers in groups.items():
            try:
                polled, count = self._poll_model(connection_id, model, [t.id for t in triggers])
            except OdooError as exc:
                report.models += 1
                report.errors.append(f"{model}: {exc}")
                continue
            except lease.LeaseLost as exc:
                logger.warning("%s; its cycle was rolled back", exc)
                report.skipped += 1
                continue
            except Exception as exc:  # one broken model must not stop the others
                text = f"{type(exc).__name__}: {exc}"
                if self._broken.get((connection_id, model)) != text:
                    self._broken[(connection_id, model)] = text  # log each new error once
                    logger.exception("detection failed for %s", model)
                report.models += 1
                continue
            self._broken.pop((connection_id, model), None)
            report.models += polled
            report.skipped += 1 - polled
            report.jobs += count
        self._note_outage(report)
        if report.jobs and self.on_jobs is not None:
            self.on_jobs()
        return report

    def _note_outage(self, report: PollReport) -> None:
        # One log line per outage, not one per cycle: operators read these logs.
        if report.errors:
            self.failures += 1
            if self._outage is None:
                self._outage = report.errors[0]
                logger.warning("Odoo unavailable, backing off: %s", self._outage)
        else:
            if self._outage is not None:
                logger.warning("Odoo reachable again after %d failed cycles", self.failures)
            self._outage = None
            self.failures = 0

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
        with self.db.session() as session:
            cursor = session.get(PollCursor, cursor_id)
            if cursor is None:  # deleted with its connection meanwhile: recreate next cycle
                self._cursors.pop((connection_id, model), None)
                return 0, 0
            state_json = cursor.state_json
            triggers = {t.id: t for t in session.scalars(
                select(Trigger).where(Trigger.id.in_(trigger_ids)))}
            rules = self._rules(connection_id, triggers.values())
            if not rules:
                return 1, 0
            project = session.get(Project, next(iter(triggers.values())).project_id)
            assert project is not None and project.connection is not None
            client = self.pool.get(project.connection)
        watch = ModelWatch(self.db, client, cursor_id, model, triggers, rules, self.options,
                           self.owner, self.now)
        key = (connection_id, model)

        def report(done: int, total: int) -> None:
            self.snapshot_progress[key] = (done, total)
            if progress is not None:
                progress(done, total)

        watch.progress = report
        count = watch.run(connection_id, state_json, force=force)
        self._succeeded[cursor_id] = self.now()  # reached only when the whole cycle succeeded
        return 1, count

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

    def _rules(self, connection_id: int, triggers: Any) -> list[rl.Rule]:
        rules = []
        for trigger in triggers:
            try:
                rule = rl.Rule.from_trigger(trigger)
                problem = rl.check(rule)
            except ValueError as exc:
                problem = str(exc)
            if problem is None:
                rules.append(rule)
            elif (connection_id, str(trigger.id)) not in self._refused:
                self._refused.add((connection_id, str(trigger.id)))
                logger.error("trigger %s is not watched: %s", trigger.trigger_name, problem)
        return rules

    def release(self) -> None:
        """Give up every lease this poller holds (on a clean stop)."""
        with self.db.session() as session:
            for cursor_id in self._cursors.values():
                lease.release(session, cursor_id, self.owner)

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, waiting ``interval`` (or the back-off) between cycles."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # the poller must survive anything; the cause goes to the log
                logger.exception("poll cycle failed")
                self.failures += 1
            stop.wait(backoff_delay(self.failures, self.interval, self.backoff_cap))
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
