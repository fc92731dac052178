"""Triggers of the four kinds: details, creation, webhook URL regeneration, and
"Run now" for buttons and cron, which queues a job for the workers and shows its page at once
(the page follows the job live until it ends)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector import jobs
from connector.errors import OdooError, ProjectFileError
from connector.projects import button_data_json as parse_button_data
from connector.projects import fill_trigger as copy_trigger
from connector.projects import new_webhook_token
from connector.schema import TRIGGER_NAME_RE, Problem, odoo_problems, raise_problems, safe_load
from connector.schema import validate_trigger as check_trigger
from connector.schema.models import DbTrigger
from connector.store.crypto import SecretBox
from connector.store.models import TRIGGER_KINDS, PollCursor, Task, Trigger
from webui.auth import has_role, role_required
from webui.dashboard import as_yaml, bp, database, get_or_404
from webui.dashboard.projects import webhook_url
from webui.dashboard.tasks import CHOICES, NAME_LENGTH, Refused, render_task
from webui.dashboard.trigger_forms import form_values, picker, snapshot_state, split_names

#: The form fields of each kind, named as the keys of a project file's trigger.
FIELDS = {
    "cron": ("interval", "interval_unit", "scheduler_user", "next_run_at"),
    "db": ("model", "condition", "domain", "before_domain", "watched_fields", "date_field",
           "delay", "delay_unit", "when"),
    "webhook": ("type",),
    "button": ("data",),
}
KIND_LABELS = {"cron": "Cron", "db": "DB", "webhook": "Webhook", "button": "Button"}
#: Fields stored in columns of NAME_LENGTH characters (PostgreSQL refuses longer values).
SHORT_FIELDS = ("model", "date_field", "scheduler_user")


@bp.get("/triggers/<int:trigger_id>")
@role_required("user")
def trigger(trigger_id: int) -> Any:
    """One trigger with every field of its kind, editable in place by Developers."""
    return render_trigger(trigger_id)


def render_trigger(trigger_id: int, *, status: int = 200,
                   typed: dict[str, Any] | None = None) -> Any:
    """The trigger page (also re-shown with a refused edit's fields, ``typed``)."""
    with database().session() as session:
        row = get_or_404(session, Trigger, trigger_id)
        project = row.task.project
        data = cursor = None
        if row.kind == "button" and row.data_json:
            data = as_yaml(row.data)
        if row.kind == "db" and project.connection_id is not None:
            # The poller's cursor for this model: when detection last worked, and last tried.
            cursor = session.scalar(select(PollCursor).where(
                PollCursor.connection_id == project.connection_id,
                PollCursor.model == row.model))
        values = typed if typed is not None else form_values(row)
        editing = has_role("developer")
        return render_template(
            "dashboard/trigger.html", trigger=row, task=row.task, project=project,
            webhook_url=webhook_url, data=data, cursor=cursor, typed=values,
            snapshot=snapshot_state(session, row, project.connection_id),
            picker=picker(project, values.get("model", "")) if editing and row.kind == "db"
            else None, choices=CHOICES, edit_open=typed is not None), status


@bp.get("/projects/<int:project_id>/odoo/fields")
@role_required("user")
def odoo_fields(project_id: int) -> Any:
    """The fields of ``?model=`` in the project's Odoo, for the pickers (JSON; ``error`` says
    why there are none)."""
    from connector.store.models import Project
    from webui.dashboard import catalog

    model = request.args.get("model", "").strip()
    with database().session() as session:
        project = get_or_404(session, Project, project_id)
        if project.connection is None:
            return jsonify(error="This project has no Odoo connection: type the field names.",
                           fields=[])
        if not model or len(model) > NAME_LENGTH:
            return jsonify(error="Pick a model first.", fields=[])
        try:
            found = catalog.fields(project.connection, model)
        except catalog.Unavailable as exc:
            return jsonify(error=f"{exc}; type the field names.", fields=[])
    return jsonify(error=None, fields=[{"name": f.name, "label": f.label, "type": f.type}
                                       for f in found])


@bp.post("/triggers/<int:trigger_id>/edit")
@role_required("developer")
def edit_trigger(trigger_id: int) -> Any:
    """Change a trigger's settings in place (its name, kind, URL and history stay), with the
    checks of a new one."""
    try:
        with database().session() as session:
            row = get_or_404(session, Trigger, trigger_id)
            item = form_item(row.kind, row.trigger_name)
            item["active"] = row.active  # enabling and disabling is its own button
            fill_trigger(session, row, item)
            name = row.trigger_name
    except Refused as exc:
        flash(str(exc), "error")
        typed: dict[str, Any] = request.form.to_dict()
        typed["watched_fields"] = split_names(request.form.getlist("watched_fields"))
        return render_trigger(trigger_id, status=400, typed=typed)
    flash(f"Trigger {name} saved.", "info")
    return redirect(url_for("dashboard.trigger", trigger_id=trigger_id))


@bp.post("/triggers/<int:trigger_id>/active")
@role_required("developer")
def toggle_trigger(trigger_id: int) -> Any:
    """Enable or disable a trigger."""
    with database().session() as session:
        row = get_or_404(session, Trigger, trigger_id)
        row.active = not row.active
        flash(f"{row.trigger_name} {'enabled' if row.active else 'disabled'}.", "info")
    return redirect(url_for("dashboard.trigger", trigger_id=trigger_id))


MAX_BUTTON_DATA = 64 * 1024  # characters


def button_data_json(text: str) -> str | None:
    """Button data typed as JSON or YAML, as the JSON stored (None when empty)."""
    from webui.webhooks import MAX_JSON_DEPTH, json_too_deep

    if len(text) > MAX_BUTTON_DATA:
        raise Refused(f"button data is limited to {MAX_BUTTON_DATA} characters")
    if json_too_deep(text.encode("utf-8", "replace")):
        raise Refused(f"button data nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return parse_button_data(text)
    except ProjectFileError as exc:
        raise Refused(str(exc)) from None
    except RecursionError:  # YAML's block nesting, which the bracket count cannot see
        raise Refused("button data nests too deeply") from None


@bp.post("/triggers/<int:trigger_id>/data")
@role_required("developer")
def save_button_data(trigger_id: int) -> Any:
    """Change a button's data (JSON or YAML; empty: none)."""
    try:
        encoded = button_data_json(request.form.get("data", ""))
    except Refused as exc:
        flash(str(exc), "error")
        return redirect(url_for("dashboard.trigger", trigger_id=trigger_id))
    with database().session() as session:
        row = get_or_404(session, Trigger, trigger_id)
        if row.kind != "button":
            abort(400)
        row.data_json = encoded
    flash("Button data saved.", "info")
    return redirect(url_for("dashboard.trigger", trigger_id=trigger_id))


@bp.post("/triggers/<int:trigger_id>/regenerate")
@role_required("developer")
def regenerate(trigger_id: int) -> Any:
    """Give a webhook a new URL; the old one answers 404 from now on."""
    with database().session() as session:
        row = get_or_404(session, Trigger, trigger_id)
        if row.kind != "webhook":
            abort(400)
        row.token = new_webhook_token()
    flash("New webhook URL generated; the old one no longer works.", "info")
    if request.form.get("back") == "project":
        return redirect(url_for("dashboard.project", project_id=row.project_id))
    return redirect(url_for("dashboard.trigger", trigger_id=trigger_id))


def _whole_number(text: str, where: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise Refused(f"{where}: must be a whole number, got {text!r}") from None
    if value < minimum:
        raise Refused(f"{where}: must be {minimum} or more, got {value}")
    return value


def _utc(text: str, where: str) -> dt.datetime:
    """A date and time typed in the form, as the naive UTC the columns store."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Refused(f"{where}: not a date and time: {text!r}") from None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def form_item(kind: str, name: str) -> dict[str, Any]:
    """The submitted fields of a ``kind`` trigger, shaped as the trigger of a project file.

    Only the fields of that kind are read; empty ones are left out, so the importer's defaults
    apply (every 1 day, a JSON webhook, …).
    """
    item: dict[str, Any] = {"trigger_name": name}
    for field in FIELDS[kind]:
        if field == "watched_fields":  # a multiple choice, or text when Odoo cannot list them
            text = " ".join(split_names(request.form.getlist(field)))
        else:
            text = request.form.get(field, "").strip()
        if not text:
            continue
        if field in SHORT_FIELDS and len(text) > NAME_LENGTH:
            raise Refused(f"{name}.{field}: at most {NAME_LENGTH} characters")
        item[field] = text
    # The importer expects YAML's types where the form only has text.
    if "interval" in item:
        item["interval"] = _whole_number(item["interval"], f"{name}.interval", 1)
    if "delay" in item:
        item["delay"] = _whole_number(item["delay"], f"{name}.delay", 0)
    if "watched_fields" in item:
        item["watched_fields"] = item["watched_fields"].replace(",", " ").split()
    if "data" in item:  # JSON or YAML text, aliases bounded as in project files
        try:
            item["data"] = safe_load(item["data"], f"{name}.data")
        except ProjectFileError as exc:
            raise Refused(str(exc)) from None
    return item


def fill_trigger(session: Session, row: Trigger, item: dict[str, Any]) -> None:
    """Check ``item`` with the project file's schema and checks, and copy it onto ``row``.

    The same checks as an import, Odoo's included when the project has a connection, so a
    trigger refused in a file is refused here with the same message.
    """
    item = dict(item)
    next_run_at = item.pop("next_run_at", None)
    task = row.task if row.task is not None else session.get(Task, row.task_id)
    try:
        spec = check_trigger(row.kind, item, row.trigger_name,
                             (task.name, task.code) if task is not None else None)
        problems: list[Problem] = []
        connection = task.project.connection if task is not None else None
        if isinstance(spec, DbTrigger) and connection is not None:
            problems += odoo_check(connection, spec)
        raise_problems(problems, base=row.trigger_name, strip=1)
    except ProjectFileError as exc:
        raise Refused(str(exc)) from None
    except OdooError as exc:
        raise Refused(f"{row.trigger_name}: cannot check the trigger against the project's "
                      f"Odoo: {exc}") from None
    copy_trigger(row, spec)
    if next_run_at:
        row.next_run_at = _utc(next_run_at, f"{row.trigger_name}.next_run_at")


def odoo_check(connection: Any, spec: DbTrigger) -> list[Problem]:
    """The import's checks of a DB trigger against the project's Odoo (models, fields)."""
    from connector.connections import connection_params
    from connector.odoo import make_client

    box = SecretBox.from_settings(current_app.config["SETTINGS"])
    client = make_client(**connection_params(connection, box))
    try:
        return odoo_problems(client, [(("_",), spec)])
    finally:
        client.close()


def new_trigger(session: Session, task: Task, kind: str, name: str) -> Trigger:
    """A checked, not yet added trigger of ``task`` (:class:`Refused` says what is wrong)."""
    if kind not in TRIGGER_KINDS:
        raise Refused(f"The kind of a trigger is one of {', '.join(TRIGGER_KINDS)}, "
                      f"not {kind!r}.")
    if not name:
        raise Refused("A trigger needs a trigger name, e.g. ON_PARTNER_CREATED.")
    if not TRIGGER_NAME_RE.match(name) or len(name) > NAME_LENGTH:
        raise Refused(f"A trigger name is an identifier of at most {NAME_LENGTH} characters, "
                      f"e.g. ON_PARTNER_CREATED; got {name!r}.")
    taken = session.scalar(select(Trigger.id).where(Trigger.project_id == task.project_id,
                                                    Trigger.trigger_name == name))
    if taken is not None:
        raise Refused(f"This project already has a trigger named {name}; trigger names are "
                      "unique in a project (task code refers to them).")
    row = Trigger(kind=kind, trigger_name=name, project_id=task.project_id, task_id=task.id,
                  active=True)
    fill_trigger(session, row, form_item(kind, name))
    return row


def _add_trigger(task_id: int, kind: str, name: str) -> int:
    """Insert the submitted trigger; its id."""
    try:
        with database().session() as session:
            row = new_trigger(session, get_or_404(session, Task, task_id), kind, name)
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:  # the same name was added meanwhile (unique per project)
        raise Refused(f"This project already has a trigger named {name}.") from None


@bp.post("/tasks/<int:task_id>/triggers")
@role_required("developer")
def create_trigger(task_id: int) -> Any:
    """Add a trigger of any kind to a task, with the fields of its kind."""
    kind = request.form.get("kind", "")
    name = request.form.get("trigger_name", "").strip()
    try:
        trigger_id = _add_trigger(task_id, kind, name)
    except Refused as exc:
        flash(str(exc), "error")
        typed: dict[str, Any] = request.form.to_dict()
        typed["watched_fields"] = split_names(request.form.getlist("watched_fields"))
        return render_task(task_id, status=400, trigger_form=typed)
    flash(f"{KIND_LABELS[kind]} trigger {name} added.", "info")
    return redirect(url_for("dashboard.trigger", trigger_id=trigger_id))


def wake_dispatcher() -> None:
    """Have a dispatcher in this process send new jobs now rather than at its next cycle.

    Only ``syncstudio run`` has one; elsewhere the poller process's dispatcher finds pending
    jobs by itself within its interval.
    """
    wake = current_app.extensions["syncstudio.worker"].wake_dispatcher
    if wake is not None:
        wake()


@bp.post("/triggers/<int:trigger_id>/run")
@role_required("developer")
def run_now(trigger_id: int) -> Any:
    """Queue a job of a button or cron trigger and show its page, which follows it live."""
    with database().session() as session:
        row = get_or_404(session, Trigger, trigger_id)
        if row.kind not in ("button", "cron"):
            abort(400)
        args = [row.data] if row.kind == "button" and row.data is not None else []
        # Pending, as the scheduler records jobs: the dispatcher sends it to a worker, so the
        # request returns at once however long the handler takes.
        job_id = jobs.record_trigger_job(session, row, args=args, user=current_user.login).id
    wake_dispatcher()  # after the commit, or the dispatcher could look before the row exists
    flash(f"Job {job_id} queued; this page follows it until it ends.", "info")
    return redirect(url_for("dashboard.job", job_id=job_id))
