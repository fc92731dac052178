"""Links between Odoo records and external objects, with names where ids were stored: an Odoo
record is named from the poller's snapshot when it holds one, the default external system is
called "external", and projects by their name."""

from __future__ import annotations

import json
from typing import Any

from flask import render_template, request
from sqlalchemy import select, tuple_

from connector.links import EXTERNAL, ODOO
from connector.store.models import Link, Project, RecordSnapshot
from webui.auth import role_required
from webui.dashboard import bp, database

LIMIT = 500
SYSTEM_NAMES = {EXTERNAL: "external", ODOO: "Odoo"}


def system_name(system: str) -> str:
    """How a side's system is shown: the product's internal keys get plain names."""
    return SYSTEM_NAMES.get(system, system)


def _record_names(session: Any, links: list[Link],
                  connections: dict[int, int | None]) -> dict[tuple[int, str, str], str]:
    """(project id, model, record id) → the record's name, from the snapshots the poller
    keeps (only records a DB trigger watches have one; the others stay unnamed)."""
    wanted = {(connections.get(link.project_id), link.odoo_model, int(link.ref1))
              for link in links if link.odoo_model and link.ref1.isdigit()
              and connections.get(link.project_id)}
    if not wanted:
        return {}
    found: dict[tuple[int | None, str | None, int], str] = {}
    rows = session.execute(select(RecordSnapshot.connection_id, RecordSnapshot.model,
                                  RecordSnapshot.record_id, RecordSnapshot.values_json)
                           .where(tuple_(RecordSnapshot.connection_id, RecordSnapshot.model,
                                         RecordSnapshot.record_id).in_(list(wanted))))
    for conn_id, model, record_id, values_json in rows:
        try:
            values = json.loads(values_json or "{}")
        except ValueError:
            continue
        name = values.get("display_name") or values.get("name")
        if isinstance(name, str) and name:
            found[(conn_id, model, record_id)] = name
    return {(link.project_id, link.odoo_model or "", link.ref1): found[key]
            for link in links
            if link.odoo_model and link.ref1.isdigit()
            and (key := (connections.get(link.project_id), link.odoo_model,
                         int(link.ref1))) in found}


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
        connections = dict(session.execute(select(Project.id, Project.connection_id)).all())
        rows = list(session.scalars(query))
        names = _record_names(session, rows, connections)
        return render_template("dashboard/links.html", links=rows, projects=projects,
                               project_id=project_id, relation=relation, limit=LIMIT,
                               names=names, system_name=system_name)
