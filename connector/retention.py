"""Pruning of old finished jobs and their logs, so the own database does not grow without bound
(OCA queue_job's autovacuum does the same, 30 days by default)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update

from connector.store.db import Database
from connector.store.models import FINISHED_STATES, Job, Log, utcnow

CHUNK = 1000


def prune(db: Database, days: int, now: dt.datetime | None = None) -> int:
    """Delete jobs finished more than ``days`` ago with their logs; returns the jobs deleted.

    Works in chunks so a large backlog never holds one long write lock.
    """
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    total = 0
    while True:
        with db.session() as session:
            ids = list(session.scalars(
                select(Job.id).where(Job.state.in_(FINISHED_STATES), Job.finished_at < cutoff)
                .order_by(Job.id).limit(CHUNK)))
            if not ids:
                break
            session.execute(delete(Log).where(Log.job_id.in_(ids)))
            # Sub-jobs keep their rows; only the link to the pruned parent goes.
            session.execute(update(Job).where(Job.parent_id.in_(ids)).values(parent_id=None))
            session.execute(delete(Job).where(Job.id.in_(ids)))
            total += len(ids)
        if len(ids) < CHUNK:
            break
    with db.session() as session:
        session.execute(delete(Log).where(Log.job_id.is_(None), Log.created_at < cutoff))
    return total
