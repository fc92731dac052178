"""The running parts of Sync Studio wired together: broker, job actor, dispatcher, poller, workers.

``syncstudio run`` starts all of them in one process; ``syncstudio poller`` and
``syncstudio worker`` start a part each. Tests drive the same objects step by step
(``poller.run_once()``, ``dispatcher.run_once()``, ``broker.join()``, ``worker.join()``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import dramatiq

from connector.detection.poller import Poller
from connector.settings import Settings
from connector.store.db import Database
from worker.actors import declare_actors
from worker.broker import QUEUE, make_broker
from worker.dispatch import Dispatcher
from worker.executor import WorkerContext
from worker.logins import prime_logins
from worker.runtime.isolation import (
    close_default_pool,
    configure_sandboxes,
    warm_up,
)
from worker.scheduler import Scheduler

logger = logging.getLogger("syncstudio.service")


class Service:
    """Holds the parts of one process; start only the ones this process runs."""

    def __init__(self, settings: Settings, db: Database | None = None,
                 broker: dramatiq.Broker | None = None) -> None:
        self.settings = settings
        self.ctx = WorkerContext.from_settings(settings, db)
        self.db = self.ctx.db
        self.broker = broker or make_broker(settings)
        self.actor = declare_actors(self.broker, self.ctx)
        # A job may legitimately run up to its wall-clock limit: only after that (and a margin)
        # does a started job count as lost.
        self.dispatcher = Dispatcher(
            self.db, self.actor, requeue_after=settings.requeue_after,
            started_after=settings.started_after,
            per_project=settings.dispatch_project_inflight)
        self.ctx.wake_dispatcher = self.dispatcher.wake
        self.poller = Poller(self.db, self.ctx.pool, batch_size=settings.batch_size,
                             interval=settings.poll_interval, on_jobs=self.dispatcher.wake,
                             lookback=settings.lookback,
                             deletion_interval=settings.deletion_interval)
        self.scheduler = Scheduler(self.db, interval=settings.poll_interval,
                                   on_jobs=self.dispatcher.wake,
                                   retention_days=settings.retention_days)
        self.worker: dramatiq.Worker | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start_worker(self, threads: int | None = None) -> dramatiq.Worker:
        """Start Dramatiq worker threads consuming the job queue."""
        count = threads or self.settings.worker_threads
        if self.settings.isolation:
            # One sandbox process per worker thread, forked from a template started now rather
            # than on the first job.
            pool = configure_sandboxes(self.settings)
            pool.resize(max(count, pool.max_size))
            warm_up()
        self.worker = dramatiq.Worker(self.broker, queues={QUEUE}, worker_threads=count,
                                      worker_timeout=100)
        self.worker.start()
        # Log in to the projects' Odoo now, not on the first event (a login costs ~0.5 s).
        threading.Thread(target=prime_logins, args=(self.db, self.ctx.pool, self.ctx.box),
                         name="syncstudio-logins", daemon=True).start()
        return self.worker

    def _thread(self, name: str, target: Callable[[threading.Event], None]) -> None:
        thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def start_poller(self) -> None:
        """Start the poll loop, the cron scheduler and the dispatcher (the poller process)."""
        if self.settings.in_process:
            self.dispatcher.requeue_all_unfinished()
        self._thread("syncstudio-poller", self.poller.run)
        self._thread("syncstudio-scheduler", self.scheduler.run)
        self._thread("syncstudio-dispatcher", self.dispatcher.run)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until the queue is empty and the workers are idle (tests, ``trigger run``)."""
        self.broker.join(QUEUE, timeout=int(timeout * 1000))
        if self.worker is not None:
            self.worker.join()

    def request_stop(self) -> None:
        """Make :meth:`wait` return (signal handlers call this)."""
        self._stop.set()

    def stop(self) -> None:
        """Stop every started part and close connections."""
        self._stop.set()
        self.dispatcher.wake()
        for thread in self._threads:
            thread.join(timeout=10)
        if self.worker is not None:
            self.worker.stop(timeout=10_000)
            close_default_pool()
        self.ctx.pool.close()
        self.broker.close()

    def wait(self) -> None:
        """Block until :meth:`stop` is called (or Ctrl-C)."""
        try:
            while not self._stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            logger.info("stopping")
