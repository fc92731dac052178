"""Jobs that are never lost: the retry schedule, sub-jobs, and the reconciler after a lost message.

Jobs run through the real machinery (dispatcher → broker → Dramatiq worker → executor → task
runtime), on the in-process default (stub broker, SQLite) and on real Redis with PostgreSQL;
one job goes through RabbitMQ. Task code has no state of its own between tries, so the tasks
count their runs with links (kept in the own database).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bench.jobs.procs import descendants  # the same /proc walk the benchmark uses
from connector.projects import ProjectImporter, parse
from connector.settings import Settings
from connector.store import migrate
from connector.store.crypto import SecretBox
from connector.store.db import Database
from connector.store.models import FINISHED_STATES, Job, Log, utcnow
from tests.support import delete_keys, record_jobs, require_rabbitmq, wait_until
from worker.actors import declare_actors
from worker.broker import make_broker
from worker.dispatch import Dispatcher
from worker.executor import WorkerContext
from worker.service import Service

DELAYS = (0.05, 0.1, 0.15, 0.2)

PROJECT = """
name: Reliability
common_code: |
  # tries(name) counts the runs of a job in links: the n-th run sets link (name, run=n).
  def tries(name):
      n = 1
      while search_links(name, {"run": n}):
          n += 1
      set_link(name, {"run": n, "mark": n})
      return n
tasks:
  - name: Always retry
    code: |
      def handle_button():
          log("try %d" % tries("always"))
          raise RetryableJobError("the other side is down")
    triggers:
      button: [{trigger_name: ALWAYS}]
  - name: Third time lucky
    code: |
      def handle_button():
          n = tries("lucky")
          log("try %d" % n)
          if n < 3:
              raise RetryableJobError("not yet")
          return n
    triggers:
      button: [{trigger_name: LUCKY}]
  - name: Sub-jobs
    code: |
      def handle_button():
          first = add_job("child", identity_key="child-1")("a")
          second = add_job("child", identity_key="child-1")("b")
          later = add_job("child", eta=0.5, description="later")("later")
          return [first, second, later]

      def child(name):
          log("child %s" % name)
    triggers:
      button: [{trigger_name: SPAWN}]
  - name: Slow first run
    code: |
      def handle_button():
          n = tries("slow")
          log("run %d" % n)
          if n == 1:
              time.sleep(20)  # killed long before; an orphaned sandbox ends within 20 s
          return n
    triggers:
      button: [{trigger_name: SLOW}]
  - name: Trivial
    code: |
      def handle_button():
          return 1
    triggers:
      button: [{trigger_name: TRIVIAL}]
