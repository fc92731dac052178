"""The reconciler asks the broker before re-sending an overdue job: a message waiting behind a
backlog (or fetched by a busy worker) is not lost and is not sent again; a message that is gone
is sent again, once; an unreachable broker is asked again at the next pass.

No worker runs here: the messages stay where the test puts them. That re-sent jobs do complete
(Redis flushed, worker killed) is shown by ``test_reliability``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import socket
import threading
import uuid
from collections.abc import Iterator

import dramatiq
import pytest
from sqlalchemy import select

from connector import jobs, lifecycle
from connector.settings import Settings
from connector.store.db import Database
from connector.store.models import Job, Log, utcnow
from tests.support import record_jobs, require_rabbitmq, wait_until
from worker.actors import declare_actors
from worker.broker import QUEUE, make_broker, waiting_messages
from worker.dispatch import Dispatcher, message_id
from worker.executor import WorkerContext

REQUEUE_AFTER = 300.0


def later(passes: int = 1) -> dt.datetime:
    """The time of a reconciler pass ``passes`` timeouts from now."""
    return utcnow() + dt.timedelta(seconds=passes * (REQUEUE_AFTER + 1))


def dispatcher_on(settings: Settings, db: Database, broker_url: str) -> Dispatcher:
    """A dispatcher sending the real job actor's messages to ``broker_url``."""
    settings = dataclasses.replace(settings, broker_url=broker_url)
    actor = declare_actors(make_broker(settings), WorkerContext.from_settings(settings, db))
    return Dispatcher(db, actor, requeue_after=REQUEUE_AFTER)


def enqueued_at(db: Database, job_ids: list[int]) -> dict[int, dt.datetime | None]:
    with db.session() as session:
        return {job_id: session.get(Job, job_id).enqueued_at for job_id in job_ids}


def sent_ids(db: Database, job_ids: list[int]) -> set[str]:
    """The ids of the messages last sent for the jobs, derived as the dispatcher derives them."""
    return {message_id(job_id, at) for job_id, at in enqueued_at(db, job_ids).items()}


# --------------------------------------------------------------------------- Redis
@pytest.fixture
def redis_dispatcher(settings, db, project_id, redis_url) -> Iterator[Dispatcher]:
    dispatcher = dispatcher_on(settings, db, redis_url)
    yield dispatcher
    dispatcher.actor.broker.close()


