"""The poll loop: asks Odoo what changed and records jobs, one watched model at a time.

The loop is thin: the decisions live in the pure modules beside it. Cursor advance and job rows
are written in one transaction (the outbox), so a crash never loses or doubles a change. When Odoo
is down the poller backs off exponentially, logs the outage once, and resumes from the cursor.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import logging
import threading
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector import jobs
from connector.connections import ClientPool
from connector.detection.creation import CreationCursor, batches, domain_since, new_records
from connector.errors import OdooError
from connector.odoo import OdooClient
from connector.store.db import Database
from connector.store.models import PollCursor, Project, Task, Trigger

logger = logging.getLogger("syncstudio.poller")

#: Conditions the creation detector serves; the others come with the full engine.
CREATION_CONDITIONS = ("create", "create_or_write")
PAGE_SIZE = 2000


@dataclasses.dataclass
class PollReport:
    """What one cycle did: models polled, jobs recorded, models that failed."""

    models: int = 0
    jobs: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)


def backoff_delay(failures: int, base: float, cap: float = 60.0) -> float:
    """Seconds to wait after ``failures`` failed cycles in a row: doubling, capped."""
    if failures <= 0:
        return base
    return min(cap, base * (2 ** min(failures, 16)))


class Poller:
    """Polls every (connection, model) watched by an active DB trigger."""

    def __init__(self, db: Database, pool: ClientPool, *, batch_size: int = 200,
                 interval: float = 1.0, on_jobs: Any = None) -> None:
        self.db = db
        self.pool = pool
        self.batch_size = batch_size
        self.interval = interval
        self.on_jobs = on_jobs  # called after jobs were committed (to dispatch them at once)
        self.failures = 0
        self._outage: str | None = None

    def watched(self, session: Session) -> dict[tuple[int, str], list[Trigger]]:
        """Active creation triggers of active tasks and projects, by (connection, model)."""
        query = (
            select(Trigger, Project.connection_id)
            .join(Task, Trigger.task_id == Task.id)
            .join(Project, Trigger.project_id == Project.id)
            .where(Trigger.kind == "db", Trigger.active.is_(True), Task.active.is_(True),
                   Project.active.is_(True), Project.connection_id.is_not(None),
                   Trigger.condition.in_(CREATION_CONDITIONS))
            .order_by(Trigger.id)
        )
        groups: dict[tuple[int, str], list[Trigger]] = defaultdict(list)
        for trigger, connection_id in session.execute(query):
            groups[(connection_id, trigger.model)].append(trigger)
        return groups

    def run_once(self) -> PollReport:
        """Poll each watched model once; errors of one connection do not stop the others."""
        report = PollReport()
        with self.db.session() as session:
            groups = self.watched(session)
        for (connection_id, model), triggers in groups.items():
            report.models += 1
            try:
                report.jobs += self._poll_model(connection_id, model, triggers)
            except OdooError as exc:
                report.errors.append(f"{model}: {exc}")
        self._note_outage(report)
        if report.jobs and self.on_jobs is not None:
            self.on_jobs()
        return report

    def _note_outage(self, report: PollReport) -> None:
        # One log line per outage, not one per cycle: operators read these logs.
        if report.errors:
            self.failures += 1
            if self._outage is None:
                self._outage = report.errors[0]
                logger.warning("Odoo unavailable, backing off: %s", self._outage)
        else:
            if self._outage is not None:
                logger.warning("Odoo reachable again after %d failed cycles", self.failures)
            self._outage = None
            self.failures = 0

    def _poll_model(self, connection_id: int, model: str, triggers: list[Trigger]) -> int:
        with self.db.session() as session:
            cursor_row = session.scalar(select(PollCursor).where(
                PollCursor.connection_id == connection_id, PollCursor.model == model))
            project = session.get(Project, triggers[0].project_id)
            assert project is not None and project.connection is not None
            client = self.pool.get(project.connection)
            if cursor_row is None:
                cursor_row = PollCursor(connection_id=connection_id, model=model)
                cursor_row.state_json = json.dumps(self._initial_cursor(client, model).to_state())
                session.add(cursor_row)
                return 0
            cursor = CreationCursor.from_state(json.loads(cursor_row.state_json or "{}"))
            rows = client.search_read(model, domain_since(cursor), ["id", "create_date"],
                                      order="create_date asc, id asc", limit=PAGE_SIZE)
            new_ids, advanced = new_records(rows, cursor)
            if not new_ids:
                return 0
            count = 0
            for trigger in triggers:
                ids = self._matching(client, trigger, new_ids)
                for chunk in batches(ids, self.batch_size):
                    jobs.record_trigger_job(session, trigger, args=[model, chunk])
                    count += 1
            cursor_row.state_json = json.dumps(advanced.to_state())
            cursor_row.last_write_date = advanced.last
            return count

    def _initial_cursor(self, client: OdooClient, model: str) -> CreationCursor:
        # Records that exist when a trigger is first activated are not "created" events.
        newest = client.search_read(model, [], ["id", "create_date"],
                                    order="create_date desc, id desc", limit=1)
        if not newest:
            return CreationCursor()
        same_second = client.search_read(model, [("create_date", ">=", newest[0]["create_date"])],
                                         ["id", "create_date"])
        _ids, cursor = new_records(same_second, CreationCursor())
        return cursor

    def _matching(self, client: OdooClient, trigger: Trigger, ids: list[int]) -> list[int]:
        if not trigger.domain:
            return ids
        domain = [("id", "in", ids), *ast.literal_eval(trigger.domain)]
        return sorted(client.search(trigger.model or "", domain))

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, waiting ``interval`` (or the back-off) between cycles."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # the poller must survive anything; the cause goes to the log
                logger.exception("poll cycle failed")
                self.failures += 1
            stop.wait(backoff_delay(self.failures, self.interval))
