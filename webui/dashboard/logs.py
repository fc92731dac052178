"""Execution logs with the filters of ``syncstudio logs`` (project, task, trigger, level, job
status, start-time range, one job) and grouping by one of them; newest first, paged by id.

Tasks and triggers are named with their project everywhere (two projects may each have an
``ON_PARTNER_CREATED``)."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, render_template, request, url_for
from sqlalchemy import func, select

from connector.jobstate import SUCCEEDED, JobState
from connector.store.models import LOG_LEVELS, Job, Log, Project, Task, Trigger
from webui.auth import role_required
from webui.dashboard import bp, database, time_arg
from webui.dashboard.jobs import qualified

LIMIT = 200  # lines per page (older pages are one click away)
#: Characters of a log line shown on the logs page; a longer line links to the whole.
FOLD = 500
GROUPS = ("project", "task", "trigger", "level", "status")
STATUS_OF: dict[str, str] = {**dict.fromkeys(SUCCEEDED, "success"), JobState.FAILED: "fail"}



def _filtered(query: Any) -> tuple[Any, dict[str, Any]]:
    args = request.args
    chosen: dict[str, Any] = {
        "project": args.get("project", type=int), "task": args.get("task", type=int),
        "trigger": args.get("trigger", type=int), "level": args.get("level") or None,
        "job": args.get("job", type=int), "before": args.get("before", type=int),
        "status": args.get("status") or None, "since": time_arg("since"),
        "until": time_arg("until"),
        "group": args.get("group") if args.get("group") in GROUPS else None,
    }
    if chosen["project"]:
        query = query.where(Log.project_id == chosen["project"])
    if chosen["task"]:
        query = query.where(Log.task_id == chosen["task"])
    if chosen["trigger"]:
        query = query.where(Log.trigger_id == chosen["trigger"])
    if chosen["job"]:
        query = query.where(Log.job_id == chosen["job"])
    if chosen["before"]:
        query = query.where(Log.id < chosen["before"])
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


def _names(session: Any) -> dict[str, Any]:
    projects = dict(session.execute(select(Project.id, Project.name)).all())
    tasks = qualified(session, Task.id, Task.name, Task.project_id, projects)
    triggers = qualified(session, Trigger.id, Trigger.trigger_name, Trigger.project_id,
                         projects)
    return {"projects": sorted(projects.items(), key=lambda item: item[1].lower()),
            "tasks": tasks, "triggers": triggers,
            "task_names": dict(tasks), "trigger_names": dict(triggers),
            # The table has a project column: its task and trigger cells need no prefix.
            "task_short": dict(session.execute(select(Task.id, Task.name)).all()),
            "trigger_short": dict(session.execute(select(Trigger.id,
                                                         Trigger.trigger_name)).all())}


def _prefix(endpoint: str, key: str) -> str:
    """The URL of ``endpoint`` without its trailing id (the template appends each line's)."""
    values: dict[str, Any] = {key: 0}
    return url_for(endpoint, **values)[:-1]


@bp.get("/logs")
@role_required("user")
def logs() -> Any:
    """Log lines, newest first, filtered and optionally grouped."""
    # Only the head of each message is read: a page of long lines must stay small.
    # Names come from the small project/task/trigger tables read once, not from a join per line.
    query = select(Log.id, Log.job_id, Log.created_at, Log.level, Log.type,
                   func.substr(Log.message, 1, FOLD).label("head"),
                   func.length(Log.message).label("size"),
                   Log.project_id, Log.task_id, Log.trigger_id, Job.state).outerjoin(
        Job, Log.job_id == Job.id)
    query, chosen = _filtered(query)
    with database().session() as session:
        names = _names(session)
        projects = dict(names["projects"])
        rows: list[dict[str, Any]] = []
        found_rows = list(session.execute(query.order_by(Log.id.desc()).limit(LIMIT + 1)))
        more = len(found_rows) > LIMIT
        for found in found_rows[:LIMIT]:
            line = dict(id=found[0], job_id=found[1], created_at=found[2], level=found[3],
                        type=found[4], message=found[5] or "",
                        folded=(found[6] or 0) > FOLD, size=found[6] or 0)
            state = found[10]
            rows.append(dict(line=line, project=projects.get(found[7], "-"),
                             task=names["task_names"].get(found[8], "-"),
                             trigger=names["trigger_names"].get(found[9], "-"),
                             task_name=names["task_short"].get(found[8], "-"),
                             trigger_name=names["trigger_short"].get(found[9], "-"),
                             project_id=found[7], task_id=found[8], trigger_id=found[9],
                             level=line["level"],
                             status=STATUS_OF.get(state or "", state or "-")))
        groups: dict[str, list[dict[str, Any]]] = {}
        if chosen["group"]:
            for row in rows:
                groups.setdefault(str(row[chosen["group"]]), []).append(row)
        else:
            groups[""] = rows
        keep: dict[str, Any] = {k: v for k, v in request.args.items() if k != "before"}
        return render_template(
            "dashboard/logs.html", groups=groups, chosen=chosen, count=len(rows), limit=LIMIT,
            levels=LOG_LEVELS, group_choices=GROUPS, projects=names["projects"],
            # URL prefixes: one url_for per page instead of four per line.
            base={kind: _prefix(endpoint, key) for kind, endpoint, key in (
                ("job", "dashboard.job", "job_id"), ("project", "dashboard.project",
                                                     "project_id"),
                ("task", "dashboard.task", "task_id"),
                ("trigger", "dashboard.trigger", "trigger_id"),
                ("line", "dashboard.log_line", "log_id"))},
            tasks=names["tasks"], triggers=names["triggers"],
            older=url_for("dashboard.logs", **keep, before=rows[-1]["line"]["id"])
            if more else None,
            newest=url_for("dashboard.logs", **keep) if chosen["before"] else None)


@bp.get("/logs/<int:log_id>")
@role_required("user")
def log_line(log_id: int) -> Any:
    """One whole log line, as plain text (the logs page shows long lines folded)."""
    with database().session() as session:
        message = session.scalar(select(Log.message).where(Log.id == log_id))
    if message is None:
        abort(404)
    return Response(message, mimetype="text/plain")