@pytest.fixture
def dead_redis_url() -> Iterator[str]:
    """A Redis URL on which nothing listens (the port is held, so nothing can start there)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


def held(dispatcher: Dispatcher) -> set[str]:
    """The ids of the messages Redis holds in the job queue, queued or fetched."""
    broker = dispatcher.actor.broker
    return {key.decode() for key in broker.client.hkeys(f"{broker.namespace}:{QUEUE}.msgs")}


def lose(dispatcher: Dispatcher, lost_id: str) -> None:
    """Delete one message, as a Redis restarted without persistence loses it."""
    broker = dispatcher.actor.broker
    broker.client.hdel(f"{broker.namespace}:{QUEUE}.msgs", lost_id)
    broker.client.lrem(f"{broker.namespace}:{QUEUE}", 0, lost_id)


def test_message_still_queued_past_the_timeout_is_not_sent_again(redis_dispatcher, db):
    job_ids = record_jobs(db, "PRESS", 3)
    assert redis_dispatcher.run_once() == 3
    before = enqueued_at(db, job_ids)
    assert held(redis_dispatcher) == sent_ids(db, job_ids)

    assert redis_dispatcher.requeue_lost(now=later()) == 0
    assert held(redis_dispatcher) == sent_ids(db, job_ids)
    assert enqueued_at(db, job_ids) == before
    broker = redis_dispatcher.actor.broker
    assert broker.client.llen(f"{broker.namespace}:{QUEUE}") == 3


def test_message_fetched_by_a_worker_is_not_sent_again(redis_dispatcher, db):
    [job_id] = record_jobs(db, "PRESS")
    assert redis_dispatcher.run_once() == 1
    # A worker's prefetch: the message leaves the queue for the worker's unacknowledged set.
    [fetched] = redis_dispatcher.actor.broker.do_fetch(QUEUE, 1)
    assert dramatiq.Message.decode(fetched).args == (job_id,)
    assert redis_dispatcher.requeue_lost(now=later()) == 0


def test_lost_message_is_sent_again_once(redis_dispatcher, db):
    first, lost, third = job_ids = record_jobs(db, "PRESS", 3)
    assert redis_dispatcher.run_once() == 3
    kept = sent_ids(db, [first, third])
    lose(redis_dispatcher, message_id(lost, enqueued_at(db, [lost])[lost]))

    now = later()
    assert redis_dispatcher.requeue_lost(now=now) == 1
    assert enqueued_at(db, [lost]) == {lost: now}
    assert held(redis_dispatcher) == kept | {message_id(lost, now)} == sent_ids(db, job_ids)
    # Its new message waits like the others: the next pass leaves all three alone.
    assert redis_dispatcher.requeue_lost(now=later(2)) == 0


def test_failed_send_is_sent_again(settings, db, project_id, redis_dispatcher, dead_redis_url,
                                   caplog):
    [job_id] = record_jobs(db, "PRESS")
    dead = dispatcher_on(settings, db, dead_redis_url)
    with caplog.at_level(logging.WARNING, logger="syncstudio.dispatch"):
        assert dead.run_once() == 0
    assert "broker unavailable, 1 job(s) will be re-sent" in caplog.text
    with db.session() as session:
        assert session.get(Job, job_id).state == "enqueued"
    # No message has the id of the failed send, so the reconciler sends one.
    assert redis_dispatcher.requeue_lost(now=later()) == 1
    assert held(redis_dispatcher) == sent_ids(db, [job_id])


def test_unreachable_broker_is_asked_again_at_the_next_pass(settings, db, redis_dispatcher,
                                                            dead_redis_url, caplog):
    [job_id] = record_jobs(db, "PRESS")
    assert redis_dispatcher.run_once() == 1
    before = enqueued_at(db, [job_id])
    lose(redis_dispatcher, message_id(job_id, before[job_id]))
    dead = dispatcher_on(settings, db, dead_redis_url)
    with caplog.at_level(logging.WARNING, logger="syncstudio.dispatch"):
        assert dead.requeue_lost(now=later()) == 0
    assert "cannot ask the broker about 1 overdue job(s)" in caplog.text
    assert enqueued_at(db, [job_id]) == before  # untouched: still overdue at the next pass
    assert redis_dispatcher.requeue_lost(now=later()) == 1
    assert held(redis_dispatcher) == sent_ids(db, [job_id])


def test_dispatch_loop_outlives_an_unreachable_broker(settings, db, project_id, dead_redis_url,
                                                      caplog):
    [job_id] = record_jobs(db, "PRESS")
    with db.session() as session:  # enqueued long ago; its message is nowhere
        lifecycle.claim(session, [job_id], utcnow() - dt.timedelta(hours=1))
    dead = dispatcher_on(settings, db, dead_redis_url)
    dead.requeue_after, dead.interval = 0.05, 0.01
    stop = threading.Event()
    loop = threading.Thread(target=dead.run, args=(stop,), daemon=True)
    def asked() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage().startswith("cannot ask the broker")]

    with caplog.at_level(logging.WARNING, logger="syncstudio.dispatch"):
        loop.start()
        wait_until(lambda: len(asked()) >= 2, 10, "two reconciler passes")
        alive = loop.is_alive()
        stop.set()
        dead.wake()
        loop.join(timeout=10)
    assert alive
    assert len(asked()) >= 2, caplog.text  # one per pass, each pass tries again
    assert "dispatch cycle failed" not in caplog.text


# --------------------------------------------------------------------------- no look-up by id
@pytest.fixture(params=["stub", "rabbitmq"])
def counting_dispatcher(request, settings, db, project_id) -> Iterator[Dispatcher]:
    """A dispatcher on a broker that can only count a queue's messages, on a queue of its own
    (RabbitMQ's queue names are shared by every test session on the server)."""
    url = require_rabbitmq() if request.param == "rabbitmq" else ""
    broker = make_broker(dataclasses.replace(settings, broker_url=url))
    queue = f"syncstudio-test-{uuid.uuid4().hex[:12]}"
    actor = dramatiq.Actor(lambda job_id: None, broker=broker, actor_name=f"run_{queue}",
                           queue_name=queue, priority=0, options={})
    yield Dispatcher(db, actor, requeue_after=REQUEUE_AFTER)
    if request.param == "rabbitmq":
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            broker.channel.queue_delete(name)
    broker.close()


def test_backlog_explains_the_wait_until_the_queue_is_empty(counting_dispatcher, db):
    job_ids = record_jobs(db, "PRESS", 2)
    assert counting_dispatcher.run_once() == 2
    # RabbitMQ counts a message once its queue has taken it, a moment after the publish
    # returned (publishes are not confirmed, and the queue answers a count before it handles
    # the deliveries waiting in its mailbox). The dispatcher only asks about jobs enqueued
    # ``requeue_after`` ago, long counted by then; this test moves the clock instead of
    # waiting, so it waits for the count that real time would have given.
    broker, queue = counting_dispatcher.actor.broker, counting_dispatcher.actor.queue_name
    wait_until(lambda: waiting_messages(broker, queue) == 2, 10, "both messages counted")
    # Both messages wait in the queue: a backlog, not a loss.
    assert counting_dispatcher.requeue_lost(now=later()) == 0
    counting_dispatcher.actor.broker.flush(counting_dispatcher.actor.queue_name)
    # Nothing waits any more, yet the jobs are still enqueued: their messages are gone.
    now = later()
    assert counting_dispatcher.requeue_lost(now=now) == 2
    assert enqueued_at(db, job_ids) == dict.fromkeys(job_ids, now)
    assert counting_dispatcher.requeue_lost(now=later(2)) == 0


# --------------------------------------------------------------------------- held messages
@pytest.mark.parametrize("first", ["held", "resent"])
def test_a_message_held_by_a_busy_worker_and_sent_again_runs_the_job_once(settings, db,
                                                                          project_id, first):
    """A broker that can only count its queue cannot see the messages a worker has fetched
    and not yet acknowledged (RabbitMQ's prefetch): once the queue is empty, the reconciler
    takes such a message for lost and sends another while the first is still held. The job
    then runs for one of the two messages only, whichever a worker gets to first."""
    dispatcher = dispatcher_on(settings, db, "")  # the in-process broker: counts its queue only
    queue = dispatcher.actor.broker.queues[QUEUE]
    [job_id] = record_jobs(db, "PRESS")
    assert dispatcher.run_once() == 1
    held = queue.get_nowait()  # fetched by a worker busy with other jobs: the queue is empty
    assert dispatcher.requeue_lost(now=later()) == 1  # re-sent while the broker still holds it
    resent = queue.get_nowait()
    sent_at = {name: dt.datetime.fromisoformat(dramatiq.Message.decode(raw).kwargs["sent_at"])
               for name, raw in (("held", held), ("resent", resent))}
    assert sent_at["resent"] > sent_at["held"]
    second = "resent" if first == "held" else "held"
    with db.autocommit.connect() as conn:
        # One worker starts the job for the message it got first, and while that run goes on
        # another worker gets the other message.
        runs = [lifecycle.start(conn, job_id, sent_at=sent_at[first]),
                lifecycle.start(conn, job_id, sent_at=sent_at[second])]
    assert [run is not None for run in runs] == [first == "resent", first == "held"]
    with db.session() as session:
        assert session.get(Job, job_id).attempts == 1


def test_the_stale_copy_of_a_message_is_dropped_by_the_worker(settings, db, project_id):
    """Both messages of a job sent twice reach a real worker: the job runs once, for the
    message of its latest send, and is done."""
    dispatcher = dispatcher_on(settings, db, "")
    broker = dispatcher.actor.broker
    [job_id] = record_jobs(db, "PRESS")
    assert dispatcher.run_once() == 1
    held = broker.queues[QUEUE].get_nowait()
    broker.queues[QUEUE].task_done()  # counted as delivered, as a worker's fetch is
    assert dispatcher.requeue_lost(now=later()) == 1
    broker.queues[QUEUE].put(held)  # given back, behind the new one, e.g. its worker stopped
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        broker.join(QUEUE, timeout=30_000)
        worker.join()
    finally:
        worker.stop()
    with db.session() as session:
        job = session.get(Job, job_id)
        assert (job.state, job.attempts) == ("done", 1)
        assert [line.message for line in session.scalars(
            select(Log).where(Log.job_id == job_id))] == ["pressed"]


# --------------------------------------------------------------------------- started jobs
def test_a_started_job_is_resent_only_past_its_projects_wall_clock_limit(settings, db,
                                                                         project_id):
    """A project may let its jobs run longer than the default (``limits: wall_seconds``): its
    started job is not taken for abandoned, and re-sent to run a second time, before then."""
    from connector.store.models import Project

    dispatcher = dispatcher_on(settings, db, "")  # the in-process broker: sends always work
    [job_id] = record_jobs(db, "PRESS")
    with db.session() as session:
        session.get(Project, project_id).job_wall_seconds = 3600.0
        job = session.get(Job, job_id)
        job.state, job.started_at = "started", utcnow()
    assert dispatcher.started_after == REQUEUE_AFTER
    # Past the default limit, well within the project's hour: still running.
    assert dispatcher.requeue_lost(utcnow() + dt.timedelta(minutes=30)) == 0
    # Past the project's limit too: its worker is gone, the job is sent again.
    assert dispatcher.requeue_lost(utcnow() + dt.timedelta(minutes=62)) == 1


def test_run_abandoned_rule():
    now = dt.datetime(2026, 12, 1, 12, 0)
    ago = lambda minutes: now - dt.timedelta(minutes=minutes)  # noqa: E731
    assert not jobs.run_abandoned(None, now, 300)  # never stamped: counted as running
    assert not jobs.run_abandoned(ago(4), now, 300)
    assert jobs.run_abandoned(ago(6), now, 300)
    assert not jobs.run_abandoned(ago(6), now, 300, project_wall_seconds=600)
    assert jobs.run_abandoned(ago(12), now, 300, project_wall_seconds=600)
