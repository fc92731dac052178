"""Tasks: the code editor. Saving runs the sandbox's save-time check; refused code is shown
again with the error's line and column, and nothing is saved."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from connector.errors import CodeError
from connector.store.models import Job, Task
from webui.auth import role_required
from webui.dashboard import bp, database, get_or_404
from webui.dashboard.projects import webhook_url


def render_task(task_id: int, *, status: int = 200, code_error: CodeError | None = None,
                submitted: str | None = None) -> Any:
    with database().session() as session:
        task = get_or_404(session, Task, task_id)
        jobs = list(session.scalars(select(Job).where(Job.task_id == task.id)
                                    .order_by(Job.id.desc()).limit(20)))
        return render_template("dashboard/task.html", task=task, project=task.project,
                               jobs=jobs, code_error=code_error, webhook_url=webhook_url,
                               code=task.code if submitted is None else submitted), status


@bp.get("/tasks/<int:task_id>")
@login_required
def task(task_id: int) -> Any:
    """A task's code and triggers."""
    return render_task(task_id)


@bp.post("/tasks/<int:task_id>")
@role_required("developer")
def save_task(task_id: int) -> Any:
    """Check and save a task's code and active flag."""
    from worker.runtime import check_code

    source = request.form.get("code", "").replace("\r\n", "\n")
    active = request.form.get("active") == "on"
    try:
        check_code(source, where="task", require_handler=True,
                   allowlist=current_app.config["SETTINGS"].import_allowlist)
    except CodeError as exc:
        return render_task(task_id, status=400, code_error=exc, submitted=source)
    with database().session() as session:
        row = get_or_404(session, Task, task_id)
        row.code = source
        row.active = active
    flash("Task saved.", "info")
    return redirect(url_for("dashboard.task", task_id=task_id))
