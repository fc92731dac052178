"""Cron triggers: when the next run is due, and the loop that records their jobs.

Rules (as the original module's cron): a job is queued only when the previous job of the trigger has
finished; after downtime the missed runs run once, not once per missed interval; the next run
is the first occurrence of the schedule after now, so the rhythm stays anchored to the
configured next-execution date.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector import jobs, retention
from connector.schedule import INTERVAL_UNITS as UNITS  # noqa: F401 - the old name
from connector.schedule import next_run_after
from connector.store.db import Database
from connector.store.models import FINISHED_STATES, Job, Project, Task, Trigger, utcnow

logger = logging.getLogger("syncstudio.scheduler")

class Scheduler:
    """Records jobs of due cron triggers; part of the poller process and of ``syncstudio run``."""

    def __init__(self, db: Database, *, interval: float = 1.0,
                 on_jobs: Callable[[], None] | None = None, retention_days: int = 30,
                 prune_every: float = 3600.0) -> None:
        self.db = db
        self.interval = interval
        self.on_jobs = on_jobs
        self.retention_days = retention_days
        self.prune_every = prune_every
        self._last_prune: dt.datetime | None = None

    def run_once(self, now: dt.datetime | None = None) -> int:
        """Queue one job for every due cron trigger whose previous job has finished."""
        now = now or utcnow()
        queued = 0
        with self.db.session() as session:
            due = session.scalars(
                select(Trigger)
                .join(Task, Trigger.task_id == Task.id)
                .join(Project, Trigger.project_id == Project.id)
                .where(Trigger.kind == "cron", Trigger.active.is_(True), Task.active.is_(True),
                       Project.active.is_(True),
                       (Trigger.next_run_at.is_(None)) | (Trigger.next_run_at <= now))
                .order_by(Trigger.id)
                .with_for_update(skip_locked=True)
            )
            for trigger in due:
                if self._previous_running(session, trigger):
                    continue
                jobs.record_trigger_job(session, trigger, user=trigger.scheduler_user)
                anchor = trigger.next_run_at or now
                trigger.next_run_at = next_run_after(anchor, trigger.interval or 1,
                                                     trigger.interval_unit or "days", now)
                queued += 1
        if queued:
            logger.info("queued %d cron job(s)", queued)
            if self.on_jobs is not None:
                self.on_jobs()
        return queued

    @staticmethod
    def _previous_running(session: Session, trigger: Trigger) -> bool:
        unfinished = session.scalar(
            select(Job.id).where(Job.trigger_id == trigger.id, Job.parent_id.is_(None),
                                 Job.state.not_in(FINISHED_STATES)).limit(1))
        return unfinished is not None

    def prune_if_due(self, now: dt.datetime | None = None) -> int:
        """Apply the retention at most every ``prune_every`` seconds."""
        now = now or utcnow()
        if self._last_prune and (now - self._last_prune).total_seconds() < self.prune_every:
            return 0
        self._last_prune = now
        pruned = retention.prune(self.db, self.retention_days, now)
        if pruned:
            logger.info("pruned %d job(s) older than %d days", pruned, self.retention_days)
        return pruned

    def run(self, stop: threading.Event) -> None:
        """Check for due triggers (and prune old jobs) until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.run_once()
                self.prune_if_due()
            except Exception:  # the scheduler must outlive database hiccups
                logger.exception("scheduler cycle failed")
            stop.wait(self.interval)
