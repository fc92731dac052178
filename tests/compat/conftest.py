"""The compatibility suite's harness: task snippets run the way the product runs them.

One package-wide installation (a temporary home, a migrated SQLite own database, a worker
context, the dashboard app for webhooks) and the session's Odoo simulator serve every snippet.
A snippet is imported as the task of one project (re-imported with each new code, as
`syncstudio project import` does; the importer's save-time code check runs), then one of its
triggers' jobs is recorded and executed by the real worker code in a warm sandbox process.
Sub-jobs the snippet adds are executed after it, depth first, so a snippet's whole tree runs.
"""

from __future__ import annotations

import json
import textwrap
import xmlrpc.client
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connector import jobs
from connector.projects import ProjectImporter
from connector.schema.checks import defined_handlers
from connector.settings import Settings
from connector.store import migrate
from connector.store.crypto import SecretBox
from connector.store.db import Database
from connector.store.models import Job, Link, Log, Project, Trigger
from worker.executor import WorkerContext, execute

PROJECT = "Compat snippets"
#: The trigger each handler is imported with (a button, a cron, a JSON webhook, a DB trigger).
TRIGGERS = {
    "handle_button": ("button", {"trigger_name": "GO"}),
    "handle_cron": ("cron", {"trigger_name": "EVERY_HOUR", "interval": 1,
                             "interval_unit": "hours"}),
    "handle_webhook": ("webhook", {"trigger_name": "INCOMING", "type": "json"}),
    "handle_db": ("db", {"trigger_name": "ON_PARTNER", "model": "res.partner",
                         "condition": "create"}),
}


def code_check(allowlist: tuple[str, ...]) -> Any:
    """The save-time check the CLI and the dashboard hand to the importer."""
    from worker.runtime import check_code

    def check(source: str, where: str, require_handler: bool) -> None:
        check_code(source, where=where, require_handler=require_handler, allowlist=allowlist)

    return check


@dataclass
class Run:
    """A finished job as the own database holds it, with the sub-jobs it added (run too)."""

    job_id: int
    state: str
    error: str
    traceback: str
    result: Any
    logs: list[tuple[str, str, str]]  # (level, type, message)
    function: str
    args: list[Any]
    kwargs: dict[str, Any]
    subjobs: list[Run] = field(default_factory=list)

    def lines(self, level: str | None = None, type: str | None = None) -> list[str]:
        """The messages of this job's log lines, optionally of one level or type only."""
        return [message for lvl, kind, message in self.logs
                if (level is None or lvl == level) and (type is None or kind == type)]

    def ok(self) -> Run:
        """This run, asserting it (and each sub-job) ended done."""
        assert self.state in ("done", "done_warnings"), (self.state, self.error, self.traceback)
        for sub in self.subjobs:
            sub.ok()
        return self

    def tree(self) -> list[Run]:
        """This run and every sub-job below it, depth first."""
        return [self] + [run for sub in self.subjobs for run in sub.tree()]


class Odoo:
    """Direct XML-RPC access to the simulator, for a snippet's setup and its checks."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.models = xmlrpc.client.ServerProxy(f"{sim.url}/xmlrpc/2/object", allow_none=True)

    def call(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``execute_kw`` as admin."""
        return self.models.execute_kw(self.sim.database, 2, "admin", model, method, list(args),
                                      kwargs)

    def create(self, model: str, values: Mapping[str, Any]) -> int:
        """The id of a new record."""
        return self.call(model, "create", dict(values))

    def read(self, model: str, ids: int | list[int], fields: list[str]) -> Any:
        """``read`` rows; one row when ``ids`` is one id."""
        rows = self.call(model, "read", [ids] if isinstance(ids, int) else ids, fields)
        return rows[0] if isinstance(ids, int) else rows


