"""Projects created, imported, exported and deleted from the dashboard.

An import shows its plan (what it creates, changes, deletes and keeps) before anything is
written; applying re-computes the plan and goes ahead only when it is still the one shown.
A Developer may import what Developers may write (tasks, triggers, params, common code); a plan
that touches protected code, secrets, the Odoo connection or the project's settings needs a
Manager. A file without ``protected_code`` keeps the stored protected code, so a file exported
by a Developer (who never sees protected code) imports back without clearing it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from connector.errors import CodeError, OdooError, ProjectFileError
from connector.projects import (
    FileData,
    Plan,
    ProjectImporter,
    dump_yaml,
    export_project,
    parse,
    validate,
)
from connector.schema import ProjectSpec, db_triggers, odoo_problems, raise_problems
from connector.store.crypto import SecretBox
from connector.store.models import Job, Link, Log, OdooConnection, Project, Task, Trigger
from webui.auth import has_role, role_required
from webui.dashboard import bp, database, get_or_404
from webui.dashboard import tasks as task_views  # the module: tasks imports projects, then us

NAME_LENGTH = 200  # the width of Project.name
MAX_FILE = 2 * 1024 * 1024  # characters of an uploaded project file
MANAGER_CHANGES = ("protected_code", "project settings")


def _box() -> SecretBox:
    return SecretBox.from_settings(current_app.config["SETTINGS"])


def _code_check(source: str, where: str, require_handler: bool) -> None:
    from worker.runtime import check_code

    check_code(source, where=where, require_handler=require_handler,
               allowlist=current_app.config["SETTINGS"].import_allowlist)


def _read(text: str, session: Any) -> tuple[FileData, ProjectSpec]:
    """The file's mapping and its validated project; a missing ``protected_code`` is the stored
    one. :class:`ProjectFileError` names what is wrong."""
    if len(text) > MAX_FILE:
        raise ProjectFileError(f"a project file has at most {MAX_FILE:,} characters")
    data = parse(text, source="the file")
    name = data.get("name")
    if "protected_code" not in data and isinstance(name, str):
        stored = session.scalar(select(Project.protected_code).where(Project.name == name))
        if stored:
            data.loaded.data["protected_code"] = data["protected_code"] = stored
    return data, validate(data)


def manager_reasons(plan: Plan, spec: ProjectSpec) -> list[str]:
    """What in ``plan`` only a Manager may do (empty: a Developer may apply it)."""
    reasons = [f"{c.action} {c.what}" for c in plan.changes
               if c.what in MANAGER_CHANGES or c.what.startswith("secret ")]
    if plan.new and spec.odoo is not None:
        reasons.append("+ an Odoo connection (odoo:)")
    if plan.new and spec.secrets:
        reasons.append("+ secrets")
    if plan.new and any(v is not None for v in spec.limits.model_dump().values()):
        reasons.append("+ job limits (limits:)")
    return reasons


def _odoo_warning(session: Any, spec: ProjectSpec) -> str | None:
    """The DB triggers checked against the project's stored Odoo: the refusal raises, a
    connection that cannot be reached is a warning (the poller checks again)."""
    from connector.connections import connection_params
    from connector.odoo import make_client

    triggers = db_triggers(spec)
    project = session.scalar(select(Project).where(Project.name == spec.name))
    if not triggers or project is None or project.connection is None:
        return None
    try:
        client = make_client(**connection_params(project.connection, _box()))
        try:
            raise_problems(odoo_problems(client, triggers))
        finally:
            client.close()
    except OdooError as exc:
        return (f"DB triggers not checked against Odoo ({str(exc).splitlines()[0]}); the "
                "poller checks them and shows any refused one in error.")
    return None


def _plan_of(text: str, prune: bool) -> dict[str, Any]:
    """Everything the plan page shows; raises ProjectFileError/CodeError when refused."""
    with database().session() as session:
        data, spec = _read(text, session)
        importer = ProjectImporter(session, _box(), check_code=_code_check, environ={})
        plan = importer.plan(spec, prune=prune)
        warning = _odoo_warning(session, spec)
        # Applied and rolled back: code, secrets from the environment and the database's own
        # rules refuse now, before the plan is offered, rather than after "Apply".
        importer.apply(spec, prune=prune)
        session.rollback()
    rendered = plan.render()
    return {"plan": plan, "rendered": rendered, "summary": plan.summary(), "warning": warning,
            "digest": hashlib.sha256(rendered.encode()).hexdigest(),
            "needs_manager": [] if has_role("manager") else manager_reasons(plan, spec),
            "name": spec.name, "keeps_protected": "protected_code" not in parse(text)}


def _environment_hint(message: str) -> str:
    if "environment variable" in message:
        return (f"{message}. Values from the environment are read by `syncstudio project "
                "import` only; in the dashboard, list the secret by name and set its value on "
                "the project page.")
    return message


def _refused(text: str, prune: bool, message: str) -> Any:
    flash(_environment_hint(message), "error")
    return render_template("dashboard/import.html", text=text, prune=prune, result=None), 400


@bp.get("/projects/import")
@role_required("developer")
def import_form() -> Any:
    """Paste or upload a project file."""
    return render_template("dashboard/import.html", text="", prune=False, result=None)


def _submitted_text() -> str:
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        raw = upload.read(MAX_FILE * 4 + 1)
        try:
            return raw.decode("utf-8").replace("\r\n", "\n")
        except UnicodeDecodeError:
            raise ProjectFileError("the file is not UTF-8 text") from None
    return request.form.get("text", "").replace("\r\n", "\n")


@bp.post("/projects/import")
@role_required("developer")
def import_plan() -> Any:
    """Show what importing the file would change; nothing is written."""
    prune = request.form.get("prune") == "on"
    try:
        text = _submitted_text()
        result = _plan_of(text, prune)
    except (ProjectFileError, CodeError) as exc:
        return _refused(locals().get("text", ""), prune, str(exc))
    return render_template("dashboard/import.html", text=text, prune=prune, result=result)


@bp.post("/projects/import/apply")
@role_required("developer")
def import_apply() -> Any:
    """Apply the plan shown, if it is still what the import would do."""
    text = request.form.get("text", "").replace("\r\n", "\n")
    prune = request.form.get("prune") == "on"
    try:
        result = _plan_of(text, prune)
    except (ProjectFileError, CodeError) as exc:
        return _refused(text, prune, str(exc))
    if result["needs_manager"]:
        abort(403)
    if result["digest"] != request.form.get("digest"):
        flash("The project changed since this plan was shown; here is the plan now.", "error")
        return render_template("dashboard/import.html", text=text, prune=prune,
                               result=result), 409
    try:
        with database().session() as session:
            _data, spec = _read(text, session)
            project = ProjectImporter(session, _box(), check_code=_code_check,
                                      environ={}).apply(spec, prune=prune)
            project_id = project.id
    except (ProjectFileError, CodeError) as exc:
        return _refused(text, prune, str(exc))
    flash(f"Imported {result['summary']}.", "info")
    return redirect(url_for("dashboard.project", project_id=project_id))


@bp.get("/projects/<int:project_id>/export")
@role_required("user")
def export(project_id: int) -> Any:
    """The project as a YAML file (secret names only; protected code for Managers only)."""
    with database().session() as session:
        project = get_or_404(session, Project, project_id)
        data = export_project(project)
        name = project.name
    head = f"# Sync Studio project {name!r}, exported by {current_user.login}\n"
    if not has_role("manager"):
        data.pop("protected_code", None)
        head += ("# protected_code is left out (Managers only); importing this file keeps the "
                 "stored protected code.\n")
    filename = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "project"
    return Response(head + dump_yaml(data), mimetype="application/x-yaml", headers={
        "Content-Disposition": f'attachment; filename="{filename}.yaml"'})


@bp.post("/projects")
@role_required("developer")
def create_project() -> Any:
    """A new, empty project; choosing its Odoo connection is for Managers."""
    name = request.form.get("name", "").strip()
    connection_id = request.form.get("connection_id", "")
    if connection_id and not has_role("manager"):
        abort(403)
    if not name or len(name) > NAME_LENGTH:
        flash(f"A project needs a name of at most {NAME_LENGTH} characters.", "error")
        return redirect(url_for("dashboard.projects"))
    with database().session() as session:
        if session.scalar(select(Project.id).where(Project.name == name)) is not None:
            flash(f"A project named {name} exists already.", "error")
            return redirect(url_for("dashboard.projects"))
        project = Project(name=name, active=True)
        if connection_id:
            project.connection = get_or_404(session, OdooConnection, int(connection_id)) \
                if connection_id.isdigit() else None
        session.add(project)
        session.flush()
        project_id = project.id
    flash(f"Project {name} created; add a task to it.", "info")
    return redirect(url_for("dashboard.project", project_id=project_id))


@bp.post("/projects/<int:project_id>/connection")
@role_required("manager")
def set_connection(project_id: int) -> Any:
    """Choose the project's Odoo connection (or none)."""
    choice = request.form.get("connection_id", "")
    with database().session() as session:
        project = get_or_404(session, Project, project_id)
        project.connection = get_or_404(session, OdooConnection, int(choice)) \
            if choice.isdigit() else None
        flash(f"{project.name} now uses "
              f"{project.connection.name if project.connection else 'no connection'}.", "info")
    return redirect(url_for("dashboard.project", project_id=project_id))