"""


# --------------------------------------------------------------------------- helpers
def import_project(settings: Settings, db: Database) -> None:
    with db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings),
                        environ={}).import_data(parse(PROJECT))


def finished(db: Database, job_ids: list[int]) -> dict[int, Job] | None:
    """The jobs when all are finished, else None."""
    with db.session() as session:
        rows = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(job_ids)))}
    return rows if all(row.state in FINISHED_STATES for row in rows.values()) else None


def job_logs(db: Database, job_id: int) -> list[Log]:
    with db.session() as session:
        return list(session.scalars(select(Log).where(Log.job_id == job_id).order_by(Log.id)))


@contextlib.contextmanager
def dispatching(dispatcher: Dispatcher) -> Iterator[Dispatcher]:
    """The dispatcher loop in a thread, as the poller process runs it."""
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield dispatcher
    finally:
        stop.set()
        dispatcher.wake()
        thread.join(timeout=10)


@contextlib.contextmanager
def running(settings: Settings, db: Database, threads: int = 2) -> Iterator[Service]:
    """A service with its workers and its dispatcher loop running."""
    service = Service(settings, db)
    service.start_worker(threads=threads)
    try:
        with dispatching(service.dispatcher):
            yield service
    finally:
        service.stop()


@pytest.fixture(params=["in-process", "redis"])
def backend(request: pytest.FixtureRequest, home: Path) -> Iterator[tuple[Settings, Database]]:
    """Settings and a migrated database: stub broker + SQLite, or Redis + PostgreSQL."""
    overrides: dict[str, Any] = {"retry_delays": DELAYS, "poll_interval": 0.2}
    if request.param == "redis":
        overrides.update(broker_url=request.getfixturevalue("redis_url"),
                         database_url=request.getfixturevalue("pg_url"))
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)}, **overrides)
    db = Database(settings.database_url)
    migrate.upgrade(db)
    import_project(settings, db)
    yield settings, db
    db.dispose()


# --------------------------------------------------------------------------- retries
@pytest.mark.slow
def test_retryable_error_fails_after_the_fifth_try_on_schedule(backend):
    settings, db = backend
    [job_id] = record_jobs(db, "ALWAYS")
    with running(settings, db):
        job = wait_until(lambda: finished(db, [job_id]), 20, "the job to fail")[job_id]
    assert job.state == "failed"
    assert job.attempts == 5
    assert job.error.startswith("gave up after 5 tries: RetryableJobError")
    lines = job_logs(db, job_id)
    starts = [line for line in lines if line.message.startswith("try ")]
    retries = [line for line in lines if "(try " in line.message]
    assert [line.message for line in starts] == [f"try {n}" for n in range(1, 6)]
    assert [line.level for line in retries] == ["warning"] * 5
    # The k-th retry waits the k-th delay after the k-th failure; the upper bound is generous
    # (a loaded machine), the lower one is the contract (a few ms for timestamp rounding).
    for k, delay in enumerate(DELAYS):
        waited = (starts[k + 1].created_at - retries[k].created_at).total_seconds()
        assert delay - 0.01 <= waited <= delay + 3.0, (k, delay, waited)


@pytest.mark.slow
def test_retryable_error_then_success_is_done(backend):
    settings, db = backend
    [job_id] = record_jobs(db, "LUCKY")
    with running(settings, db):
        job = wait_until(lambda: finished(db, [job_id]), 20, "the job to finish")[job_id]
    assert (job.state, job.attempts, job.result_json, job.error) == ("done", 3, "3", None)
    assert [line.message for line in job_logs(db, job_id) if line.level == "info"] == \
        ["try 1", "try 2", "try 3"]


# --------------------------------------------------------------------------- sub-jobs
@pytest.mark.slow
def test_identity_key_deduplicates_and_eta_is_respected(backend):
    settings, db = backend
    [parent_id] = record_jobs(db, "SPAWN")
    with running(settings, db):
        parent = wait_until(lambda: finished(db, [parent_id]), 20, "the parent job")[parent_id]
        assert parent.state == "done", parent.error
        first, second, later = json.loads(parent.result_json)
        assert first is not None and second is None  # same identity key while pending
        children = wait_until(lambda: finished(db, [first, later]), 20, "the sub-jobs")
    with db.session() as session:
        assert session.scalar(select(Job.id).where(Job.parent_id == parent_id,
                                                   Job.function == "child")
                              .order_by(Job.id.desc())) == later
        assert len(list(session.scalars(select(Job).where(Job.parent_id == parent_id)))) == 2
    assert children[first].state == children[later].state == "done"
    assert children[first].args == ["a"]
    assert children[later].description == "later"
    # Not run before its eta (0.5 s after add_job), though the dispatcher woke up earlier.
    assert children[later].started_at >= children[later].eta
    assert children[first].started_at < children[later].eta
    assert [line.message for line in job_logs(db, later)] == ["child later"]


# --------------------------------------------------------------------------- lost messages
# `syncstudio worker` with this interpreter, whatever the PATH holds.
WORKER_MAIN = "import sys; from connector.cli import main; sys.argv[0] = 'syncstudio'; main()"


def worker_env(settings: Settings) -> dict[str, str]:
    return {**settings.child_environ(os.environ), "SYNCSTUDIO_LOG_LEVEL": "WARNING"}


def start_worker(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    """``syncstudio worker`` in its own process, its output in ``log_path``."""
    with log_path.open("ab") as out:
        return subprocess.Popen([sys.executable, "-c", WORKER_MAIN, "worker", "--threads", "1"],
                                env=worker_env(settings), stdout=out, stderr=subprocess.STDOUT)


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (zombies count as gone)."""
    running = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            if (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                running.add(pid)
    return running


def kill_all(pids: set[int]) -> None:
    """SIGKILL processes this test started (orphans of a killed worker)."""
    for pid in alive(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def redis_pg(home: Path, redis_url: str, pg_url: str) -> Iterator[tuple[Settings, Database]]:
    """Settings for real Redis and PostgreSQL, shared with worker processes."""
    from cryptography.fernet import Fernet

    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)}, broker_url=redis_url,
                                 database_url=pg_url, secret_key=Fernet.generate_key().decode())
    db = Database(pg_url)
    migrate.upgrade(db)
    import_project(settings, db)
    yield settings, db
    db.dispose()


