"""Projects as YAML files: import (validate, then create or update) and export.

The file format is SPEC §3's contract. Secret values never live in the file: a secret is a name,
or a name mapped to ``${ENV_NAME}``, which the import reads once and stores encrypted. Re-importing
a file updates the project in place: tasks are matched by name and triggers by ``trigger_name``, so
webhook tokens, cursors and job history survive.
"""

from __future__ import annotations

import json
import os
import re
import secrets as pysecrets
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.errors import CodeError, ProjectFileError
from connector.store.crypto import SecretBox
from connector.store.models import (
    DB_CONDITIONS,
    OdooConnection,
    Project,
    ProjectParam,
    ProjectSecret,
    Task,
    Trigger,
)

PROTOCOLS = ("jsonrpc", "jsonrpc+ssl", "xmlrpc", "xmlrpcs", "json2", "json2s")
INTERVAL_UNITS = ("minutes", "hours", "days", "weeks", "months")
DELAY_UNITS = ("minutes", "hours", "days", "months")
WEBHOOK_TYPES = ("json", "form")
LIMIT_KEYS = ("cpu_seconds", "memory_mb", "wall_seconds")
TRIGGER_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")

#: ``check(source, where, require_handler)``: the saving layer passes the sandbox policy's check.
CodeCheck = Callable[[str, str, bool], None]