class Compat:
    """Runs snippets as tasks of one project in one installation."""

    def __init__(self, settings: Settings, db: Database, sim: Any) -> None:
        self.settings = settings
        self.db = db
        self.sim = sim
        self.odoo = Odoo(sim)
        self.ctx = WorkerContext.from_settings(settings, db)
        self.box = SecretBox.from_settings(settings)
        self._app: Any = None
        self.counter = 0

    # -- set-up --------------------------------------------------------------------------
    def project(self, code: str, *, params: Mapping[str, Any] | None = None,
                secrets: Mapping[str, str] | None = None, protected: str = "",
                common: str = "", texts: Mapping[str, str] | None = None,
                triggers: Mapping[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
        """The project-file mapping of a snippet: its handlers' triggers, params, layers."""
        code = textwrap.dedent(code).strip() + "\n"
        found: dict[str, list[dict[str, Any]]] = {}
        for handler in sorted((defined_handlers(code) or set()) & set(TRIGGERS)):
            kind, trigger = TRIGGERS[handler]
            found.setdefault(kind, []).append(dict(trigger))
        for kind, items in (triggers or {}).items():
            found[kind] = [dict(item) for item in items]
        data: dict[str, Any] = {
            "name": PROJECT,
            "odoo": {"url": self.sim.url, "database": self.sim.database, "login": "admin",
                     "password": "admin"},
            "params": dict(params or {}),
            "secrets": {key: f"${{COMPAT_{key}}}" for key in (secrets or {})},
            "protected_code": textwrap.dedent(protected),
            "common_code": textwrap.dedent(common),
            "tasks": [{"name": "Snippet", "code": code, "triggers": found}],
        }
        if texts is not None:
            data["texts"] = dict(texts)
        return data

    def install(self, code: str, **options: Any) -> None:
        """Import the snippet's project (save-time checks included); raises what they raise."""
        secrets = options.get("secrets") or {}
        environ = {f"COMPAT_{key}": value for key, value in secrets.items()}
        with self.db.session() as session:
            ProjectImporter(session, self.box,
                            check_code=code_check(self.settings.import_allowlist),
                            environ=environ).import_data(self.project(code, **options),
                                                         prune=True)

    def trigger(self, name: str) -> Trigger:
        with self.db.session() as session:
            trigger = session.scalar(
                select(Trigger).join(Project, Project.id == Trigger.project_id)
                .where(Project.name == PROJECT, Trigger.trigger_name == name))
            assert trigger is not None, name
            session.expunge(trigger)
            return trigger

    # -- running ---------------------------------------------------------------------------
    def run_trigger(self, name: str, args: tuple[Any, ...] = (), *,
                    call_args: tuple[Any, ...] | None = None) -> Run:
        """Record a job of trigger ``name`` and execute it and its sub-jobs."""
        with self.db.session() as session:
            trigger = session.scalar(
                select(Trigger).join(Project, Project.id == Trigger.project_id)
                .where(Project.name == PROJECT, Trigger.trigger_name == name))
            assert trigger is not None, name
            job_id = jobs.record_trigger_job(session, trigger, args=args, user="compat").id
        execute(self.ctx, job_id, call_args=call_args)
        return self.finished(job_id)

    def finished(self, job_id: int) -> Run:
        """The job's row and logs; its pending sub-jobs are executed first, in id order."""
        with self.db.session() as session:
            children = list(session.scalars(
                select(Job.id).where(Job.parent_id == job_id, Job.state == "pending")
                .order_by(Job.id)))
        for child in children:
            execute(self.ctx, child)
        with self.db.session() as session:
            job = session.get(Job, job_id)
            assert job is not None
            logs = [(line.level, line.type, line.message) for line in session.scalars(
                select(Log).where(Log.job_id == job_id).order_by(Log.id))]
            subs = list(session.scalars(select(Job.id).where(Job.parent_id == job_id)
                                        .order_by(Job.id)))
            run = Run(job.id, job.state, job.error or "", job.traceback or "",
                      json.loads(job.result_json) if job.result_json else None, logs,
                      job.function, json.loads(job.args_json or "[]"),
                      json.loads(job.kwargs_json or "{}"))
        run.subjobs = [self.finished(sub) for sub in subs]
        return run

    def job(self, job_id: int) -> Job:
        """A job's row, detached."""
        with self.db.session() as session:
            row = session.get(Job, job_id)
            assert row is not None
            session.expunge(row)
            return row

    def button(self, code: str, data: Any = None, **options: Any) -> Run:
        """Run ``handle_button`` of ``code`` (with ``data`` when given)."""
        self.install(code, **options)
        return self.run_trigger("GO", (data,) if data is not None else ())

    def cron(self, code: str, **options: Any) -> Run:
        """Run ``handle_cron`` of ``code`` as the scheduler does."""
        self.install(code, **options)
        return self.run_trigger("EVERY_HOUR")

    def db_event(self, code: str, ids: list[int], model: str = "res.partner",
                 deleted: Mapping[int, Mapping[str, Any]] | None = None, **options: Any) -> Run:
        """Run ``handle_db`` of ``code`` on ``ids`` as the poller records it."""
        self.install(code, **options)
        args: list[Any] = [model, list(ids)]
        if deleted is not None:
            args.append({"deleted": {str(key): dict(value) for key, value in deleted.items()}})
        return self.run_trigger("ON_PARTNER", tuple(args))

    def value(self, body: str, **options: Any) -> Any:
        """The value a button handler whose body is ``body`` returns (the job must succeed)."""
        code = "def handle_button():\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ")
        return self.button(code, **options).ok().result

    # -- webhooks --------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._app is None:
            from webui import create_app

            self._app = create_app({"TESTING": True, "SETTINGS": self.settings,
                                    "DATABASE": self.db})
        return self._app.test_client()

    def webhook(self, code: str, method: str = "POST", *, kind: str = "json",
                path: str = "", **request: Any) -> Any:
        """Install ``code`` with a webhook of type ``kind`` and call its URL; the response."""
        options = {key: request.pop(key) for key in ("params", "secrets", "protected", "common")
                   if key in request}
        self.install(code, triggers={"webhook": [{"trigger_name": "INCOMING", "type": kind}]},
                     **options)
        token = self.trigger("INCOMING").token
        return self.client.open(f"/webhooks/{token}{path}", method=method, **request)

    def job_count(self) -> int:
        """How many jobs the own database holds."""
        with self.db.session() as session:
            return len(list(session.scalars(select(Job.id))))

    def last_job(self) -> Run:
        """The newest root job (a webhook's)."""
        with self.db.session() as session:
            job_id = session.scalar(select(Job.id).where(Job.parent_id.is_(None))
                                    .order_by(Job.id.desc()))
        assert job_id is not None
        return self.finished(job_id)

    # -- links -----------------------------------------------------------------------------
    def links(self, relation: str) -> list[Link]:
        """The stored links of ``relation``."""
        with self.db.session() as session:
            rows = list(session.scalars(select(Link).where(Link.relation == relation)
                                        .order_by(Link.id)))
            for row in rows:
                session.expunge(row)
            return rows

    def partner(self, name: str | None = None, **values: Any) -> int:
        """A new partner of the simulator, with a unique name unless one is given."""
        self.counter += 1
        return self.odoo.create("res.partner",
                                {"name": name or f"Compat partner {self.counter}", **values})


@pytest.fixture(scope="package")
def compat(tmp_path_factory: pytest.TempPathFactory, odoo_sim: Any) -> Iterator[Compat]:
    """The package's installation: settings, own database, worker context, simulator."""
    home: Path = tmp_path_factory.mktemp("compat-home")
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)})
    db = Database(settings.database_url)
    migrate.upgrade(db)
    harness = Compat(settings, db, odoo_sim)
    yield harness
    harness.ctx.pool.close()
    db.dispose()


@pytest.fixture
def odoo(compat: Compat) -> Odoo:
    """The simulator, over XML-RPC as admin."""
    return compat.odoo
