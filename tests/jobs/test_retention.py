"""Old finished jobs and their logs are pruned; unfinished and recent ones stay."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from connector import jobs, lifecycle
from connector.retention import prune
from connector.store.models import Job, Log, Task

NOW = dt.datetime(2026, 11, 23, 12, 0, 0)


def test_prune_removes_only_old_finished_jobs(db, project_id):
    with db.session() as session:
        tid = session.scalar(select(Task.id))
        old_done = lifecycle.record(session, project_id=project_id, task_id=tid, function="a")
        old_failed = lifecycle.record(session, project_id=project_id, task_id=tid, function="b")
        recent = lifecycle.record(session, project_id=project_id, task_id=tid, function="c")
        pending = lifecycle.record(session, project_id=project_id, task_id=tid, function="d")
        child = lifecycle.record(session, project_id=project_id, task_id=tid, function="e",
                                parent_id=old_done.id)
        for job in (old_done, old_failed, recent):
            lifecycle.start(session, job.id)
        lifecycle.finish(session, old_done.id, now=NOW - dt.timedelta(days=31))
        lifecycle.fail(session, old_failed.id, error="x", now=NOW - dt.timedelta(days=40))
        lifecycle.finish(session, recent.id, now=NOW - dt.timedelta(days=2))
        for job in (old_done, old_failed, recent, pending):
            jobs.add_log(session, job, "line")
        ids = {"recent": recent.id, "pending": pending.id, "child": child.id}
    assert prune(db, 30, NOW) == 2
    with db.session() as session:
        left = set(session.scalars(select(Job.id)))
        assert left == set(ids.values())
        assert session.scalar(select(func.count(Log.id))) == 2
        assert session.get(Job, ids["child"]).parent_id is None
    assert prune(db, 30, NOW) == 0