@pytest.mark.slow
def test_worker_killed_mid_job_is_requeued_and_completes(redis_pg, tmp_path):
    settings, db = redis_pg
    broker = make_broker(settings)
    actor = declare_actors(broker, WorkerContext.from_settings(settings, db))
    # A small requeue_after here stands for the production default of 5 minutes.
    dispatcher = Dispatcher(db, actor, requeue_after=1.0, interval=0.05)
    log_path = tmp_path / "workers.log"
    first = start_worker(settings, log_path)
    second = None
    sandbox: set[int] = set()
    try:
        [job_id] = record_jobs(db, "SLOW")
        assert dispatcher.run_once() == 1
        # The first run logs "run 1" and then sleeps: the job is started, the worker is busy.
        wait_until(lambda: [line for line in job_logs(db, job_id) if line.message == "run 1"],
                 30, f"the first run to start (worker log: {log_path})")
        with db.session() as session:
            assert session.get(Job, job_id).state == "started"
        sandbox = descendants(first.pid)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
        second = start_worker(settings, log_path)
        wait_until(lambda: log_path.read_text().count("worker consuming") == 2, 30,
                 f"the second worker to start (worker log: {log_path})")
        with dispatching(dispatcher):
            job = wait_until(lambda: finished(db, [job_id]), 30,
                           f"the re-queued job (worker log: {log_path})")[job_id]
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=15)
        kill_all(sandbox)  # see test_sandbox_process_dies_with_its_worker
        broker.close()
    assert (job.state, job.result_json, job.attempts) == ("done", "2", 2), job.error
    assert [line.message for line in job_logs(db, job_id)] == ["run 1", "run 2"]


@pytest.mark.slow
def test_sandbox_process_dies_with_its_worker(redis_pg, tmp_path):
    """A task still running after its worker died would run concurrently with the re-queued
    copy of its job (and its wall-clock limit is enforced by the dead parent)."""
    settings, db = redis_pg
    broker = make_broker(settings)
    actor = declare_actors(broker, WorkerContext.from_settings(settings, db))
    log_path = tmp_path / "worker.log"
    worker = start_worker(settings, log_path)
    sandbox: set[int] = set()
    try:
        [job_id] = record_jobs(db, "SLOW")
        assert Dispatcher(db, actor).run_once() == 1
        wait_until(lambda: [line for line in job_logs(db, job_id) if line.message == "run 1"],
                 30, f"the first run to start (worker log: {log_path})")
        sandbox = descendants(worker.pid)
        assert sandbox, "the task runs in the worker process itself: nothing to check"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        wait_until(lambda: not alive(sandbox), 5, "the task processes to die with their worker")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
        kill_all(sandbox)
        broker.close()


@pytest.mark.slow
def test_redis_flushed_with_100_queued_jobs_all_complete(redis_pg):
    settings, db = redis_pg
    # The reconciler is under test, not the sandbox: run the 100 handlers in the worker process
    # (a sandbox process per job costs ~0.3 s here; bench/jobs measures it).
    settings = dataclasses.replace(settings, isolation=False)
    job_ids = record_jobs(db, "TRIVIAL", 100)
    service = Service(settings, db)
    try:
        assert service.dispatcher.run_once() == 100
        # FLUSHALL, as far as this test session's keys go: other sessions may share the server.
        client, namespace = service.broker.client, service.broker.namespace
        assert list(client.scan_iter(match=f"{namespace}:*"))
        delete_keys(client, namespace)
        service.start_worker(threads=4)
        # The reconciler's pass once requeue_after (5 minutes by default) has gone by.
        later = utcnow() + dt.timedelta(seconds=settings.requeue_after + 1)
        assert service.dispatcher.requeue_lost(now=later) == 100
        rows = wait_until(lambda: finished(db, job_ids), 40, "100 jobs to finish")
    finally:
        service.stop()
    assert {row.state for row in rows.values()} == {"done"}
    # Every message was lost, so each job ran exactly once, from the reconciler's message.
    assert {row.attempts for row in rows.values()} == {1}


def test_in_process_restart_with_100_queued_jobs_all_complete(settings, sqlite_db):
    """The in-process default loses its queue with the process; start-up sends it again."""
    settings = dataclasses.replace(settings, isolation=False)  # as above: not the sandbox
    import_project(settings, sqlite_db)
    job_ids = record_jobs(sqlite_db, "TRIVIAL", 100)
    dead = Service(settings, sqlite_db)
    assert dead.dispatcher.run_once() == 100
    dead.broker.close()  # the process ends with 100 messages in memory, never consumed
    service = Service(settings, sqlite_db)
    try:
        assert service.dispatcher.requeue_all_unfinished() == 100
        service.start_worker(threads=2)
        service.drain()
    finally:
        service.stop()
    rows = finished(sqlite_db, job_ids)
    assert rows is not None and {row.state for row in rows.values()} == {"done"}


# --------------------------------------------------------------------------- RabbitMQ
@pytest.mark.slow
def test_one_job_end_to_end_through_rabbitmq(home):
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)}, broker_url=require_rabbitmq(),
                                 retry_delays=DELAYS)
    db = Database(settings.database_url)
    migrate.upgrade(db)
    import_project(settings, db)
    [job_id] = record_jobs(db, "LUCKY")
    try:
        with running(settings, db, threads=1) as service:
            assert type(service.broker).__name__ == "RabbitmqBroker"
            job = wait_until(lambda: finished(db, [job_id]), 30, "the job on RabbitMQ")[job_id]
    finally:
        db.dispose()
    assert (job.state, job.attempts, job.result_json) == ("done", 3, "3")
