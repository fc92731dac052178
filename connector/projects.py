"""Projects as YAML files: plan, then apply, an import; and export.

The file's format is :mod:`connector.schema`; this module only reads and
writes the own database. Secret values never live in the file: a secret is a name, or a name
mapped to ``${ENV_NAME}``, which the import reads once and stores encrypted. Re-importing a
file updates the project in place: tasks are matched by name and triggers by
``trigger_name``, so webhook tokens, cursors and job history survive. Objects only in the
database are kept unless the import prunes.
"""

from __future__ import annotations

import json
import secrets as pysecrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.errors import CodeError, ProjectFileError, SecretKeyError
from connector.schema import ENV_RE, Loaded, ProjectSpec, load, validate_project
from connector.schema.models import TRIGGER_NAME_RE, AnyTrigger
from connector.store.crypto import SecretBox
from connector.store.models import (
    OdooConnection,
    Project,
    ProjectParam,
    ProjectSecret,
    ProjectText,
    Task,
    Trigger,
)

__all__ = ["TRIGGER_NAME_RE", "Plan", "ProjectImporter", "button_data_json", "dump_yaml",
           "env_value", "export_project", "load_file", "new_webhook_token", "parse",
           "plan_import", "validate"]

LIMIT_KEYS = ("cpu_seconds", "memory_mb", "wall_seconds")

#: ``check(source, where, require_handler)``: the saving layer passes the sandbox policy's check.
CodeCheck = Callable[[str, str, bool], None]


class FileData(dict[str, Any]):
    """A parsed project file: the mapping, plus the line of each key for error messages."""

    loaded: Loaded


