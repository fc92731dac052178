"""Cron triggers: next run computation, no overlap, catch-up once after downtime."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from connector import lifecycle
from connector.store.models import Job, Trigger
from worker.scheduler import Scheduler, next_run_after

T0 = dt.datetime(2026, 1, 31, 8, 0, 0)


@pytest.mark.parametrize("interval,unit,now,expected", [
    (1, "hours", T0, dt.datetime(2026, 1, 31, 9, 0)),
    (2, "hours", T0 + dt.timedelta(hours=5, minutes=1), dt.datetime(2026, 1, 31, 14, 0)),
    (15, "minutes", T0 + dt.timedelta(days=365), T0 + dt.timedelta(days=365, minutes=15)),
    (1, "weeks", T0, dt.datetime(2026, 2, 7, 8, 0)),
    (1, "months", T0, dt.datetime(2026, 2, 28, 8, 0)),
    (1, "months", dt.datetime(2026, 3, 1), dt.datetime(2026, 3, 31, 8, 0)),
    (1, "days", T0 - dt.timedelta(days=3), dt.datetime(2026, 2, 1, 8, 0)),
])
def test_next_run_after(interval, unit, now, expected):
    assert next_run_after(T0, interval, unit, now) == expected


def cron_jobs(db):
    with db.session() as session:
        return list(session.scalars(select(Job).where(Job.function == "handle_cron")
                                    .order_by(Job.id)))


def set_next_run(db, when):
    with db.session() as session:
        trigger = session.scalar(select(Trigger).where(Trigger.kind == "cron"))
        trigger.next_run_at = when


def next_run(db):
    with db.session() as session:
        return session.scalar(select(Trigger.next_run_at).where(Trigger.kind == "cron"))


def test_due_trigger_queues_one_job_and_advances(db, project_id):
    scheduler = Scheduler(db)
    set_next_run(db, T0)
    assert scheduler.run_once(T0 - dt.timedelta(seconds=1)) == 0
    assert scheduler.run_once(T0) == 1
    assert next_run(db) == T0 + dt.timedelta(hours=1)
    [job] = cron_jobs(db)
    assert job.state == "pending" and job.trigger_id is not None


def test_no_overlap_while_the_previous_job_runs(db, project_id):
    scheduler = Scheduler(db)
    set_next_run(db, T0)
    assert scheduler.run_once(T0) == 1
    later = T0 + dt.timedelta(hours=1)
    assert scheduler.run_once(later) == 0  # the first job has not finished
    with db.session() as session:
        job = session.get(Job, cron_jobs(db)[0].id)
        lifecycle.start(session, job.id, later)
        assert Scheduler(db).run_once(later) == 0  # started is not finished either
        lifecycle.finish(session, job.id, now=later)
    assert scheduler.run_once(later) == 1
    assert len(cron_jobs(db)) == 2


def test_downtime_runs_missed_runs_once(db, project_id):
    scheduler = Scheduler(db)
    set_next_run(db, T0)
    back = T0 + dt.timedelta(hours=10, minutes=30)
    assert scheduler.run_once(back) == 1
    assert scheduler.run_once(back) == 0
    assert len(cron_jobs(db)) == 1
    assert next_run(db) == T0 + dt.timedelta(hours=11)


def test_new_cron_trigger_is_due_at_once(db, project_id):
    assert next_run(db) is None
    assert Scheduler(db).run_once(T0) == 1
    assert next_run(db) == T0 + dt.timedelta(hours=1)
