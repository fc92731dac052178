"""Running projects the way the product does, for the boundary tests: import a project file,
run one of its triggers through the worker (in a sandbox process), and read back what any
dashboard User can read of the job."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from connector import jobs
from connector.projects import ProjectImporter
from connector.store.crypto import SecretBox
from connector.store.models import Job, Log, Trigger
from tests.support import LocalApi
from worker.executor import WorkerContext, execute


class FakeApi(LocalApi):
    """A local HTTP API recording every request: ``/fail…`` answers 500, anything else 200."""

    def answer(self, request: dict[str, Any]) -> tuple[int, bytes]:
        status = 500 if request["path"].startswith("/fail") else 200
        return status, json.dumps({"ok": status == 200, "path": request["path"]}).encode()


def code_check(allowlist: tuple[str, ...]) -> Any:
    """The save-time check the CLI and the dashboard pass to the importer."""
    from worker.runtime import check_code

    def check(source: str, where: str, require_handler: bool) -> None:
        check_code(source, where=where, require_handler=require_handler, allowlist=allowlist)

    return check


def import_project(settings: Any, db: Any, data: Mapping[str, Any],
                   environ: Mapping[str, str] | None = None) -> None:
    """Import ``data`` (a project file's mapping) as `syncstudio project import` does."""
    with db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings),
                        check_code=code_check(settings.import_allowlist),
                        environ=environ or {}).import_data(data)


@dataclass
class Outcome:
    """A finished job as the dashboard shows it to a User."""

    state: str
    error: str
    traceback: str
    result: Any
    logs: list[str]

    @property
    def readable(self) -> str:
        """Every text of the job a User can read, in one string."""
        return "\n".join([self.state, self.error, self.traceback, json.dumps(self.result),
                          *self.logs])


def run_trigger(settings: Any, db: Any, project: str, trigger_name: str,
                args: tuple[Any, ...] = ()) -> Outcome:
    """Record a job for ``trigger_name`` of ``project`` and run it in a sandbox process."""
    from connector.store.models import Project

    ctx = WorkerContext.from_settings(settings, db)
    try:
        with db.session() as session:
            trigger = session.scalar(
                select(Trigger).join(Project, Project.id == Trigger.project_id)
                .where(Project.name == project, Trigger.trigger_name == trigger_name))
            assert trigger is not None, trigger_name
            job_id = jobs.record_trigger_job(session, trigger, args=args, user="dev").id
        execute(ctx, job_id)
        with db.session() as session:
            job = session.get(Job, job_id)
            assert job is not None
            logs = [line.message for line in session.scalars(
                select(Log).where(Log.job_id == job_id).order_by(Log.id))]
            return Outcome(job.state, job.error or "", job.traceback or "",
                           json.loads(job.result_json) if job.result_json else None, logs)
    finally:
        ctx.pool.close()


def button_project(name: str, odoo_sim: Any, protected: str, task: str, *,
                   secrets: Mapping[str, str] | None = None,
                   params: Mapping[str, str] | None = None,
                   common: str = "") -> dict[str, Any]:
    """A project whose one task runs ``handle_button`` on the button ``GO``."""
    return {
        "name": name,
        "odoo": {"url": odoo_sim.url, "database": odoo_sim.database, "login": "admin",
                 "password": "admin"},
        "params": dict(params or {}),
        "secrets": {key: f"${{{key}}}" for key in (secrets or {})},
        "protected_code": protected,
        "common_code": common,
        "tasks": [{"name": "Developer's task", "code": task,
                   "triggers": {"button": [{"trigger_name": "GO"}]}}],
    }
