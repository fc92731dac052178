"""Tasks: creation, the code editor and deletion. Saving runs the sandbox's save-time check;
refused code is shown again with the error's line and column, and nothing is saved."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from connector import jobs as job_rules
from connector import lifecycle
from connector.errors import CodeError
from connector.jobstate import UNFINISHED, JobState
from connector.schema import DELAY_UNITS, INTERVAL_UNITS, WEBHOOK_TYPES, WHEN
from connector.store.models import DB_CONDITIONS, Job, Project, Task, Trigger, utcnow
from webui.auth import has_role, role_required
from webui.dashboard import bp, database, get_or_404
from webui.dashboard.projects import render_project, webhook_url
from webui.dashboard.trigger_forms import picker

NAME_LENGTH = 200  # the width of Task.name and Trigger.trigger_name
#: The choices of the new-trigger forms: the values a project file accepts.
CHOICES = {"interval_unit": INTERVAL_UNITS, "delay_unit": DELAY_UNITS, "type": WEBHOOK_TYPES,
           "condition": DB_CONDITIONS, "when": WHEN}


class Refused(Exception):
    """Bad input in a dashboard form: the message says what to change, nothing is written."""


def render_task(task_id: int, *, status: int = 200, code_error: CodeError | None = None,
                submitted: str | None = None, trigger_form: dict[str, Any] | None = None) -> Any:
    """The task page (also re-shown with refused code, or a refused new trigger's fields)."""
    with database().session() as session:
        task = get_or_404(session, Task, task_id)
        jobs = list(session.scalars(select(Job).where(Job.task_id == task.id)
                                    .order_by(Job.id.desc()).limit(20)))
        typed = trigger_form or {}
        # The pickers ask Odoo (cached): only for those who get the forms.
        pickers = picker(task.project, typed.get("model", "") if typed.get("kind") == "db"
                         else "") if has_role("developer") else None
        return render_template("dashboard/task.html", task=task, project=task.project,
                               jobs=jobs, code_error=code_error, webhook_url=webhook_url,
                               code=task.code if submitted is None else submitted,
                               trigger_form=typed, choices=CHOICES, picker=pickers), status


def check_task_code(source: str) -> None:
    """The save-time check of task code (raises :class:`CodeError`)."""
    from worker.runtime import check_code

    check_code(source, where="task", require_handler=True,
               allowlist=current_app.config["SETTINGS"].import_allowlist)


def release_jobs(session: Session, of: ColumnElement[bool], what: str) -> str | None:
    """Make way for deleting ``what``, whose jobs match ``of``; the reason it cannot go, if any.

    A running job still writes log lines that name its task and trigger, which would then point
    at deleted rows, so deletion waits for it. Queued jobs are cancelled: their handler is gone;
    so are jobs "started" so long ago that their worker must have died (``started_after``).
    """
    now, started_after = utcnow(), current_app.config["SETTINGS"].started_after
    rows = session.execute(select(Job, Project.job_wall_seconds).join(
        Project, Project.id == Job.project_id).where(
        of, Job.state.in_(UNFINISHED))).all()
    cancelled = [job for job, _ in rows]
    for job, wall in rows:
        if job.state == JobState.STARTED and not job_rules.run_abandoned(
                job.started_at, now, started_after, wall):
            return f"{what} is running job #{job.id}; delete it once the job has finished."
    for job in cancelled:
        lifecycle.cancel(session, job.id, reason=f"cancelled: {what} was deleted by "
                                                 f"{current_user.login}")
    session.flush()  # before the delete, while the job rows still name it
    return None


@bp.get("/tasks/<int:task_id>")
@role_required("user")
def task(task_id: int) -> Any:
    """A task's code and triggers."""
    return render_task(task_id)


@bp.post("/tasks/<int:task_id>")
@role_required("developer")
def save_task(task_id: int) -> Any:
    """Check and save a task's code and active flag."""
    source = request.form.get("code", "").replace("\r\n", "\n")
    active = request.form.get("active") == "on"
    try:
        check_task_code(source)
    except CodeError as exc:
        return render_task(task_id, status=400, code_error=exc, submitted=source)
    with database().session() as session:
        row = get_or_404(session, Task, task_id)
        row.code = source
        row.active = active
    flash("Task saved.", "info")
    return redirect(url_for("dashboard.task", task_id=task_id))


def _add_task(project_id: int, name: str, source: str) -> int:
    """Insert a task named ``name``; its id, or :class:`Refused` for a missing or taken name."""
    if not name:
        raise Refused("A task needs a name.")
    if len(name) > NAME_LENGTH:
        raise Refused(f"A task name has at most {NAME_LENGTH} characters.")
    taken = f"This project already has a task named {name}."
    try:
        with database().session() as session:
            get_or_404(session, Project, project_id)
            if session.scalar(select(Task.id).where(Task.project_id == project_id,
                                                    Task.name == name)):
                raise Refused(taken)
            row = Task(project_id=project_id, name=name, code=source, active=True)
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:  # the same name was added meanwhile (unique per project)
        raise Refused(taken) from None


@bp.post("/projects/<int:project_id>/tasks")
@role_required("developer")
def create_task(project_id: int) -> Any:
    """Add a task to a project: a name unique in the project and optional code (checked)."""
    name = request.form.get("name", "").strip()
    source = request.form.get("code", "").replace("\r\n", "\n")
    submitted = {"name": name, "code": source}
    try:
        if source.strip():  # empty code is allowed: the task is written later in its editor
            check_task_code(source)
        task_id = _add_task(project_id, name, source)
    except CodeError as exc:
        return render_project(project_id, status=400, code_error=exc, code_layer="new_task",
                              new_task=submitted)
    except Refused as exc:
        flash(str(exc), "error")
        return render_project(project_id, status=400, new_task=submitted)
    flash(f"Task {name} created; add a trigger to run it.", "info")
    return redirect(url_for("dashboard.task", task_id=task_id))


#: What deleting a row of each kind involves: the model, the row's page, the column by which
#: jobs name it, and the page of the row it belongs to.
DELETABLE: dict[str, tuple[type[Task] | type[Trigger], str, Any, str]] = {
    "tasks": (Task, "task", Job.task_id, "project"),
    "triggers": (Trigger, "trigger", Job.trigger_id, "task"),
}


@bp.post("/<any(tasks, triggers):kind>/<int:key>/delete")
@role_required("developer")
def delete_row(kind: str, key: int) -> Any:
    """Delete a task (its triggers go with it) or a trigger; jobs and logs stay, no longer
    naming them. Refused while one of their jobs runs."""
    model, page, job_column, parent = DELETABLE[kind]
    with database().session() as session:
        row = get_or_404(session, model, key)
        what = f"{page.capitalize()} {row.name if isinstance(row, Task) else row.trigger_name}"
        parent_id = getattr(row, f"{parent}_id")
        refusal = release_jobs(session, job_column == row.id, what)
        if refusal is None:
            # A task's triggers go with it (ORM cascade). Jobs and logs keep their rows: the
            # database sets their task and trigger to NULL (ON DELETE SET NULL).
            session.delete(row)
    if refusal is not None:
        flash(refusal, "error")
        return redirect(_page_of(page, key))
    extra = " with its triggers" if kind == "tasks" else ""
    flash(f"{what} deleted{extra}; its jobs and logs are kept.", "info")
    return redirect(_page_of(parent, parent_id))


def _page_of(page: str, key: int) -> str:
    """The URL of the project, task or trigger page of row ``key``."""
    values: dict[str, Any] = {f"{page}_id": key}
    return url_for(f"dashboard.{page}", **values)
