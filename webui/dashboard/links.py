"""Links between Odoo records and external objects."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from sqlalchemy import select

from connector.store.models import Link, Project
from webui.auth import role_required
from webui.dashboard import bp, database

LIMIT = 500


@bp.get("/links")
@role_required("user")
def links() -> Any:
    """The latest links, optionally of one project and relation."""
    project_id = request.args.get("project", type=int)
    relation = request.args.get("relation", "").strip()
    query = select(Link).order_by(Link.id.desc()).limit(LIMIT)
    if project_id:
        query = query.where(Link.project_id == project_id)
    if relation:
        query = query.where(Link.relation == relation)
    with database().session() as session:
        projects = dict(session.execute(select(Project.id, Project.name)
                                        .order_by(Project.name)).all())
        return render_template("dashboard/links.html", links=list(session.scalars(query)),
                               projects=projects, project_id=project_id, relation=relation,
                               limit=LIMIT)
