"""Execution logs with the filters of ``syncstudio logs`` (project, task, trigger, level, job
status, start-time range) and grouping by one of them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, abort, flash, render_template, request
from flask_login import login_required
from sqlalchemy import func, select

from connector.jobstate import SUCCEEDED, JobState
from connector.store.models import LOG_LEVELS, Job, Log, Project, Task, Trigger
from webui.dashboard import bp, database

LIMIT = 500
#: Characters of a log line shown on the logs page; a longer line links to the whole.
FOLD = 500
GROUPS = ("project", "task", "trigger", "level", "status")
STATUS_OF: dict[str, str] = {**dict.fromkeys(SUCCEEDED, "success"), JobState.FAILED: "fail"}


def _time(name: str) -> dt.datetime | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        flash(f"{name} {value!r} is not a date and time; the filter was ignored.", "error")
        return None


def _filtered(query: Any) -> tuple[Any, dict[str, Any]]:
    args = request.args
    chosen: dict[str, Any] = {
        "project": args.get("project", type=int), "task": args.get("task", type=int),
        "trigger": args.get("trigger", type=int), "level": args.get("level") or None,
        "status": args.get("status") or None, "since": _time("since"), "until": _time("until"),
        "group": args.get("group") if args.get("group") in GROUPS else None,
    }
    if chosen["project"]:
        query = query.where(Log.project_id == chosen["project"])
    if chosen["task"]:
        query = query.where(Log.task_id == chosen["task"])
    if chosen["trigger"]:
        query = query.where(Log.trigger_id == chosen["trigger"])
    if chosen["level"] in LOG_LEVELS:
        query = query.where(Log.level == chosen["level"])
    if chosen["status"] == "fail":
        query = query.where(Job.state == JobState.FAILED)
    elif chosen["status"] == "success":
        query = query.where(Job.state.in_(SUCCEEDED))
    if chosen["since"]:
        query = query.where(Job.started_at >= chosen["since"])
    if chosen["until"]:
        query = query.where(Job.started_at < chosen["until"])
    return query, chosen


@bp.get("/logs")
@login_required
def logs() -> Any:
    """Log lines, newest first, filtered and optionally grouped."""
    # Only the head of each message is read: a page of long lines must stay small.
    query = select(Log.id, Log.job_id, Log.created_at, Log.level, Log.type,
                   func.substr(Log.message, 1, FOLD).label("head"),
                   func.length(Log.message).label("size"),
                   Project.name, Task.name, Trigger.trigger_name, Job.state).outerjoin(
        Project, Log.project_id == Project.id).outerjoin(Task, Log.task_id == Task.id).outerjoin(
        Trigger, Log.trigger_id == Trigger.id).outerjoin(Job, Log.job_id == Job.id)
    query, chosen = _filtered(query)
    with database().session() as session:
        rows: list[dict[str, Any]] = []
        for found in session.execute(query.order_by(Log.id.desc())
                                     .limit(LIMIT)):
            line = dict(id=found[0], job_id=found[1], created_at=found[2], level=found[3],
                        type=found[4], message=found[5] or "",
                        folded=(found[6] or 0) > FOLD, size=found[6] or 0)
            proj, task, trig, state = (None if value is None else str(value)
                                       for value in tuple(found)[7:])
            rows.append(dict(line=line, project=proj or "-", task=task or "-",
                             trigger=trig or "-", level=line["level"],
                             status=STATUS_OF.get(state or "", state or "-")))
        groups: dict[str, list[dict[str, Any]]] = {}
        if chosen["group"]:
            for row in rows:
                groups.setdefault(str(row[chosen["group"]]), []).append(row)
        else:
            groups[""] = rows
        return render_template(
            "dashboard/logs.html", groups=groups, chosen=chosen, count=len(rows), limit=LIMIT,
            levels=LOG_LEVELS, group_choices=GROUPS,
            projects=session.execute(select(Project.id, Project.name)
                                     .order_by(Project.name)).all(),
            tasks=session.execute(select(Task.id, Task.name).order_by(Task.name)).all(),
            triggers=session.execute(select(Trigger.id, Trigger.trigger_name)
                                     .order_by(Trigger.trigger_name)).all())


@bp.get("/logs/<int:log_id>")
@login_required
def log_line(log_id: int) -> Any:
    """One whole log line, as plain text (the logs page shows long lines folded)."""
    with database().session() as session:
        message = session.scalar(select(Log.message).where(Log.id == log_id))
    if message is None:
        abort(404)
    return Response(message, mimetype="text/plain")
