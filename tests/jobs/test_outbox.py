"""Job rows: identity keys, eta, the started/finished rules, retry of failed jobs."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from connector import jobs, lifecycle
from connector.errors import JobStateError, NotFoundError
from connector.store.models import Job, Task

NOW = dt.datetime(2026, 11, 23, 12, 0, 0)


def task_id(session):
    return session.scalar(select(Task.id))


def test_identity_key_deduplicates_only_while_pending_or_enqueued(db, project_id):
    with db.session() as session:
        tid = task_id(session)
        first = lifecycle.record(session, project_id=project_id, task_id=tid, function="f",
                                identity_key="k1")
        assert first is not None
        assert lifecycle.record(session, project_id=project_id, task_id=tid, function="f",
                               identity_key="k1") is None
        lifecycle.enqueue(session, first.id, NOW)
        assert lifecycle.record(session, project_id=project_id, task_id=tid, function="f",
                               identity_key="k1") is None
        started = lifecycle.start(session, first.id, NOW)
        assert started is not None and started.attempts == 1
        again = lifecycle.record(session, project_id=project_id, task_id=tid, function="f",
                                identity_key="k1")
        assert again is not None and again.id != first.id


def test_eta_and_priority_order_due_jobs(db, project_id):
    with db.session() as session:
        tid = task_id(session)
        later = lifecycle.record(session, project_id=project_id, task_id=tid, function="later",
                                eta=NOW + dt.timedelta(minutes=5))
        low = lifecycle.record(session, project_id=project_id, task_id=tid, function="low",
                              priority=20)
        high = lifecycle.record(session, project_id=project_id, task_id=tid, function="high",
                               priority=1)
        assert jobs.due_job_ids(session, NOW) == [high.id, low.id]
        due_later = jobs.due_job_ids(session, NOW + dt.timedelta(minutes=5))
        assert later.id in due_later


def test_finished_job_is_not_started_again(db, project_id):
    with db.session() as session:
        job = lifecycle.record(session, project_id=project_id, task_id=task_id(session),
                              function="f")
        lifecycle.start(session, job.id, NOW)
        lifecycle.finish(session, job.id, result_json=lifecycle.encode_result({"n": 1}), now=NOW)
        assert job.state == "done" and job.result_json == '{"n": 1}'
        assert lifecycle.start(session, job.id, NOW) is None
        assert lifecycle.start(session, 987654, NOW) is None


def test_retry_only_failed_jobs(db, project_id):
    with db.session() as session:
        job = lifecycle.record(session, project_id=project_id, task_id=task_id(session),
                              function="f")
        with pytest.raises(JobStateError, match="only failed jobs"):
            lifecycle.retry(session, job.id)
        lifecycle.start(session, job.id, NOW)
        lifecycle.fail(session, job.id, error="boom", traceback="tb", now=NOW)
        retried = lifecycle.retry(session, job.id, NOW)
        assert retried.state == "pending" and retried.attempts == 0 and retried.error is None
        with pytest.raises(NotFoundError, match="does not exist"):
            lifecycle.retry(session, 424242)


def test_postpone_sets_the_next_attempt(db, project_id):
    with db.session() as session:
        job = lifecycle.record(session, project_id=project_id, task_id=task_id(session),
                              function="f")
        lifecycle.start(session, job.id, NOW)
        lifecycle.postpone(session, job.id, delay=300, error="RetryableJobError: later", now=NOW)
        assert job.state == "pending"
        assert job.next_attempt_at == NOW + dt.timedelta(minutes=5)
        assert jobs.due_job_ids(session, NOW) == []
        assert jobs.due_job_ids(session, NOW + dt.timedelta(minutes=5)) == [job.id]
        assert session.scalar(select(Job.state).where(Job.id == job.id)) == "pending"