def load_file(path: str) -> dict[str, Any]:
    """Read and parse a project file, with a one-line error for every way it can be wrong."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ProjectFileError(f"cannot read {path}: {exc.strerror}") from None
    return parse(text, source=path)


def parse(text: str, source: str = "<project>") -> dict[str, Any]:
    """Parse YAML text into the project mapping (not yet validated)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProjectFileError(f"{source}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ProjectFileError(f"{source}: a project file must be a mapping with a 'name' key")
    return data


def _env_value(value: Any, where: str, environ: Mapping[str, str]) -> str | None:
    """Resolve ``${ENV}`` from the environment; plain strings are taken as they are."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProjectFileError(f"{where}: must be a string")
    match = ENV_RE.match(value)
    if not match:
        return value
    name = match.group(1)
    if name not in environ:
        raise ProjectFileError(f"{where}: environment variable {name} is not set")
    return environ[name]


def _require(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in mapping or mapping[key] in (None, ""):
        raise ProjectFileError(f"{where}: '{key}' is required")
    return mapping[key]


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise ProjectFileError(f"{where}: must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ProjectFileError(f"{where}: must be a whole number above 0, got {value!r}")
    return value


def _non_negative_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProjectFileError(f"{where}: must be a whole number, 0 or more, got {value!r}")
    return value


def _domain(value: Any, where: str) -> str | None:
    """Domains are kept as text (Odoo's own notation) and checked to be a literal list."""
    if value in (None, "", "[]"):
        return None
    text = value if isinstance(value, str) else repr(value)
    import ast

    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ProjectFileError(f"{where}: not a valid domain: {text!r}") from None
    if not isinstance(parsed, list | tuple):
        raise ProjectFileError(f"{where}: a domain must be a list, got {text!r}")
    return text


class ProjectImporter:
    """Validates a project mapping and writes it to the own database in one transaction."""

    def __init__(self, session: Session, box: SecretBox, *, check_code: CodeCheck | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.session = session
        self.box = box
        self.check_code = check_code
        self.environ = os.environ if environ is None else environ

    def import_data(self, data: Mapping[str, Any]) -> Project:
        """Create or update the project described by ``data``; returns it (flushed)."""
        name = _require(data, "name", "project")
        if not isinstance(name, str):
            raise ProjectFileError("project: 'name' must be a string")
        self._check_codes(data)
        project = self.session.scalar(select(Project).where(Project.name == name))
        if project is None:
            project = Project(name=name)
            self.session.add(project)
        project.active = bool(data.get("active", True))
        project.protected_code = data.get("protected_code") or ""
        project.common_code = data.get("common_code") or ""
        if data.get("odoo") is not None:
            project.connection = self._connection(data["odoo"])
        self._limits(project, data.get("limits") or {})
        self._params(project, data.get("params") or {})
        self._secrets(project, data.get("secrets") or [])
        self.session.flush()
        self._tasks(project, data.get("tasks") or [])
        self.session.flush()
        return project

    def _check_codes(self, data: Mapping[str, Any]) -> None:
        if self.check_code is None:
            return
        layers = [("protected_code", data.get("protected_code"), "protected", False),
                  ("common_code", data.get("common_code"), "common", False)]
        for index, task in enumerate(data.get("tasks") or []):
            if isinstance(task, dict):
                layers.append((f"tasks[{index}].code", task.get("code") or "", "task", True))
        for label, source, where, require_handler in layers:
            if source is None or (not source and not require_handler):
                continue
            try:
                self.check_code(str(source), where, require_handler)
            except CodeError as exc:
                raise ProjectFileError(f"{label}: {exc}") from None

    def _connection(self, odoo: Any) -> OdooConnection:
        where = "odoo"
        if not isinstance(odoo, dict):
            raise ProjectFileError(f"{where}: must be a mapping with url, database, login")
        url = str(_require(odoo, "url", where)).rstrip("/")
        database = str(_require(odoo, "database", where))
        login = str(_require(odoo, "login", where))
        protocol = _choice(odoo.get("protocol", "jsonrpc"), PROTOCOLS, f"{where}.protocol")
        timeout = odoo.get("timeout", 30)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ProjectFileError(f"{where}.timeout: must be a number of seconds above 0")
        password = _env_value(odoo.get("password"), f"{where}.password", self.environ)
        conn_name = f"{login}@{url}/{database}"
        conn = self.session.scalar(select(OdooConnection).where(OdooConnection.name == conn_name))
        if conn is None:
            conn = OdooConnection(name=conn_name, url=url, database=database, login=login)
            self.session.add(conn)
        conn.protocol = protocol
        conn.timeout = float(timeout)
        if password is not None:
            conn.password_enc = self.box.encrypt(password)
        return conn

    def _limits(self, project: Project, limits: Any) -> None:
        if not isinstance(limits, dict):
            raise ProjectFileError("limits: must be a mapping of cpu_seconds, memory_mb, "
                                   "wall_seconds")
        unknown = set(limits) - set(LIMIT_KEYS)
        if unknown:
            raise ProjectFileError(f"limits: unknown key(s) {', '.join(sorted(unknown))}; "
                                   f"use {', '.join(LIMIT_KEYS)}")
        for key in LIMIT_KEYS:
            value = limits.get(key)
            if value is not None and (not isinstance(value, int | float)
                                      or isinstance(value, bool) or value <= 0):
                raise ProjectFileError(f"limits.{key}: must be a number above 0")
            setattr(project, f"job_{key}", value)

    def _params(self, project: Project, params: Any) -> None:
        if not isinstance(params, dict):
            raise ProjectFileError("params: must be a mapping of NAME: value")
        existing = {p.key: p for p in project.params}
        for key, value in params.items():
            text = value if isinstance(value, str) else json.dumps(value)
            if key in existing:
                existing.pop(key).value = text
            else:
                project.params.append(ProjectParam(key=str(key), value=text))
        for param in existing.values():
            project.params.remove(param)

    def _secrets(self, project: Project, secrets: Any) -> None:
        if isinstance(secrets, list):
            wanted: dict[str, Any] = {str(name): None for name in secrets}
        elif isinstance(secrets, dict):
            wanted = {str(k): v for k, v in secrets.items()}
        else:
            raise ProjectFileError("secrets: must be a list of names or a mapping NAME: ${ENV}")
        existing = {s.key: s for s in project.secrets}
        for key, raw in wanted.items():
            if raw is not None and not (isinstance(raw, str) and ENV_RE.match(raw)):
                raise ProjectFileError(
                    f"secrets.{key}: secret values never live in the file; write "
                    f"'${{ENV_NAME}}' or set it with `syncstudio secret set`"
                )
            value = _env_value(raw, f"secrets.{key}", self.environ)
            secret = existing.pop(key, None)
            if secret is None:
                secret = ProjectSecret(key=key)
                project.secrets.append(secret)
            if value is not None:
                secret.value_enc = self.box.encrypt(value)
        for secret in existing.values():
            project.secrets.remove(secret)

    def _tasks(self, project: Project, tasks: Any) -> None:
        if not isinstance(tasks, list):
            raise ProjectFileError("tasks: must be a list")
        existing = {t.name: t for t in project.tasks}
        seen_triggers: set[str] = set()
        for index, spec in enumerate(tasks):
            where = f"tasks[{index}]"
            if not isinstance(spec, dict):
                raise ProjectFileError(f"{where}: must be a mapping with name and code")
            name = str(_require(spec, "name", where))
            task = existing.pop(name, None)
            if task is None:
                task = Task(name=name, project=project)
                self.session.add(task)
            task.active = bool(spec.get("active", True))
            task.code = spec.get("code") or ""
            self._triggers(project, task, spec.get("triggers") or {}, where, seen_triggers)
        for task in existing.values():
            self.session.delete(task)

    def _triggers(self, project: Project, task: Task, triggers: Any, where: str,
                  seen: set[str]) -> None:
        if not isinstance(triggers, dict):
            raise ProjectFileError(f"{where}.triggers: must be a mapping of kind: [triggers]")
        existing = {t.trigger_name: t for t in task.triggers}
        for kind, items in triggers.items():
            kind_where = f"{where}.triggers.{kind}"
            _choice(kind, ("cron", "db", "webhook", "button"), f"{where}.triggers")
            if not isinstance(items, list):
                raise ProjectFileError(f"{kind_where}: must be a list")
            for index, item in enumerate(items):
                item_where = f"{kind_where}[{index}]"
                if not isinstance(item, dict):
                    raise ProjectFileError(f"{item_where}: must be a mapping")
                name = str(_require(item, "trigger_name", item_where))
                if not TRIGGER_NAME_RE.match(name):
                    raise ProjectFileError(f"{item_where}.trigger_name: {name!r} must be an "
                                           "identifier such as ON_PARTNER_CREATED")
                if name in seen:
                    raise ProjectFileError(f"{item_where}: trigger_name {name} is used twice")
                seen.add(name)
                trigger = existing.pop(name, None)
                if trigger is None or trigger.kind != kind:
                    if trigger is not None:
                        self.session.delete(trigger)
                    trigger = Trigger(kind=kind, trigger_name=name, project_id=project.id)
                    task.triggers.append(trigger)
                trigger.project_id = project.id
                trigger.active = bool(item.get("active", True))
                self.fill_trigger(trigger, item, item_where)
        for trigger in existing.values():
            task.triggers.remove(trigger)
            self.session.delete(trigger)

    def fill_trigger(self, trigger: Trigger, item: dict[str, Any], where: str) -> None:
        """Check the fields of ``trigger``'s kind in ``item`` and copy them onto it.

        ``where`` names the item in error messages (:class:`ProjectFileError`).
        """
        getattr(self, f"_fill_{trigger.kind}")(trigger, item, where)

    def _fill_cron(self, trigger: Trigger, item: dict[str, Any], where: str) -> None:
        trigger.interval = _positive_int(item.get("interval", 1), f"{where}.interval")
        trigger.interval_unit = _choice(item.get("interval_unit", "days"), INTERVAL_UNITS,
                                        f"{where}.interval_unit")
        trigger.scheduler_user = item.get("scheduler_user")

    def _fill_db(self, trigger: Trigger, item: dict[str, Any], where: str) -> None:
        trigger.model = str(_require(item, "model", where))
        trigger.condition = _choice(item.get("condition"), DB_CONDITIONS, f"{where}.condition")
        trigger.domain = _domain(item.get("domain"), f"{where}.domain")
        trigger.before_domain = _domain(item.get("before_domain"), f"{where}.before_domain")
        watched = item.get("watched_fields") or []
        if not isinstance(watched, list) or not all(isinstance(f, str) for f in watched):
            raise ProjectFileError(f"{where}.watched_fields: must be a list of field names")
        trigger.watched_fields_json = json.dumps(watched) if watched else None
        if trigger.condition == "time":
            trigger.date_field = str(_require(item, "date_field", where))
            trigger.delay = _non_negative_int(item.get("delay", 0), f"{where}.delay")
            trigger.delay_unit = _choice(item.get("delay_unit", "days"), DELAY_UNITS,
                                         f"{where}.delay_unit")
            trigger.when = _choice(item.get("when", "after"), ("before", "after"),
                                   f"{where}.when")

    def _fill_webhook(self, trigger: Trigger, item: dict[str, Any], where: str) -> None:
        trigger.webhook_type = _choice(item.get("type", "json"), WEBHOOK_TYPES, f"{where}.type")
        if not trigger.token:
            trigger.token = new_webhook_token()

    def _fill_button(self, trigger: Trigger, item: dict[str, Any], where: str) -> None:
        trigger.data_json = button_data_json(item.get("data"), f"{where}.data")


def button_data_json(data: Any, where: str = "data") -> str | None:
    """A button's data as the JSON stored (None when there is none); text is read as JSON or
    YAML. :class:`ProjectFileError` names ``where`` when it cannot be stored."""
    if isinstance(data, str):
        try:
            data = yaml.safe_load(data) if data.strip() else None
        except yaml.YAMLError as exc:
            raise ProjectFileError(f"{where}: neither JSON nor YAML: "
                                   f"{' '.join(str(exc).split())}") from None
    try:
        return json.dumps(data) if data is not None else None
    except (TypeError, ValueError):
        # YAML has types JSON lacks (dates, sets): the handler receives JSON's.
        raise ProjectFileError(f"{where}: only JSON's types (text, numbers, lists, mappings, "
                               "true/false, null); this is neither JSON nor YAML of those "
                               "(quote dates as text)") from None


def new_webhook_token() -> str:
    """An unguessable token for a webhook URL (256 bits)."""
    return pysecrets.token_urlsafe(32)


def export_project(project: Project) -> dict[str, Any]:
    """The project as the mapping of its YAML file: secret names only, never values."""
    data: dict[str, Any] = {"name": project.name, "active": project.active}
    if project.connection is not None:
        conn = project.connection
        data["odoo"] = {"url": conn.url, "database": conn.database, "login": conn.login,
                        "protocol": conn.protocol}
        if conn.timeout != 30.0:
            data["odoo"]["timeout"] = conn.timeout
    limits = {key: getattr(project, f"job_{key}") for key in LIMIT_KEYS
              if getattr(project, f"job_{key}") is not None}
    if limits:
        data["limits"] = limits
    data["params"] = {p.key: p.value for p in project.params}
    data["secrets"] = [s.key for s in project.secrets]
    data["protected_code"] = project.protected_code
    data["common_code"] = project.common_code
    tasks = []
    for task in project.tasks:
        triggers: dict[str, list[dict[str, Any]]] = {}
        for trig in task.triggers:
            triggers.setdefault(trig.kind, []).append(_export_trigger(trig))
        tasks.append({"name": task.name, "active": task.active, "code": task.code,
                      "triggers": triggers})
    data["tasks"] = tasks
    return data


def _export_trigger(trig: Trigger) -> dict[str, Any]:
    item: dict[str, Any] = {"trigger_name": trig.trigger_name}
    if not trig.active:
        item["active"] = False
    if trig.kind == "cron":
        item.update(interval=trig.interval, interval_unit=trig.interval_unit)
        if trig.scheduler_user:
            item["scheduler_user"] = trig.scheduler_user
    elif trig.kind == "db":
        item.update(model=trig.model, condition=trig.condition)
        if trig.domain:
            item["domain"] = trig.domain
        if trig.before_domain:
            item["before_domain"] = trig.before_domain
        if trig.watched_fields:
            item["watched_fields"] = trig.watched_fields
        if trig.condition == "time":
            item.update(date_field=trig.date_field, delay=trig.delay,
                        delay_unit=trig.delay_unit, when=trig.when)
    elif trig.kind == "webhook":
        item["type"] = trig.webhook_type
    elif trig.kind == "button" and trig.data is not None:
        item["data"] = trig.data
    return item


def dump_yaml(data: Mapping[str, Any]) -> str:
    """YAML text for a project mapping, with code blocks kept readable."""

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    return yaml.dump(dict(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True)
