"""Jobs: filtered by project, task, trigger, state and creation time, paged newest first by id
(keyset paging: each page is one index range scan however many jobs there are), sub-jobs shown
under their parent; Retry where it can work, Replay for webhook jobs (see :mod:`replay`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import flash, redirect, render_template, request, session, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connector import lifecycle
from connector.errors import JobStateError, NotFoundError
from connector.jobstate import UNFINISHED, JobState
from connector.store.models import JOB_STATES, Job, Log, Project, Task, Trigger
from webui.auth import role_required
from webui.dashboard import bp, database, get_or_404, time_arg
from webui.dashboard.replay import replay_response

PAGE = 50
MAX_PAGE = 200
CHILDREN = 100  # sub-jobs listed on a job's page
#: The notice the Run-now action flashes; the job page shows it only while the job runs.
QUEUED_NOTICE = "this page follows it"


def names(session: Session) -> dict[str, Any]:
    """Names of projects, tasks and triggers by id, for tables (tasks and triggers qualified
    by their project: two projects may each have an ON_PARTNER_CREATED)."""
    projects = dict(session.execute(select(Project.id, Project.name)).all())
    return {
        "projects": projects,
        "tasks": dict(session.execute(select(Task.id, Task.name)).all()),
        "triggers": dict(session.execute(select(Trigger.id, Trigger.trigger_name)).all()),
        "task_choices": qualified(session, Task.id, Task.name, Task.project_id, projects),
        "trigger_choices": qualified(session, Trigger.id, Trigger.trigger_name,
                                     Trigger.project_id, projects),
    }


def qualified(session: Session, key: Any, name: Any, project_id: Any,
              projects: dict[int, str]) -> list[tuple[int, str]]:
    """(id, "project / name") of every row, sorted by that label."""
    rows = session.execute(select(key, name, project_id)).all()
    return sorted(((row[0], f"{projects.get(row[2], '?')} / {row[1]}") for row in rows),
                  key=lambda item: item[1].lower())


def job_names(jobs: Iterable[Job]) -> dict[str, dict[int, str]]:
    """Task and trigger names of ``jobs`` (for job tables whose view passed none)."""
    jobs = list(jobs)
    task_ids = {job.task_id for job in jobs if job.task_id}
    trigger_ids = {job.trigger_id for job in jobs if job.trigger_id}
    with database().session() as db_session:
        tasks = dict(db_session.execute(select(Task.id, Task.name)
                                        .where(Task.id.in_(task_ids))).all()) if task_ids else {}
        triggers = dict(db_session.execute(
            select(Trigger.id, Trigger.trigger_name).where(Trigger.id.in_(trigger_ids))).all()
        ) if trigger_ids else {}
    return {"tasks": tasks, "triggers": triggers}


def can_retry(job: Job) -> bool:
    """Whether Retry can work: a failed job whose task still exists, not a webhook's (its
    request was never stored; Replay runs a webhook job again instead)."""
    return (job.state == JobState.FAILED and job.function != "handle_webhook"
            and job.task_id is not None)


def can_replay(job: Job) -> bool:
    """Whether a job ran a webhook handler that may be replayed from its logged request."""
    return (job.function == "handle_webhook" and job.state not in UNFINISHED
            and job.trigger_id is not None)



def _chosen() -> dict[str, Any]:
    args = request.args
    state = args.get("state") or None
    return {"project": args.get("project", type=int), "task": args.get("task", type=int),
            "trigger": args.get("trigger", type=int),
            "state": state if state in JOB_STATES else None,
            "since": time_arg("since"), "until": time_arg("until"),
            "before": args.get("before", type=int),
            "size": max(1, min(MAX_PAGE, args.get("size", PAGE, type=int) or PAGE))}


def _query(chosen: dict[str, Any]) -> Any:
    query = select(Job)
    for column, key in ((Job.project_id, "project"), (Job.task_id, "task"),
                        (Job.trigger_id, "trigger"), (Job.state, "state")):
        if chosen[key]:
            query = query.where(column == chosen[key])
    if chosen["since"]:
        query = query.where(Job.created_at >= chosen["since"])
    if chosen["until"]:
        query = query.where(Job.created_at < chosen["until"])
    if chosen["before"]:
        query = query.where(Job.id < chosen["before"])
    return query.order_by(Job.id.desc()).limit(chosen["size"] + 1)


def tree_order(rows: list[Job]) -> list[tuple[Job, int]]:
    """``rows`` (newest first) with each sub-job moved under its parent when the parent is
    among them: [(job, indent)]. Jobs whose parent is elsewhere stay where they are."""
    on_page = {row.id for row in rows}
    children: dict[int, list[Job]] = {}
    for row in rows:
        if row.parent_id in on_page:
            children.setdefault(row.parent_id or 0, []).append(row)
    ordered: list[tuple[Job, int]] = []

    def place(job: Job, indent: int) -> None:
        ordered.append((job, indent))
        for child in sorted(children.get(job.id, []), key=lambda each: each.id):
            place(child, indent + 1)

    for row in rows:
        if row.parent_id not in on_page:
            place(row, 0)
    return ordered


@bp.get("/jobs")
@role_required("user")
def jobs() -> Any:
    """A page of jobs, newest first, filtered; sub-jobs under their parent."""
    chosen = _chosen()
    with database().session() as db_session:
        rows = list(db_session.scalars(_query(chosen)))
        more = len(rows) > chosen["size"]
        rows = rows[:chosen["size"]]
        roots = [row.id for row in rows if row.depth == 0]
        subjobs = dict(db_session.execute(
            select(Job.root_id, func.count()).where(Job.root_id.in_(roots))
            .group_by(Job.root_id)).all()) if roots else {}
        keep: dict[str, Any] = {k: v for k, v in request.args.items() if k != "before"}
        return render_template(
            "dashboard/jobs.html", rows=tree_order(rows), states=JOB_STATES, chosen=chosen,
            subjobs=subjobs, more=more, filters=keep,
            older=url_for("dashboard.jobs", **keep, before=rows[-1].id) if more else None,
            newest=url_for("dashboard.jobs", **keep) if chosen["before"] else None,
            **names(db_session))


FOLLOWED = "syncstudio_followed_job"  # session key: the job whose Run-now notice is shown


def _queued_notice(job_id: int, unfinished: bool) -> bool:
    """Whether to show the Run-now notice on this job's page: it is taken out of the flashed
    messages (which would outlive the job) and kept in the session while the job runs."""
    flashes = session.get("_flashes") or []
    kept = [entry for entry in flashes if QUEUED_NOTICE not in str(entry[1])]
    if len(kept) != len(flashes):
        session["_flashes"] = kept
        session[FOLLOWED] = job_id
    if session.get(FOLLOWED) != job_id:
        return False
    if not unfinished:
        session.pop(FOLLOWED, None)
    return unfinished


@bp.get("/jobs/<int:job_id>")
@role_required("user")
def job(job_id: int) -> Any:
    """One job with its logs, error, traceback and sub-jobs."""
    with database().session() as db_session:
        row = get_or_404(db_session, Job, job_id)
        lines = list(db_session.scalars(select(Log).where(Log.job_id == job_id)
                                        .order_by(Log.id)))
        root = row.root_id or row.id
        children = list(db_session.scalars(
            select(Job).where(Job.root_id == root, Job.parent_id == row.id)
            .order_by(Job.id).limit(CHILDREN)))
        return render_template("dashboard/job.html", job=row, logs=lines, children=children,
                               response=replay_response(lines),
                               queued=_queued_notice(job_id, row.state in UNFINISHED),
                               children_limit=CHILDREN, **names(db_session))


@bp.post("/jobs/<int:job_id>/retry")
@role_required("developer")
def retry(job_id: int) -> Any:
    """Queue a failed job again; the dispatcher sends it to a worker."""
    with database().session() as db_session:
        row = get_or_404(db_session, Job, job_id)
        if row.function == "handle_webhook":
            flash("A webhook job cannot be retried: its request was never stored. Use Replay "
                  "to run the handler again on the request as it was logged.", "error")
            return redirect(url_for("dashboard.job", job_id=job_id))
        try:
            lifecycle.retry(db_session, job_id)
        except (NotFoundError, JobStateError) as exc:
            flash(str(exc), "error")
        else:
            flash(f"Job {job_id} queued again.", "info")
    return redirect(url_for("dashboard.job", job_id=job_id))
