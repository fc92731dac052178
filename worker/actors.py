"""Dramatiq actors, declared on a given broker (not at import time), so one process can hold
the in-process stub broker in tests and the Redis broker in production."""

from __future__ import annotations

import datetime as dt

import dramatiq

from worker.broker import QUEUE
from worker.executor import WorkerContext, execute

ACTOR_NAME = "syncstudio_run_job"


def declare_actors(broker: dramatiq.Broker, ctx: WorkerContext) -> dramatiq.Actor:
    """Declare the job actor on ``broker``; it runs jobs with ``ctx``."""

    def run_job(job_id: int, sent_at: str | None = None) -> None:
        # Messages sent before the stamp existed carry none: they run as they always did.
        execute(ctx, job_id, sent_at=dt.datetime.fromisoformat(sent_at) if sent_at else None)

    run_job.__name__ = ACTOR_NAME
    # The own database holds retries and time limits; Dramatiq's would double them.
    return dramatiq.Actor(run_job, broker=broker, actor_name=ACTOR_NAME, queue_name=QUEUE,
                          priority=0, options={"max_retries": 0, "time_limit": 86_400_000})