def deletion_counts(session: Any, project_id: int) -> dict[str, int]:
    """What deleting the project takes with it."""
    def count(model: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(
            model.project_id == project_id)) or 0)
    return {"tasks": count(Task), "triggers": count(Trigger), "jobs": count(Job),
            "log lines": count(Log), "links": count(Link)}


@bp.get("/projects/<int:project_id>/delete")
@role_required("manager")
def confirm_delete(project_id: int) -> Any:
    """Say what deleting the project removes, and ask for its name."""
    with database().session() as session:
        project = get_or_404(session, Project, project_id)
        return render_template("dashboard/delete_project.html", project=project,
                               counts=deletion_counts(session, project_id))


@bp.post("/projects/<int:project_id>/delete")
@role_required("manager")
def delete_project(project_id: int) -> Any:
    """Delete the project with its tasks, triggers, params, secrets, jobs, logs and links."""
    with database().session() as session:
        project = get_or_404(session, Project, project_id)
        name = project.name
        if request.form.get("confirm_name", "").strip() != name:
            flash(f"Type the project's name, {name}, to delete it.", "error")
            return redirect(url_for("dashboard.confirm_delete", project_id=project_id))
        refusal = task_views.release_jobs(session, Job.project_id == project_id, f"Project {name}")
        if refusal is None:
            session.delete(project)
    if refusal is not None:
        flash(refusal, "error")
        return redirect(url_for("dashboard.project", project_id=project_id))
    flash(f"Project {name} deleted with its jobs and logs.", "info")
    return redirect(url_for("dashboard.projects"))
