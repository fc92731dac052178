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
from sqlalchemy import func, or_, select

from connector import jobs
from connector.store.db import Database
from connector.store.models import Job, Trigger, utcnow

logger = logging.getLogger("syncstudio.dispatch")

#: The error of a webhook job found unfinished by the reconciler (see ``requeue_lost``).
WEBHOOK_LOST = ("the web process stopped while running this webhook; the request was not stored, "
                "so it cannot be replayed (the caller got no answer and may call again)")


class Dispatcher:
    """Moves jobs from the own database to the broker.

    ``requeue_after`` is how long a message may stay unconsumed before it counts as lost;
    ``started_after`` (default: the same) is how long a job may run before its worker counts as
    dead. Keep the latter above the job wall-clock limit, or a slow job is run a second time
    while the first run is still going.
    """

    def __init__(self, db: Database, actor: dramatiq.Actor, *, requeue_after: float = 300.0,
                 interval: float = 0.2, started_after: float | None = None) -> None:
        self.db = db
        self.actor = actor
        self.requeue_after = requeue_after
        self.started_after = requeue_after if started_after is None else started_after
        self.interval = interval
        self._wake = threading.Event()

    def wake(self) -> None:
        """Ask the loop to run now (new jobs were recorded)."""
        self._wake.set()

    def run_once(self, now: dt.datetime | None = None) -> int:
        """Send every due pending job; returns how many were sent."""
        now = now or utcnow()
        with self.db.session() as session:
            due = jobs.due_job_ids(session, now)
            # Claim only rows that are still pending: a second dispatcher (another poller, or
            # `syncstudio run` next to one) that read the same rows must not send them again.
            claimed = jobs.claim(session, due, now)
        return sum(self._send(job_id) for job_id in claimed)

    def requeue_lost(self, now: dt.datetime | None = None) -> int:
        """Re-send jobs enqueued longer than ``requeue_after`` or started longer than
        ``started_after`` ago; returns how many were sent."""
        now = now or utcnow()
        enqueued_limit = now - dt.timedelta(seconds=self.requeue_after)
        started_limit = now - dt.timedelta(seconds=self.started_after)
        with self.db.session() as session:
            rows = session.execute(
                select(Job.id, Trigger.kind, Job.parent_id)
                .outerjoin(Trigger, Trigger.id == Job.trigger_id)
                .where(or_((Job.state == "enqueued") & (Job.enqueued_at < enqueued_limit),
                           (Job.state == "started") & (Job.started_at < started_limit)))
            ).all()
            lost: list[int] = []
            for job_id, kind, parent_id in rows:
                if kind == "webhook" and parent_id is None:
                    # A webhook runs inside the web request and its request object is not
                    # stored; a worker could only call the handler without it. Fail it visibly.
                    job = session.get(Job, job_id)
                    if job is not None:
                        jobs.fail(session, job, error=WEBHOOK_LOST, now=now)
                        jobs.add_log(session, job, WEBHOOK_LOST, level="error")
                    continue
                jobs.mark_enqueued(session, job_id, now)
                lost.append(job_id)
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

    def next_due_in(self, now: dt.datetime | None = None) -> float | None:
        """Seconds until the earliest postponed or scheduled pending job is due, if any."""
        now = now or utcnow()
        with self.db.session() as session:
            earliest = session.scalar(select(func.min(Job.next_attempt_at)).where(
                Job.state == "pending", Job.next_attempt_at > now))
        return None if earliest is None else max(0.0, (earliest - now).total_seconds())

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
            wait = self.interval
            try:
                self.run_once()
                clock = dt.datetime.now().timestamp()
                if clock - last_reconcile > min(self.requeue_after / 2, 30.0):
                    self.requeue_lost()
                    last_reconcile = clock
                # Sleep no longer than until the next retry or eta, so a retry schedule in
                # milliseconds (tests) is kept to the millisecond rather than to the interval.
                due_in = self.next_due_in()
                if due_in is not None:
                    wait = min(wait, due_in)
            except Exception:  # keep dispatching through database hiccups
                logger.exception("dispatch cycle failed")
            self._wake.wait(wait)
            self._wake.clear()
