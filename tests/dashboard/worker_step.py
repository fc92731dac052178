"""The dispatcher and workers of ``syncstudio run``, driven step by step by dashboard tests.

"Run now" only records a pending job; a test then runs the worker side itself with
:meth:`WorkerStep.run_pending`, which waits on the broker rather than sleeping.
"""

from __future__ import annotations

from types import TracebackType

from connector.settings import Settings
from connector.store.db import Database
from worker.service import Service


class WorkerStep:
    """An in-process broker with one worker thread, and the dispatcher that feeds it; use it
    as a context manager, which stops the worker at the end."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.service = Service(settings, db)

    def __enter__(self) -> WorkerStep:
        self.service.start_worker(threads=1)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.service.stop()

    def run_pending(self) -> int:
        """Send every due pending job and wait until the worker is idle; how many were sent."""
        sent = self.service.dispatcher.run_once()
        self.service.drain()
        return sent
