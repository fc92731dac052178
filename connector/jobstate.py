"""The states of a job and the moves allowed between them (pure: no database).

A job is recorded ``pending``; the dispatcher claims it (``enqueued``) and sends its message; a
worker starts it (``started``) and records how it ended: ``done``, ``done_warnings`` (a warning
or an error was logged) or ``failed``; a retryable error puts it back to ``pending`` with a
delay. A failed job may be retried by hand. :mod:`connector.lifecycle` holds the statements that
make these moves; each one is checked against :data:`TRANSITIONS`.

The values are those stored in the ``job.state`` column, so rows written before this enumeration
existed read the same.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from connector.errors import JobStateError


class JobState(enum.StrEnum):
    """A job's state, as stored in ``job.state``."""

    PENDING = "pending"
    ENQUEUED = "enqueued"
    STARTED = "started"
    DONE = "done"
    DONE_WARNINGS = "done_warnings"
    FAILED = "failed"


#: The states a job ends in; a finished job is never run again (a retry makes it pending first).
FINISHED: tuple[JobState, ...] = (JobState.DONE, JobState.DONE_WARNINGS, JobState.FAILED)
#: The states of a job still to run or running.
UNFINISHED: tuple[JobState, ...] = (JobState.PENDING, JobState.ENQUEUED, JobState.STARTED)
#: The states of a job that ran to its end without an error.
SUCCEEDED: tuple[JobState, ...] = (JobState.DONE, JobState.DONE_WARNINGS)
#: The states a job waits in before a worker runs it: a job with an identity key already in
#: one of them is not recorded twice.
WAITING: tuple[JobState, ...] = (JobState.PENDING, JobState.ENQUEUED)
#: The states of a job that holds a place in the queue or a worker (the per-project cap).
BUSY: tuple[JobState, ...] = (JobState.ENQUEUED, JobState.STARTED)


class Move(enum.StrEnum):
    """The ways a job's state changes; each is one statement of :mod:`connector.lifecycle`."""

    RECORD = "record"        # a new job, to be sent by the dispatcher
    BEGIN = "begin"          # a new job that runs at once in this process (a webhook)
    CLAIM = "claim"          # the dispatcher takes a due pending job before sending it
    ENQUEUE = "enqueue"      # a message is sent again for a job (lost message, dead worker)
    START = "start"          # a worker begins a run
    FINISH = "finish"        # a run ended without an error
    FAIL = "fail"            # a run ended with an error, for good
    POSTPONE = "postpone"    # a run ended with a retryable error: try again after a delay
    RETRY = "retry"          # a failed job is queued again by hand
    CANCEL = "cancel"        # an unfinished job is dropped (its task or trigger is deleted)


#: The states each move starts from (None: a new job) and the state it leads to. ``finish``,
#: ``fail`` and ``postpone`` also start from ``enqueued``: the reconciler re-sends the message of
#: a run it counts as abandoned, and that run may still end. ``start`` also starts from
#: ``started``: a re-sent message of an abandoned run starts it again.
TRANSITIONS: dict[Move, tuple[frozenset[JobState | None], frozenset[JobState]]] = {
    Move.RECORD: (frozenset({None}), frozenset({JobState.PENDING})),
    Move.BEGIN: (frozenset({None}), frozenset({JobState.STARTED})),
    Move.CLAIM: (frozenset({JobState.PENDING}), frozenset({JobState.ENQUEUED})),
    Move.ENQUEUE: (frozenset(UNFINISHED), frozenset({JobState.ENQUEUED})),
    Move.START: (frozenset(UNFINISHED), frozenset({JobState.STARTED})),
    Move.FINISH: (frozenset(BUSY), frozenset(SUCCEEDED)),
    Move.FAIL: (frozenset(BUSY), frozenset({JobState.FAILED})),
    Move.POSTPONE: (frozenset(BUSY), frozenset({JobState.PENDING})),
    Move.RETRY: (frozenset({JobState.FAILED}), frozenset({JobState.PENDING})),
    Move.CANCEL: (frozenset(UNFINISHED), frozenset({JobState.FAILED})),
}

_VERBS = {Move.RECORD: "recorded", Move.BEGIN: "begun", Move.CLAIM: "claimed",
          Move.ENQUEUE: "enqueued", Move.START: "started", Move.FINISH: "finished",
          Move.FAIL: "failed", Move.POSTPONE: "postponed", Move.RETRY: "retried",
          Move.CANCEL: "cancelled"}


def sources(move: Move) -> tuple[JobState, ...]:
    """The existing states ``move`` starts from, in the enumeration's order (for SQL)."""
    allowed = TRANSITIONS[move][0]
    return tuple(state for state in JobState if state in allowed)


def allowed(move: Move, current: JobState | str | None, target: JobState | str) -> bool:
    """Whether ``move`` may take a job from ``current`` (None: no job yet) to ``target``."""
    starts, ends = TRANSITIONS[move]
    try:
        current_state = None if current is None else JobState(current)
        target_state = JobState(target)
    except ValueError:
        return False  # a value no code writes (a hand-edited row): no move applies to it
    return current_state in starts and target_state in ends


def check(move: Move, current: JobState | str | None, target: JobState | str,
          job_id: int | None = None) -> None:
    """Raise :class:`JobStateError` unless ``move`` may take a job from ``current`` to
    ``target``; the message names the job, its state and the states the move accepts."""
    if allowed(move, current, target):
        return
    raise JobStateError(refusal(move, current, job_id))


def refusal(move: Move, current: JobState | str | None, job_id: int | None = None) -> str:
    """Why ``move`` cannot apply to a job in state ``current``, in words for the user."""
    who = f"job {job_id}" if job_id is not None else "the job"
    starts = [state for state in TRANSITIONS[move][0] if state is not None]
    verb = _VERBS[move]
    if not starts:
        return f"{who} is {current}: only a new job can be {verb}"
    if move is Move.RETRY:
        return f"{who} is {current}, only failed jobs can be retried"
    accepted = _either(sorted(starts, key=list(JobState).index))
    return f"{who} is {current or 'not recorded'}: only {accepted} jobs can be {verb}"


def _either(states: Iterable[JobState]) -> str:
    names = [str(state) for state in states]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]
