"""The job lifecycle: the transition table, and wrong moves refused with a clear error."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from connector import jobstate, lifecycle
from connector.errors import JobStateError, NotFoundError, SyncStudioError
from connector.jobstate import FINISHED, JobState, Move
from connector.store.models import Job, Task

NOW = dt.datetime(2026, 11, 23, 12, 0, 0)
P, E, S = JobState.PENDING, JobState.ENQUEUED, JobState.STARTED
DONE, WARN, FAILED = JobState.DONE, JobState.DONE_WARNINGS, JobState.FAILED

#: The whole table, written out: (move, from, to) of every allowed transition.
ALLOWED = {
    (Move.RECORD, None, P), (Move.BEGIN, None, S),
    (Move.CLAIM, P, E),
    (Move.ENQUEUE, P, E), (Move.ENQUEUE, E, E), (Move.ENQUEUE, S, E),
    (Move.START, P, S), (Move.START, E, S), (Move.START, S, S),
    (Move.FINISH, E, DONE), (Move.FINISH, S, DONE), (Move.FINISH, E, WARN),
    (Move.FINISH, S, WARN),
    (Move.FAIL, E, FAILED), (Move.FAIL, S, FAILED),
    (Move.POSTPONE, E, P), (Move.POSTPONE, S, P),
    (Move.RETRY, FAILED, P),
    (Move.CANCEL, P, FAILED), (Move.CANCEL, E, FAILED), (Move.CANCEL, S, FAILED),
}


def test_the_transition_table_is_exactly_the_documented_one():
    found = {(move, current, target) for move in Move for current in (None, *JobState)
             for target in JobState if jobstate.allowed(move, current, target)}
    assert found == ALLOWED


def test_states_keep_the_values_stored_in_the_database():
    assert [state.value for state in JobState] == [
        "pending", "enqueued", "started", "done", "done_warnings", "failed"]
    assert JobState("failed") is FAILED and FAILED == "failed"
    assert set(FINISHED) == {DONE, WARN, FAILED}


def test_no_move_leaves_a_finished_state_but_a_retry_of_a_failed_job():
    for move in Move:
        for finished in FINISHED:
            leaves = any(jobstate.allowed(move, finished, target) for target in JobState)
            assert leaves == (move is Move.RETRY and finished is FAILED), (move, finished)


def test_a_wrong_transition_names_the_job_its_state_and_what_the_move_accepts():
    with pytest.raises(JobStateError) as caught:
        jobstate.check(Move.FINISH, DONE, DONE, job_id=7)
    assert str(caught.value) == "job 7 is done: only enqueued or started jobs can be finished"
    assert isinstance(caught.value, SyncStudioError)
    assert not isinstance(caught.value, NotFoundError)
    assert not jobstate.allowed(Move.START, "no-such-state", S)
    jobstate.check(Move.START, "pending", "started")  # strings as read from a row are accepted


def new_job(session):
    job = lifecycle.record(session, project_id=session.scalar(select(Task.project_id)),
                           task_id=session.scalar(select(Task.id)), function="f")
    assert job is not None
    return job


def state_of(session, job_id):
    return session.scalar(select(Job.state).where(Job.id == job_id))


def test_a_full_life_on_the_database(db, project_id):
    with db.session() as session:
        job = new_job(session)
        assert state_of(session, job.id) == P
        assert lifecycle.claim(session, [job.id], NOW) == [job.id]
        assert lifecycle.claim(session, [job.id], NOW) == []  # claimed once only
        started = lifecycle.start(session, job.id, NOW)
        assert started is not None and started.attempts == 1 and job.state == S
        lifecycle.postpone(session, job.id, delay=60, error="later", now=NOW)
        assert job.state == P and job.next_attempt_at == NOW + dt.timedelta(seconds=60)
        lifecycle.start(session, job.id, NOW)
        assert lifecycle.finish(session, job.id, warnings=True, now=NOW) == WARN
        assert job.state == WARN and job.finished_at == NOW
        assert lifecycle.start(session, job.id, NOW) is None  # finished: never run again
        assert not lifecycle.enqueue(session, job.id, NOW)


@pytest.mark.parametrize("move", ["finish", "fail", "postpone"])
def test_ending_a_job_that_never_started_is_refused(db, project_id, move):
    with db.session() as session:
        job = new_job(session)
        kwargs = {"finish": {}, "fail": {"error": "x"},
                  "postpone": {"delay": 1, "error": "x"}}[move]
        with pytest.raises(JobStateError, match=f"job {job.id} is pending: only enqueued or "
                                                f"started jobs can be"):
            getattr(lifecycle, move)(session, job.id, **kwargs)
        assert state_of(session, job.id) == P
        with pytest.raises(NotFoundError, match="job 424242 does not exist"):
            getattr(lifecycle, move)(session, 424242, **kwargs)


def test_a_finished_job_keeps_its_end(db, project_id):
    with db.session() as session:
        job = new_job(session)
        lifecycle.start(session, job.id, NOW)
        lifecycle.finish(session, job.id, result_json='"first"', now=NOW)
        with pytest.raises(JobStateError, match="is done: only enqueued or started"):
            lifecycle.fail(session, job.id, error="late")
        with pytest.raises(JobStateError, match="is done: only pending, enqueued or started "
                                                "jobs can be cancelled"):
            lifecycle.cancel(session, job.id, reason="deleted")
        assert (job.state, job.result_json, job.error) == (DONE, '"first"', None)


def test_cancel_fails_an_unfinished_job_with_its_reason(db, project_id):
    with db.session() as session:
        job = new_job(session)
        lifecycle.cancel(session, job.id, reason="cancelled: the task was deleted", now=NOW)
        assert (job.state, job.error, job.finished_at) == (
            FAILED, "cancelled: the task was deleted", NOW)


def test_long_error_texts_are_cut(db, project_id):
    with db.session() as session:
        job = new_job(session)
        lifecycle.start(session, job.id, NOW)
        lifecycle.fail(session, job.id, error="e" * 20_000, traceback="t" * 70_000)
        assert len(job.error) == lifecycle.ERROR_CHARS + len(" … [cut]")
        assert job.traceback.endswith("\n… [cut]")


def test_retry_of_a_job_in_a_wrong_state_is_shown_by_the_cli(settings, db, db_url, project_id):
    from connector.cli import main

    with db.session() as session:
        job_id = new_job(session).id
    result = CliRunner().invoke(main, ["job", "retry", str(job_id)], env={
        "SYNCSTUDIO_HOME": str(settings.home), "SYNCSTUDIO_DATABASE_URL": db_url})
    assert result.exit_code != 0
    assert f"job {job_id} is pending, only failed jobs can be retried" in result.output
    assert "Traceback" not in result.output
