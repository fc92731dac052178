"""Jobs: state, attempts, next try and error, with a Retry button on failed jobs (Developer+)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from connector import lifecycle
from connector.errors import JobStateError, NotFoundError
from connector.store.models import JOB_STATES, Job, Log, Project, Task, Trigger
from webui.auth import role_required
from webui.dashboard import bp, database, get_or_404

LIMIT = 200


def names(session: Any) -> dict[str, dict[int, str]]:
    """Names of projects, tasks and triggers by id, for tables."""
    return {
        "projects": dict(session.execute(select(Project.id, Project.name)).all()),
        "tasks": dict(session.execute(select(Task.id, Task.name)).all()),
        "triggers": dict(session.execute(select(Trigger.id, Trigger.trigger_name)).all()),
    }


@bp.get("/jobs")
@login_required
def jobs() -> Any:
    """The latest jobs, optionally of one state or project."""
    state = request.args.get("state") or None
    project_id = request.args.get("project", type=int)
    query = select(Job).order_by(Job.id.desc()).limit(LIMIT)
    if state in JOB_STATES:
        query = query.where(Job.state == state)
    if project_id:
        query = query.where(Job.project_id == project_id)
    with database().session() as session:
        rows = list(session.scalars(query))
        return render_template("dashboard/jobs.html", jobs=rows, states=JOB_STATES,
                               state=state, project_id=project_id, **names(session))


@bp.get("/jobs/<int:job_id>")
@login_required
def job(job_id: int) -> Any:
    """One job with its logs, error and traceback."""
    with database().session() as session:
        row = get_or_404(session, Job, job_id)
        lines = list(session.scalars(select(Log).where(Log.job_id == job_id).order_by(Log.id)))
        return render_template("dashboard/job.html", job=row, logs=lines, **names(session))


@bp.post("/jobs/<int:job_id>/retry")
@role_required("developer")
def retry(job_id: int) -> Any:
    """Queue a failed job again; the dispatcher sends it to a worker."""
    with database().session() as session:
        try:
            lifecycle.retry(session, job_id)
        except (NotFoundError, JobStateError) as exc:
            flash(str(exc), "error")
        else:
            flash(f"Job {job_id} queued again.", "info")
    return redirect(url_for("dashboard.job", job_id=job_id))
