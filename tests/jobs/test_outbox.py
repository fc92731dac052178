"""Job rows: identity keys, eta, the started/finished rules, retry of failed jobs."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from connector import jobs
from connector.errors import NotFoundError
from connector.store.models import Job, Task

NOW = dt.datetime(2026, 11, 23, 12, 0, 0)


def task_id(session):
    return session.scalar(select(Task.id))


def test_identity_key_deduplicates_only_while_pending_or_enqueued(db, project_id):
    with db.session() as session:
        tid = task_id(session)
        first = jobs.record_job(session, project_id=project_id, task_id=tid, function="f",
                                identity_key="k1")
        assert first is not None
        assert jobs.record_job(session, project_id=project_id, task_id=tid, function="f",
                               identity_key="k1") is None
        jobs.mark_enqueued(session, first.id, NOW)
        assert jobs.record_job(session, project_id=project_id, task_id=tid, function="f",
                               identity_key="k1") is None
        started = jobs.start(session, first.id, NOW)
        assert started is not None and started.attempts == 1
        again = jobs.record_job(session, project_id=project_id, task_id=tid, function="f",
                                identity_key="k1")
        assert again is not None and again.id != first.id


def test_eta_and_priority_order_due_jobs(db, project_id):
    with db.session() as session:
        tid = task_id(session)
        later = jobs.record_job(session, project_id=project_id, task_id=tid, function="later",
                                eta=NOW + dt.timedelta(minutes=5))
        low = jobs.record_job(session, project_id=project_id, task_id=tid, function="low",
                              priority=20)
        high = jobs.record_job(session, project_id=project_id, task_id=tid, function="high",
                               priority=1)
        assert [j.id for j in jobs.due_jobs(session, NOW)] == [high.id, low.id]
        due_later = jobs.due_jobs(session, NOW + dt.timedelta(minutes=5))
        assert later.id in [j.id for j in due_later]


def test_finished_job_is_not_started_again(db, project_id):
    with db.session() as session:
        job = jobs.record_job(session, project_id=project_id, task_id=task_id(session),
                              function="f")
        jobs.start(session, job.id, NOW)
        jobs.finish(session, job, result={"n": 1}, now=NOW)
        assert job.state == "done" and job.result_json == '{"n": 1}'
        assert jobs.start(session, job.id, NOW) is None
        assert jobs.start(session, 987654, NOW) is None


def test_retry_only_failed_jobs(db, project_id):
    with db.session() as session:
        job = jobs.record_job(session, project_id=project_id, task_id=task_id(session),
                              function="f")
        with pytest.raises(NotFoundError, match="only failed jobs"):
            jobs.retry(session, job.id)
        jobs.start(session, job.id, NOW)
        jobs.fail(session, job, error="boom", traceback="tb", now=NOW)
        retried = jobs.retry(session, job.id, NOW)
        assert retried.state == "pending" and retried.attempts == 0 and retried.error is None
        with pytest.raises(NotFoundError, match="does not exist"):
            jobs.retry(session, 424242)


def test_postpone_sets_the_next_attempt(db, project_id):
    with db.session() as session:
        job = jobs.record_job(session, project_id=project_id, task_id=task_id(session),
                              function="f")
        jobs.start(session, job.id, NOW)
        jobs.postpone(session, job, delay=300, error="RetryableJobError: later", now=NOW)
        assert job.state == "pending"
        assert job.next_attempt_at == NOW + dt.timedelta(minutes=5)
        assert jobs.due_jobs(session, NOW) == []
        assert [j.id for j in jobs.due_jobs(session, NOW + dt.timedelta(minutes=5))] == [job.id]
        assert session.scalar(select(Job.state).where(Job.id == job.id)) == "pending"
