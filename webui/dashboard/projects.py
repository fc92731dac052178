"""Projects: list and detail; params (Developer+), secrets (values: Manager only, never shown),
protected code (Manager only), common code (Developer+)."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from connector import installation
from connector.errors import CodeError
from connector.store.crypto import SecretBox
from connector.store.models import (
    Job,
    OdooConnection,
    Project,
    ProjectParam,
    ProjectSecret,
    ProjectText,
    Task,
    Trigger,
)
from webui.auth import has_role, role_required
from webui.dashboard import bp, database, get_or_404

RECENT_JOBS = 20


@bp.get("/projects")
@role_required("user")
def projects() -> Any:
    """Every project with its task count."""
    with database().session() as session:
        counts = dict(session.execute(
            select(Task.project_id, func.count(Task.id)).group_by(Task.project_id)).all())
        rows = list(session.scalars(select(Project).order_by(Project.name)))
        connections = list(session.execute(select(OdooConnection.id, OdooConnection.name)
                                           .order_by(OdooConnection.name))) \
            if has_role("manager") else []
        return render_template("dashboard/projects.html", projects=rows, counts=counts,
                               connections=connections)


def webhook_url(token: str | None) -> str:
    """The full URL of a webhook trigger, as callers must use it: on the webhooks' own public
    origin when one is configured, else the installation's base URL (read once per request)."""
    if not token:
        return ""
    if "syncstudio_base_url" not in g:
        with database().session() as session:
            g.syncstudio_base_url = installation.base_url(session, current_app.config["SETTINGS"])
    return f"{g.syncstudio_base_url}/webhooks/{token}"


def render_project(project_id: int, *, status: int = 200, code_error: CodeError | None = None,
                   code_layer: str | None = None, submitted: str | None = None,
                   new_task: dict[str, str] | None = None) -> Any:
    """The project page (also re-shown with a refused code layer and its error, or with the
    fields of a refused new task)."""
    with database().session() as session:
        project = get_or_404(session, Project, project_id)
        triggers = list(session.scalars(select(Trigger).where(
            Trigger.project_id == project.id).order_by(Trigger.kind, Trigger.trigger_name)))
        jobs = list(session.scalars(select(Job).where(Job.project_id == project.id)
                                    .order_by(Job.id.desc()).limit(RECENT_JOBS)))
        return render_template(
            "dashboard/project.html", project=project, triggers=triggers, jobs=jobs,
            tasks={t.id: t for t in project.tasks}, webhook_url=webhook_url,
            task_names={t.id: t.name for t in project.tasks},
            trigger_names={t.id: t.trigger_name for t in triggers},
            code_error=code_error, code_layer=code_layer, submitted=submitted,
            new_task=new_task or {},
            connections=list(session.execute(select(OdooConnection.id, OdooConnection.name)
                                             .order_by(OdooConnection.name)))
            if has_role("manager") else []), status


@bp.get("/projects/<int:project_id>")
@role_required("user")
def project(project_id: int) -> Any:
    """One project: params, secrets, code layers, tasks, triggers and recent jobs."""
    return render_project(project_id)


@bp.post("/projects/<int:project_id>/params")
@role_required("developer")
def save_param(project_id: int) -> Any:
    """Add or change a param (an empty key is refused)."""
    key = request.form.get("key", "").strip()
    value = request.form.get("value", "")
    if not key or not key.isidentifier():
        flash("A param key must be a Python identifier, e.g. PARTNER_RELATION.", "error")
        return redirect(url_for("dashboard.project", project_id=project_id))
    with database().session() as session:
        proj = get_or_404(session, Project, project_id)
        found = next((p for p in proj.params if p.key == key), None)
        if found is None:
            proj.params.append(ProjectParam(key=key, value=value))
        else:
            found.value = value
    flash(f"Param {key} saved.", "info")
    return redirect(url_for("dashboard.project", project_id=project_id))


