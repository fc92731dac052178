"""The dispatcher: sends due job rows to Dramatiq and re-sends those whose message was lost.

A row is marked ``enqueued`` and committed *before* its message is sent: if the process dies in
between, the row is found again by :meth:`Dispatcher.requeue_lost` after ``requeue_after``
seconds. A handler may thus run twice, never zero times (at-least-once).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

import dramatiq
from sqlalchemy import or_, select

from connector import jobs
from connector.store.db import Database
from connector.store.models import Job, utcnow

logger = logging.getLogger("syncstudio.dispatch")


class Dispatcher:
    """Moves jobs from the own database to the broker."""

    def __init__(self, db: Database, actor: dramatiq.Actor, *, requeue_after: float = 300.0,
                 interval: float = 0.2) -> None:
        self.db = db
        self.actor = actor
        self.requeue_after = requeue_after
        self.interval = interval
        self._wake = threading.Event()

    def wake(self) -> None:
        """Ask the loop to run now (new jobs were recorded)."""
        self._wake.set()

    def run_once(self, now: dt.datetime | None = None) -> int:
        """Send every due pending job; returns how many were sent."""
        now = now or utcnow()
        with self.db.session() as session:
            due = [job.id for job in jobs.due_jobs(session, now)]
            for job_id in due:
                jobs.mark_enqueued(session, job_id, now)
        sent = 0
        for job_id in due:
            sent += self._send(job_id)
        return sent

    def requeue_lost(self, now: dt.datetime | None = None) -> int:
        """Re-send jobs enqueued or started longer than ``requeue_after`` ago."""
        now = now or utcnow()
        limit = now - dt.timedelta(seconds=self.requeue_after)
        with self.db.session() as session:
            lost = list(session.scalars(select(Job.id).where(or_(
                (Job.state == "enqueued") & (Job.enqueued_at < limit),
                (Job.state == "started") & (Job.started_at < limit),
            ))))
            for job_id in lost:
                jobs.mark_enqueued(session, job_id, now)
        if lost:
            logger.warning("re-sending %d job(s) whose message was lost", len(lost))
        return sum(self._send(job_id) for job_id in lost)

    def requeue_all_unfinished(self) -> int:
        """At start-up of the in-process mode: the queue is empty, so every unfinished job's
        message is lost by definition; send them all again now."""
        with self.db.session() as session:
            ids = list(session.scalars(select(Job.id).where(
                Job.state.in_(("enqueued", "started")))))
            for job_id in ids:
                jobs.mark_enqueued(session, job_id)
        return sum(self._send(job_id) for job_id in ids)

    def _send(self, job_id: int) -> int:
        try:
            self.actor.send(job_id)
        except dramatiq.errors.ConnectionError as exc:
            # The row stays enqueued; requeue_lost sends it again once the broker is back.
            logger.warning("broker unavailable, job %s will be re-sent: %s", job_id, exc)
            return 0
        return 1

    def run(self, stop: threading.Event) -> None:
        """Dispatch until ``stop`` is set; checks for lost messages every few seconds."""
        last_reconcile = 0.0
        while not stop.is_set():
            try:
                self.run_once()
                clock = dt.datetime.now().timestamp()
                if clock - last_reconcile > min(self.requeue_after / 2, 30.0):
                    self.requeue_lost()
                    last_reconcile = clock
            except Exception:  # keep dispatching through database hiccups
                logger.exception("dispatch cycle failed")
            self._wake.wait(self.interval)
            self._wake.clear()