def load_file(path: str) -> FileData:
    """Read and parse a project file, with a one-line error for every way it can be wrong."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ProjectFileError(f"cannot read {path}: {exc.strerror}") from None
    return parse(text, source=path)


def parse(text: str, source: str = "<project>") -> FileData:
    """Parse YAML text (aliases bounded) into the project mapping, not yet validated."""
    loaded = load(text, source)
    if not isinstance(loaded.data, dict):
        raise ProjectFileError(f"{source}: a project file must be a mapping with a 'name' key")
    data = FileData(loaded.data)
    data.loaded = loaded
    return data


def validate(data: Mapping[str, Any]) -> ProjectSpec:
    """The typed project of a parsed file (:class:`connector.schema.SchemaError` if refused)."""
    loaded = getattr(data, "loaded", None) or Loaded(dict(data), {})
    return validate_project(loaded)


def env_value(value: str | None, where: str, environ: Mapping[str, str]) -> str | None:
    """Resolve ``${ENV}`` from the environment; plain strings are taken as they are."""
    if value is None:
        return None
    match = ENV_RE.match(value)
    if not match:
        return value
    if match.group(1) not in environ:
        raise ProjectFileError(f"{where}: environment variable {match.group(1)} is not set")
    return environ[match.group(1)]


# --------------------------------------------------------------------------- the plan
@dataclass
class Change:
    """One object the import creates (+), changes (~), deletes (-) or keeps although the file
    no longer has it (=)."""

    action: str
    what: str
    details: list[str] = field(default_factory=list)

    def render(self) -> str:
        """``+ trigger ON_X`` and one indented line per changed attribute."""
        lines = [f"{self.action} {self.what}"]
        lines += [f"    {detail}" for detail in self.details]
        return "\n".join(lines)


@dataclass
class Plan:
    """What an import does to the database, computed before anything is written."""

    project: str
    new: bool
    prune: bool
    changes: list[Change] = field(default_factory=list)

    def render(self) -> str:
        """The readable diff, one object a line (attribute changes indented under it)."""
        head = f"project {self.project!r}" + (" (new)" if self.new else "")
        if not self.changes:
            return f"{head}: no changes"
        return "\n".join([head, *(c.render() for c in self.changes)])

    def summary(self) -> str:
        """One line counting what was (or would be) created, changed, deleted and kept."""
        counts: dict[str, int] = {}
        for change in self.changes:
            counts[change.action] = counts.get(change.action, 0) + 1
        words = {"+": "created", "~": "changed", "-": "deleted", "=": "kept"}
        parts = [f"{counts[a]} {words[a]}" for a in "+~-=" if counts.get(a)]
        kept = [c.what for c in self.changes if c.action == "="]
        text = f"project {self.project!r}: {', '.join(parts) or 'no changes'}"
        if kept:
            text += (f"; only in the database, kept: {', '.join(kept)} "
                     "(--prune deletes them)")
        return text


def _keyed_changes(label: str, old: dict[str, Any], new: dict[str, Any], gone: str,
                   describe: Callable[[Any], str]) -> list[Change]:
    """Plan lines for a key → value section (params, texts): added, changed, then removed."""
    changes = []
    for key, value in new.items():
        if key not in old:
            changes.append(Change("+", f"{label} {key}", [describe(value)]))
        elif old[key] != value:
            changes.append(Change("~", f"{label} {key}", _diff({"value": old[key]},
                                                              {"value": value})))
    return changes + [Change(gone, f"{label} {key}") for key in old if key not in new]


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    lines = []
    for key in dict.fromkeys([*old, *new]):
        before, after = old.get(key), new.get(key)
        if before != after:
            if isinstance(before, str) and isinstance(after, str) and (
                    "\n" in before or "\n" in after):
                lines.append(f"{key}: {len(before.splitlines())} → "
                             f"{len(after.splitlines())} line(s), changed")
            else:
                lines.append(f"{key}: {json.dumps(before)} → {json.dumps(after)}")
    return lines


def plan_import(session: Session, spec: ProjectSpec, box: SecretBox, *, prune: bool = False,
                environ: Mapping[str, str] | None = None) -> Plan:
    """What importing ``spec`` would create, change and delete (nothing is written).

    ``${VAR}`` references are looked up in ``environ`` (the command line passes its own).
    """
    environ = {} if environ is None else environ
    project = session.scalar(select(Project).where(Project.name == spec.name))
    plan = Plan(spec.name, project is None, prune)
    new = file_mapping(spec)
    old = export_project(project) if project is not None else {}
    gone = "-" if prune else "="

    details = _diff({k: old.get(k) for k in ("active", "odoo", "limits")},
                    {k: new.get(k) for k in ("active", "odoo", "limits")})
    password = env_value(spec.odoo.password, "odoo.password", environ) if spec.odoo else None
    if password is not None and not _same_secret(
            box, project.connection.password_enc if project and project.connection else None,
            password):
        details.append("odoo.password: set" + (f" from {spec.odoo.password}" if spec.odoo and
                                               ENV_RE.match(spec.odoo.password or "") else ""))
    if details and project is not None:
        plan.changes.append(Change("~", "project settings", details))
    for layer in ("protected_code", "common_code"):
        if old.get(layer, "") != new[layer] and (project is not None or new[layer]):
            plan.changes.append(Change("~", layer, _diff({layer: old.get(layer, "")},
                                                         {layer: new[layer]})))

    plan.changes += _keyed_changes("param", old.get("params", {}), new["params"], gone,
                                   lambda value: f"= {json.dumps(value)}")
    plan.changes += _keyed_changes("text", old.get("texts", {}), new.get("texts", {}), gone,
                                   lambda value: f"{len(value.splitlines())} line(s)")

    stored = {s.key: s for s in project.secrets} if project else {}
    for key, source in spec.secrets.items():
        value = env_value(source, f"secrets.{key}", environ)
        if key not in stored:
            plan.changes.append(Change("+", f"secret {key}",
                                       [f"value from {source}"] if source else []))
        elif value is not None and not _same_secret(box, stored[key].value_enc, value):
            plan.changes.append(Change("~", f"secret {key}", [f"value from {source}"]))
    plan.changes += [Change(gone, f"secret {key}") for key in stored if key not in spec.secrets]

    old_tasks = {t["name"]: t for t in old.get("tasks", [])}
    old_triggers = {item["trigger_name"]: (task["name"], kind, item)
                    for task in old.get("tasks", [])
                    for kind, items in task["triggers"].items() for item in items}
    new_triggers: set[str] = set()
    for task in new["tasks"]:
        before = old_tasks.get(task["name"])
        if before is None:
            plan.changes.append(Change("+", f"task {task['name']!r}"))
        else:
            details = _diff({k: before[k] for k in ("active", "code")},
                            {k: task[k] for k in ("active", "code")})
            if details:
                plan.changes.append(Change("~", f"task {task['name']!r}", details))
        for kind, items in task["triggers"].items():
            for item in items:
                name = item["trigger_name"]
                new_triggers.add(name)
                what = f"{kind} trigger {name} of task {task['name']!r}"
                if name not in old_triggers:
                    plan.changes.append(Change("+", what))
                    continue
                old_task, old_kind, old_item = old_triggers[name]
                details = _diff(old_item, item)
                if old_kind != kind:
                    details.insert(0, f"kind: {old_kind} → {kind} (a new trigger replaces it)")
                if old_task != task["name"]:
                    details.insert(0, f"task: {old_task!r} → {task['name']!r}")
                if details:
                    plan.changes.append(Change("~", what, details))
    new_tasks = {t["name"] for t in new["tasks"]}
    for name, (task_name, kind, _item) in old_triggers.items():
        if name not in new_triggers:
            plan.changes.append(Change(gone, f"{kind} trigger {name} of task {task_name!r}"))
    for name in old_tasks:
        if name not in new_tasks:
            plan.changes.append(Change(gone, f"task {name!r}"))
    return plan


def _same_secret(box: SecretBox, encrypted: str | None, value: str) -> bool:
    if not encrypted:
        return False
    try:
        return box.decrypt(encrypted) == value
    except SecretKeyError:  # a value the current key cannot read is replaced
        return False


# --------------------------------------------------------------------------- apply
class ProjectImporter:
    """Validates a project mapping and writes it to the own database in one transaction."""

    def __init__(self, session: Session, box: SecretBox, *, check_code: CodeCheck | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.session = session
        self.box = box
        self.check_code = check_code
        self.environ = {} if environ is None else environ

    def import_data(self, data: Mapping[str, Any], *, prune: bool = False) -> Project:
        """Create or update the project described by ``data``; returns it (flushed)."""
        return self.apply(validate(data), prune=prune)

    def plan(self, spec: ProjectSpec, *, prune: bool = False) -> Plan:
        """What :meth:`apply` of ``spec`` would do."""
        return plan_import(self.session, spec, self.box, prune=prune, environ=self.environ)

    def apply(self, spec: ProjectSpec, *, prune: bool = False) -> Project:
        """Write a validated project: objects only in the database stay unless ``prune``."""
        self._check_codes(spec)
        project = self.session.scalar(select(Project).where(Project.name == spec.name))
        if project is None:
            project = Project(name=spec.name)
            self.session.add(project)
        project.active = spec.active
        project.protected_code = spec.protected_code
        project.common_code = spec.common_code
        if spec.odoo is not None:
            project.connection = self._connection(spec)
        for key in LIMIT_KEYS:
            setattr(project, f"job_{key}", getattr(spec.limits, key))
        self._params(project, spec, prune)
        self._texts(project, spec, prune)
        self._secrets(project, spec, prune)
        self.session.flush()
        self._tasks(project, spec, prune)
        self.session.flush()
        return project

    def _check_codes(self, spec: ProjectSpec) -> None:
        if self.check_code is None:
            return
        layers = [("protected_code", spec.protected_code, "protected", False),
                  ("common_code", spec.common_code, "common", False)]
        layers += [(f"tasks[{i}].code", task.code, "task", True)
                   for i, task in enumerate(spec.tasks)]
        for label, source, where, require_handler in layers:
            if not source and not require_handler:
                continue
            try:
                self.check_code(source, where, require_handler)
            except CodeError as exc:
                raise ProjectFileError(f"{label}: {exc}") from None

    def _connection(self, spec: ProjectSpec) -> OdooConnection:
        odoo = spec.odoo
        assert odoo is not None
        url = odoo.url.rstrip("/")
        password = env_value(odoo.password, "odoo.password", self.environ)
        conn_name = f"{odoo.login}@{url}/{odoo.database}"
        conn = self.session.scalar(select(OdooConnection).where(OdooConnection.name == conn_name))
        if conn is None:
            conn = OdooConnection(name=conn_name, url=url, database=odoo.database,
                                  login=odoo.login)
            self.session.add(conn)
        conn.protocol = odoo.protocol
        conn.timeout = float(odoo.timeout)
        if password is not None:
            conn.password_enc = self.box.encrypt(password)
        return conn

    def _params(self, project: Project, spec: ProjectSpec, prune: bool) -> None:
        existing = {p.key: p for p in project.params}
        for key, value in spec.params.items():
            text = value if isinstance(value, str) else json.dumps(value)
            if key in existing:
                existing.pop(key).value = text
            else:
                project.params.append(ProjectParam(key=key, value=text))
        if prune:
            for param in existing.values():
                project.params.remove(param)

    def _texts(self, project: Project, spec: ProjectSpec, prune: bool) -> None:
        existing = {t.key: t for t in project.texts}
        for key, value in spec.texts.items():
            if key in existing:
                existing.pop(key).value = value
            else:
                project.texts.append(ProjectText(key=key, value=value))
        if prune:
            for text in existing.values():
                project.texts.remove(text)

    def _secrets(self, project: Project, spec: ProjectSpec, prune: bool) -> None:
        existing = {s.key: s for s in project.secrets}
        for key, source in spec.secrets.items():
            value = env_value(source, f"secrets.{key}", self.environ)
            secret = existing.pop(key, None)
            if secret is None:
                secret = ProjectSecret(key=key)
                project.secrets.append(secret)
            if value is not None:
                secret.value_enc = self.box.encrypt(value)
        if prune:
            for secret in existing.values():
                project.secrets.remove(secret)

    def _tasks(self, project: Project, spec: ProjectSpec, prune: bool) -> None:
        existing = {t.name: t for t in project.tasks}
        triggers = {t.trigger_name: t for t in self.session.scalars(
            select(Trigger).where(Trigger.project_id == project.id))}
        for spec_task in spec.tasks:
            task = existing.pop(spec_task.name, None)
            if task is None:
                task = Task(name=spec_task.name, project=project)
                self.session.add(task)
            task.active = spec_task.active
            task.code = spec_task.code
            for kind, item in spec_task.triggers.all():
                trigger = triggers.pop(item.trigger_name, None)
                if trigger is not None and trigger.kind != kind:
                    trigger.task.triggers.remove(trigger)
                    self.session.delete(trigger)
                    self.session.flush()
                    trigger = None
                if trigger is None:
                    trigger = Trigger(kind=kind, trigger_name=item.trigger_name,
                                      project_id=project.id)
                    task.triggers.append(trigger)
                elif trigger.task is not task:
                    trigger.task.triggers.remove(trigger)
                    task.triggers.append(trigger)
                trigger.project_id = project.id
                fill_trigger(trigger, item)
        if prune:
            for trigger in triggers.values():
                trigger.task.triggers.remove(trigger)
                self.session.delete(trigger)
            for task in existing.values():
                project.tasks.remove(task)  # delete-orphan: the row goes at the flush
                self.session.delete(task)


def fill_trigger(trigger: Trigger, item: AnyTrigger) -> None:
    """Copy a validated trigger of ``trigger.kind`` onto its row."""
    values = item.model_dump()
    trigger.active = values.pop("active")
    values.pop("trigger_name")
    if trigger.kind == "cron":
        trigger.interval = values["interval"]
        trigger.interval_unit = values["interval_unit"]
        trigger.scheduler_user = values["scheduler_user"]
    elif trigger.kind == "db":
        for key in ("model", "condition", "domain", "before_domain"):
            setattr(trigger, key, values[key])
        watched = values["watched_fields"]
        trigger.watched_fields_json = json.dumps(watched) if watched else None
        timed = values["condition"] == "time"
        trigger.date_field = values["date_field"] if timed else None
        trigger.delay = values["delay"] if timed else None
        trigger.delay_unit = values["delay_unit"] if timed else None
        trigger.when = values["when"] if timed else None
    elif trigger.kind == "webhook":
        trigger.webhook_type = values["type"]
        if not trigger.token:
            trigger.token = new_webhook_token()
    elif trigger.kind == "button":
        trigger.data_json = json.dumps(values["data"]) if values["data"] is not None else None


def button_data_json(data: Any, where: str = "data") -> str | None:
    """A button's data as the JSON stored (None when there is none); text is read as JSON or
    YAML, aliases bounded. :class:`ProjectFileError` names ``where`` when it cannot be stored."""
    if isinstance(data, str):
        data = load(data, where).data if data.strip() else None
    try:
        return json.dumps(data) if data is not None else None
    except (TypeError, ValueError):
        # YAML has types JSON lacks (dates, sets): the handler receives JSON's.
        raise ProjectFileError(f"{where}: only JSON's types (text, numbers, lists, mappings, "
                               "true/false, null); quote dates as text") from None


def new_webhook_token() -> str:
    """An unguessable token for a webhook URL (256 bits)."""
    return pysecrets.token_urlsafe(32)


# --------------------------------------------------------------------------- export
def _number(value: float | None) -> float | int | None:
    """Whole numbers stored in float columns export as they were written (5, not 5.0)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def export_project(project: Project) -> dict[str, Any]:
    """The project as the mapping of its YAML file: secret names only, never values."""
    data: dict[str, Any] = {"name": project.name, "active": project.active}
    if project.connection is not None:
        conn = project.connection
        data["odoo"] = {"url": conn.url, "database": conn.database, "login": conn.login,
                        "protocol": conn.protocol}
        if conn.timeout != 30.0:
            data["odoo"]["timeout"] = _number(conn.timeout)
    limits = {key: _number(getattr(project, f"job_{key}")) for key in LIMIT_KEYS
              if getattr(project, f"job_{key}") is not None}
    if limits:
        data["limits"] = limits
    data["params"] = {p.key: p.value for p in project.params}
    if project.texts:
        data["texts"] = {t.key: t.value for t in project.texts}
    data["secrets"] = [s.key for s in project.secrets]
    data["protected_code"] = project.protected_code or ""
    data["common_code"] = project.common_code or ""
    tasks = []
    for task in project.tasks:
        triggers: dict[str, list[dict[str, Any]]] = {}
        for trig in task.triggers:
            triggers.setdefault(trig.kind, []).append(_export_trigger(trig))
        tasks.append({"name": task.name, "active": task.active, "code": task.code or "",
                      "triggers": triggers})
    data["tasks"] = tasks
    return data


