"""Triggers of the four kinds: details, webhook URL regeneration and "Run now" for buttons and
cron, which records a job and runs it in this process (as ``syncstudio trigger run`` does)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from connector import jobs
from connector.projects import new_webhook_token
from connector.store.models import Trigger
from webui.auth import role_required
from webui.dashboard import bp, database, get_or_404
from webui.dashboard.projects import webhook_url


@bp.get("/triggers/<int:trigger_id>")
@login_required
def trigger(trigger_id: int) -> Any:
    """One trigger with every field of its kind."""
    with database().session() as session:
        row = get_or_404(session, Trigger, trigger_id)
        data = None
        if row.kind == "button" and row.data_json:
            data = json.dumps(row.data, indent=2, ensure_ascii=False)
        return render_template("dashboard/trigger.html", trigger=row, task=row.task,
                               project=row.task.project, webhook_url=webhook_url, data=data)


@bp.post("/triggers/<int:trigger_id>/active")
@role_required("developer")
def toggle_trigger(trigger_id: int) -> Any:
    """Enable or disable a trigger."""
    with database().session() as session:
        row = get_or_404(session, Trigger, trigger_id)
        row.active = not row.active
        flash(f"{row.trigger_name} {'enabled' if row.active else 'disabled'}.", "info")
    return redirect(url_for("dashboard.trigger", trigger_id=trigger_id))


@bp.post("/triggers/<int:trigger_id>/data")
@role_required("developer")
def save_button_data(trigger_id: int) -> Any:
    """Change a button's data (JSON or YAML; empty: none)."""
    text = request.form.get("data", "").strip()
    try:
        value = yaml.safe_load(text) if text else None
        encoded = json.dumps(value) if value is not None else None
    except (yaml.YAMLError, TypeError, ValueError) as exc:
        flash(f"The data is neither JSON nor YAML: {exc}", "error")
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


@bp.post("/triggers/<int:trigger_id>/run")
@role_required("developer")
def run_now(trigger_id: int) -> Any:
    """Run a button or cron trigger now, here, and show its job and logs."""
    from worker.executor import execute

    with database().session() as session:
        row = get_or_404(session, Trigger, trigger_id)
        if row.kind not in ("button", "cron"):
            abort(400)
        args = [row.data] if row.kind == "button" and row.data is not None else []
        job = jobs.record_trigger_job(session, row, args=args, user=current_user.login)
        job.state = "enqueued"  # it runs right here: a running dispatcher must not send it too
        job_id = job.id
    outcome = execute(current_app.extensions["syncstudio.worker"], job_id)
    state = outcome.state if outcome else "not run"
    flash(f"Job {job_id} ran: {state}.", "error" if state == "failed" else "info")
    return redirect(url_for("dashboard.job", job_id=job_id))