@bp.post("/projects/<int:project_id>/params/<int:param_id>/delete")
@role_required("developer")
def delete_param(project_id: int, param_id: int) -> Any:
    """Remove a param."""
    with database().session() as session:
        param = get_or_404(session, ProjectParam, param_id)
        if param.project_id != project_id:
            return redirect(url_for("dashboard.project", project_id=project_id))
        proj = get_or_404(session, Project, project_id)
        proj.params.remove(param)
        flash(f"Param {param.key} removed.", "info")
    return redirect(url_for("dashboard.project", project_id=project_id))


@bp.post("/projects/<int:project_id>/texts")
@role_required("developer")
def save_text(project_id: int) -> Any:
    """Add or change a multi-line text (``texts.KEY`` in task code)."""
    key = request.form.get("key", "").strip()
    # Browsers send a textarea's lines with CRLF; task code expects "\n" as in the file.
    value = request.form.get("value", "").replace("\r\n", "\n")
    if not key.isidentifier() or key.startswith("_"):
        flash("A text key must be a name such as WELCOME_MESSAGE (letters, digits, _; not "
              "starting with _ or a digit).", "error")
        return redirect(url_for("dashboard.project", project_id=project_id))
    with database().session() as session:
        proj = get_or_404(session, Project, project_id)
        found = next((t for t in proj.texts if t.key == key), None)
        if found is None:
            proj.texts.append(ProjectText(key=key, value=value))
        else:
            found.value = value
    flash(f"Text {key} saved.", "info")
    return redirect(url_for("dashboard.project", project_id=project_id) + "#texts")


@bp.post("/projects/<int:project_id>/texts/<int:text_id>/delete")
@role_required("developer")
def delete_text(project_id: int, text_id: int) -> Any:
    """Remove a text."""
    with database().session() as session:
        text = get_or_404(session, ProjectText, text_id)
        if text.project_id == project_id:
            proj = get_or_404(session, Project, project_id)  # held until the flush
            proj.texts.remove(text)
            flash(f"Text {text.key} removed.", "info")
    return redirect(url_for("dashboard.project", project_id=project_id) + "#texts")


@bp.post("/projects/<int:project_id>/secrets")
@role_required("manager")
def save_secret(project_id: int) -> Any:
    """Set a secret's value (encrypted at once; the page only ever says set/not set)."""
    key = request.form.get("key", "").strip()
    value = request.form.get("value", "")
    if not key or not key.isidentifier():
        flash("A secret name must be a Python identifier, e.g. API_TOKEN.", "error")
        return redirect(url_for("dashboard.project", project_id=project_id))
    box = SecretBox.from_settings(current_app.config["SETTINGS"])
    with database().session() as session:
        proj = get_or_404(session, Project, project_id)
        found = next((s for s in proj.secrets if s.key == key), None)
        if found is None:
            found = ProjectSecret(key=key)
            proj.secrets.append(found)
        found.value_enc = box.encrypt(value) if value else None
    flash(f"Secret {key} {'set' if value else 'cleared'}.", "info")
    return redirect(url_for("dashboard.project", project_id=project_id))


@bp.post("/projects/<int:project_id>/code/<layer>")
@role_required("developer")
def save_code(project_id: int, layer: str) -> Any:
    """Save the common (Developer+) or protected (Manager) code after the save-time check."""
    from worker.runtime import check_code

    if layer not in ("common", "protected"):
        abort(404)
    if not has_role("manager" if layer == "protected" else "developer"):
        abort(403)
    source = request.form.get("code", "").replace("\r\n", "\n")
    try:
        check_code(source, where=layer,
                   allowlist=current_app.config["SETTINGS"].import_allowlist)
    except CodeError as exc:
        return render_project(project_id, status=400, code_error=exc, code_layer=layer,
                              submitted=source)
    with database().session() as session:
        proj = get_or_404(session, Project, project_id)
        if layer == "protected":
            proj.protected_code = source
        else:
            proj.common_code = source
    flash(f"{layer.capitalize()} code saved.", "info")
    return redirect(url_for("dashboard.project", project_id=project_id))


# Creating, importing, exporting and deleting projects register their views on import.
from webui.dashboard import project_files  # noqa: E402, F401
