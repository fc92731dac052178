"""What the trigger forms show: the values of a trigger as its form fields, the pickers of a
DB trigger (models and fields from the connection's Odoo), and where a DB trigger's snapshot
stands."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from flask import url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connector.store.models import PollCursor, Project, RecordSnapshot, Trigger
from webui.dashboard import catalog


@dataclass
class Picker:
    """The choices of a DB trigger form; ``error`` says why Odoo could not list them."""

    models: list[tuple[str, str]] = field(default_factory=list)
    fields: list[catalog.Field] = field(default_factory=list)
    model: str = ""
    error: str | None = None
    fields_url: str = ""


def picker(project: Project, model: str = "") -> Picker:
    """The models of ``project``'s Odoo and, when ``model`` is given, its fields."""
    found = Picker(model=model)
    conn = project.connection
    if conn is None:
        found.error = ("This project has no Odoo connection: type the model and field names; "
                       "they are checked against Odoo once it has one.")
        return found
    found.fields_url = url_for("dashboard.odoo_fields", project_id=project.id)
    try:
        found.models = catalog.models(conn)
        if model:
            found.fields = catalog.fields(conn, model)
    except catalog.Unavailable as exc:
        found.error = (f"Odoo cannot be asked for models and fields ({exc}); type the names: "
                       "they are checked when the trigger is saved.")
    return found


def split_names(values: list[str]) -> list[str]:
    """Field names from a multiple choice or from text separated by commas or spaces."""
    return [name for value in values for name in value.replace(",", " ").split()]


def form_values(row: Trigger) -> dict[str, Any]:
    """The trigger's settings as the values of its edit form."""
    values: dict[str, Any] = {"kind": row.kind, "trigger_name": row.trigger_name,
                              "form_id": f"t{row.id}"}
    if row.kind == "cron":
        values.update(interval=str(row.interval or 1), interval_unit=row.interval_unit or "days",
                      scheduler_user=row.scheduler_user or "",
                      next_run_at=row.next_run_at.isoformat(timespec="seconds")
                      if row.next_run_at else "")
    elif row.kind == "db":
        values.update(model=row.model or "", condition=row.condition or "create",
                      domain=row.domain or "", before_domain=row.before_domain or "",
                      watched_fields=row.watched_fields, date_field=row.date_field or "",
                      delay=str(row.delay if row.delay is not None else 1),
                      delay_unit=row.delay_unit or "days", when=row.when or "after")
    elif row.kind == "webhook":
        values["type"] = row.webhook_type or "json"
    elif row.kind == "button":
        values["data"] = json.dumps(row.data, indent=2, ensure_ascii=False) \
            if row.data_json else ""
    return values


@dataclass
class SnapshotState:
    """Where detection of a DB trigger's model stands, as the poller saved it."""

    records: int
    ready: bool
    full: bool
    polled_at: Any

    @property
    def text(self) -> str:
        """One line for the trigger page."""
        if not self.ready and self.records:
            return (f"building: {self.records:,} record(s) stored so far; the trigger fires "
                    "on changes made after the build ends")
        if not self.ready:
            return "not started: the poller takes the baseline at its next cycle"
        if self.full:
            return f"ready: {self.records:,} record(s) in the snapshot"
        return "ready: baseline taken, no full snapshot needed by this model's triggers"


def snapshot_state(session: Session, row: Trigger, connection_id: int | None) -> \
        SnapshotState | None:
    """The saved detection state of ``row``'s model (None: not a DB trigger or no Odoo)."""
    if row.kind != "db" or connection_id is None or not row.model:
        return None
    cursor = session.scalar(select(PollCursor).where(PollCursor.connection_id == connection_id,
                                                     PollCursor.model == row.model))
    records = session.scalar(select(func.count()).select_from(RecordSnapshot).where(
        RecordSnapshot.connection_id == connection_id, RecordSnapshot.model == row.model)) or 0
    state: dict[str, Any] = {}
    if cursor is not None and cursor.state_json:
        try:
            state = json.loads(cursor.state_json)
        except ValueError:
            state = {}
    return SnapshotState(records=int(records), ready=bool(state.get("ready")),
                         full=bool(state.get("full")),
                         polled_at=cursor.polled_at if cursor is not None else None)