def file_mapping(spec: ProjectSpec) -> dict[str, Any]:
    """``spec`` as :func:`export_project` writes the project it imports to (for the plan)."""
    data: dict[str, Any] = {"name": spec.name, "active": spec.active}
    if spec.odoo is not None:
        data["odoo"] = {"url": spec.odoo.url.rstrip("/"), "database": spec.odoo.database,
                        "login": spec.odoo.login, "protocol": spec.odoo.protocol}
        if spec.odoo.timeout != 30.0:
            data["odoo"]["timeout"] = _number(spec.odoo.timeout)
    limits = {k: _number(v) for k, v in spec.limits.model_dump().items() if v is not None}
    if limits:
        data["limits"] = limits
    data["params"] = {k: v if isinstance(v, str) else json.dumps(v)
                      for k, v in spec.params.items()}
    if spec.texts:
        data["texts"] = dict(spec.texts)
    data["secrets"] = list(spec.secrets)
    data["protected_code"] = spec.protected_code
    data["common_code"] = spec.common_code
    tasks = []
    for task in spec.tasks:
        triggers: dict[str, list[dict[str, Any]]] = {}
        for kind, item in task.triggers.all():
            row = Trigger(kind=kind, trigger_name=item.trigger_name)
            fill_trigger(row, item)
            triggers.setdefault(kind, []).append(_export_trigger(row))
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
