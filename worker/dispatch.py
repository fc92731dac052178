"""The dispatcher: sends due job rows to Dramatiq and re-sends those whose message was lost.

A row is marked ``enqueued`` and committed *before* its message is sent: if the process dies in
between, the row is found again by :meth:`Dispatcher.requeue_lost`. A handler may thus run
twice, never zero times (at-least-once).

A message is not stored: its id is derived from the job's id and the time the job was marked
enqueued (:func:`message_id`), so the reconciler can ask the broker whether a job's message is
still there before sending another one.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Sequence

import dramatiq
from dramatiq.errors import ConnectionClosed, ConnectionFailed
from sqlalchemy import func, or_, select

from connector import jobs, lifecycle
from connector.errors import JobStateError
from connector.jobstate import BUSY, JobState
from connector.store.db import Database
from connector.store.models import Job, Project, Trigger, utcnow
from worker.broker import held_messages, waiting_messages

logger = logging.getLogger("syncstudio.dispatch")

#: The error of a webhook job found unfinished by the reconciler (see ``requeue_lost``).
WEBHOOK_LOST = ("the web process stopped while running this webhook; the request was not stored, "
                "so it cannot be replayed (the caller got no answer and may call again)")

#: What a broker raises when it cannot be reached (Dramatiq's names of both versions 1 and 2).
BROKER_DOWN = (ConnectionFailed, ConnectionClosed)

# Any fixed UUID will do; changing it makes one reconciler pass re-send every overdue job.
_MESSAGE_IDS = uuid.UUID("d19328d4-ffd3-4381-8f55-4a6ee9312767")


def message_id(job_id: int, enqueued_at: dt.datetime) -> str:
    """The id of the message sent for job ``job_id`` when it was marked enqueued at
    ``enqueued_at``. Every send marks the job enqueued anew, so every message has its own id."""
    stamp = enqueued_at.replace(tzinfo=None).isoformat(timespec="microseconds")
    return str(uuid.uuid5(_MESSAGE_IDS, f"job {job_id} enqueued {stamp}"))


def sent_stamp(enqueued_at: dt.datetime) -> str:
    """The time a job was marked enqueued for a send, as its message carries it."""
    return enqueued_at.replace(tzinfo=None).isoformat(timespec="microseconds")


class Dispatcher:
    """Moves jobs from the own database to the broker.

    ``requeue_after`` is how long a message may stay unconsumed before the broker is asked
    whether it is lost; ``started_after`` (default: the same) is how long a job may run before
    its worker counts as dead. Keep the latter above the job wall-clock limit, or a slow job is
    run a second time while the first run is still going. ``per_project`` (None: no cap) is
    how many jobs of one project may be queued or running at once; projects take turns.
    """

    def __init__(self, db: Database, actor: dramatiq.Actor, *, requeue_after: float = 300.0,
                 interval: float = 0.2, started_after: float | None = None,
                 per_project: int | None = None) -> None:
        self.db = db
        self.per_project = per_project
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
            due = jobs.due_job_ids(session, now, per_project=self.per_project)
            # Claim only rows that are still pending: a second dispatcher (another poller, or
            # `syncstudio run` next to one) that read the same rows must not send them again.
            claimed = lifecycle.claim(session, due, now)
        return self._send_all(claimed, now)

    def requeue_lost(self, now: dt.datetime | None = None) -> int:
        """Re-send the jobs whose message was lost; returns how many were sent.

        A job enqueued more than ``requeue_after`` ago is re-sent only when the broker no longer
        holds its message (:meth:`_unheld`): one merely waiting behind a long backlog is not
        lost, and sending it again would add to the very backlog that delays it. A job started
        more than ``started_after`` ago is re-sent on time alone: its message stays with its
        worker, dead or alive, until the run ends, so the broker cannot tell whether it is lost.
        When the broker cannot be reached, nothing is sent and the next pass asks again.
        """
        now = now or utcnow()
        enqueued_limit = now - dt.timedelta(seconds=self.requeue_after)
        started_limit = now - dt.timedelta(seconds=self.started_after)
        seen: dict[int, tuple[str, dt.datetime | None]] = {}
        with self.db.session() as session:
            rows = session.execute(
                select(Job.id, Job.state, Job.enqueued_at, Trigger.kind, Job.parent_id,
                       Job.started_at, Project.job_wall_seconds)
                .outerjoin(Trigger, Trigger.id == Job.trigger_id)
                .outerjoin(Project, Project.id == Job.project_id)
                .where(or_((Job.state == JobState.ENQUEUED) & (Job.enqueued_at < enqueued_limit),
                           (Job.state == JobState.STARTED) & (Job.started_at < started_limit)))
                .order_by(Job.id)
            ).all()
            for job_id, state, enqueued_at, kind, parent_id, started_at, wall in rows:
                if state == JobState.STARTED and not jobs.run_abandoned(
                        started_at, now, self.started_after, wall):
                    continue  # its project lets jobs run longer: it may still be going
                if kind == "webhook" and parent_id is None:
                    # A webhook runs inside the web request and its request object is not
                    # stored; a worker could only call the handler without it. Fail it visibly.
                    try:
                        lifecycle.fail(session, job_id, error=WEBHOOK_LOST, now=now)
                    except JobStateError:
                        continue  # it ended while this pass read the rows
                    jobs.add_log(session, session.get(Job, job_id), WEBHOOK_LOST, level="error")
                else:
                    seen[job_id] = (state, enqueued_at)
        waiting = {job_id: at for job_id, (state, at) in seen.items()
                   if state == JobState.ENQUEUED}
        stalled = [job_id for job_id, (state, _) in seen.items() if state == JobState.STARTED]
        try:
            lost = sorted(stalled + self._unheld(waiting))
        except BROKER_DOWN as exc:
            logger.warning("cannot ask the broker about %d overdue job(s); asking again at the "
                           "next pass: %s", len(seen), exc)
            return 0
        if not lost:
            return 0
        with self.db.session() as session:
            # Only rows unchanged since they were read: one whose message a worker consumed
            # while the broker was asked has finished, or waits for a retry after its delay.
            current = {job_id: (state, at) for job_id, state, at in session.execute(
                select(Job.id, Job.state, Job.enqueued_at).where(Job.id.in_(lost)))}
            lost = [job_id for job_id in lost if current.get(job_id) == seen[job_id]
                    and lifecycle.enqueue(session, job_id, now)]
        if lost:
            logger.warning("re-sending %d job(s) whose message was lost", len(lost))
        return self._send_all(lost, now)

    def _unheld(self, waiting: dict[int, dt.datetime | None]) -> list[int]:
        """Those of the overdue enqueued jobs whose message the broker no longer holds.

        Redis is asked for each message by id. RabbitMQ and the stub cannot look a message up,
        so they are asked how many messages wait in the queue: while any wait, the backlog
        explains the delay and nothing is re-sent; once none wait, an overdue job's message is
        either lost (a broker restarted without persistence) or fetched by a busy worker — then
        re-sending costs at most a duplicate message of a worker's prefetch, which lands in an
        empty queue, so re-sends can never pile up on a backlog; and the job still runs once:
        a worker drops the copy that is not of the job's latest send (``sent_at``).
        """
        if not waiting:
            return []
        broker, queue = self.actor.broker, self.actor.queue_name
        ids = {message_id(job_id, at): job_id for job_id, at in waiting.items() if at is not None}
        held = held_messages(broker, queue, ids)
        if held is None:
            backlog = waiting_messages(broker, queue)  # None: a broker of another kind
            if backlog:
                logger.info("%d job(s) enqueued over %gs ago, but %d message(s) wait in the "
                            "queue: a backlog, not re-sent", len(waiting), self.requeue_after,
                            backlog)
                return []
            return list(waiting)
        if held:
            logger.info("%d job(s) enqueued over %gs ago still have their message in the "
                        "broker: a backlog, not re-sent", len(held), self.requeue_after)
        # A row without enqueued_at has no message id: count it as lost (never zero runs).
        return [job_id for job_id, at in waiting.items()
                if at is None or message_id(job_id, at) not in held]

    def requeue_all_unfinished(self) -> int:
        """At start-up of the in-process mode: the queue is empty, so every enqueued job's
        message is lost by definition, and so is every abandoned started one's; send them
        again now."""
        now = utcnow()
        with self.db.session() as session:
            rows = session.execute(
                select(Job.id, Job.state, Job.started_at, Project.job_wall_seconds)
                .outerjoin(Project, Project.id == Job.project_id)
                .where(Job.state.in_(BUSY)).order_by(Job.id)).all()
            # A started job may be running in another process (a web request's webhook, an
            # older process still up): only one past its wall-clock limit is abandoned; the
            # reconciler takes care of the rest once they are.
            ids = [job_id for job_id, state, started_at, wall in rows
                   if state == JobState.ENQUEUED
                   or jobs.run_abandoned(started_at, now, self.started_after, wall)]
            ids = [job_id for job_id in ids if lifecycle.enqueue(session, job_id, now)]
        return self._send_all(ids, now)

    def next_due_in(self, now: dt.datetime | None = None) -> float | None:
        """Seconds until the earliest postponed or scheduled pending job is due, if any."""
        now = now or utcnow()
        with self.db.session() as session:
            earliest = session.scalar(select(func.min(Job.next_attempt_at)).where(
                Job.state == JobState.PENDING, Job.next_attempt_at > now))
        return None if earliest is None else max(0.0, (earliest - now).total_seconds())

    def _send_all(self, job_ids: Sequence[int], enqueued_at: dt.datetime) -> int:
        """Send the jobs marked enqueued at ``enqueued_at``; returns how many were sent."""
        for sent, job_id in enumerate(job_ids):
            # The send's stamp travels with the message: a worker runs the job only for the
            # message of its latest send (see lifecycle.start), so a message re-sent while the
            # first one was still held by a worker runs the job once, not twice.
            message = self.actor.message_with_options(
                args=(job_id,), kwargs={"sent_at": sent_stamp(enqueued_at)},
            ).copy(message_id=message_id(job_id, enqueued_at))
            try:
                self.actor.broker.enqueue(message)
            except BROKER_DOWN as exc:
                # The rows stay enqueued with no message: requeue_lost sends them again once
                # the broker is back. Stop here rather than wait for the outage once per job.
                logger.warning("broker unavailable, %d job(s) will be re-sent: %s",
                               len(job_ids) - sent, exc)
                return sent
        return len(job_ids)

    def run(self, stop: threading.Event) -> None:
        """Dispatch until ``stop`` is set; checks for lost messages every few seconds."""
        last_reconcile = 0.0
        while not stop.is_set():
            wait = self.interval
            try:
                self.run_once()
                clock = dt.datetime.now().timestamp()
                if clock - last_reconcile > min(self.requeue_after / 2, 30.0):
                    # Set first: a pass that fails is tried again at the next pass, not at
                    # every cycle of this loop.
                    last_reconcile = clock
                    self.requeue_lost()
                # Sleep no longer than until the next retry or eta, so a retry schedule in
                # milliseconds (tests) is kept to the millisecond rather than to the interval.
                due_in = self.next_due_in()
                if due_in is not None:
                    wait = min(wait, due_in)
            except Exception:  # keep dispatching through database hiccups
                logger.exception("dispatch cycle failed")
            self._wake.wait(wait)
            self._wake.clear()
