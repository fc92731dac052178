"""Validation of whole projects and single triggers: the file alone, then against the Odoo.

The importer and the dashboard's trigger form both come here, so the same bad trigger is
refused with the same message wherever it is written.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any, cast

from pydantic import ValidationError

from connector.detection import domain as domains
from connector.detection import rules
from connector.schema.errors import Problem, problems_of, raise_problems, suggest
from connector.schema.loader import Loaded, Path
from connector.schema.models import TRIGGER_MODELS, AnyTrigger, DbTrigger, ProjectSpec
from connector.store.models import HANDLERS

HANDLER_SIGNATURES = {"cron": "handle_cron()", "db": "handle_db(records)",
                      "webhook": "handle_webhook(httprequest)", "button": "handle_button()"}
DATE_TYPES = ("date", "datetime")


def validate_project(loaded: Loaded, source: str = "project") -> ProjectSpec:
    """The typed project of a loaded file, or :class:`SchemaError` naming key, line and fix."""
    if not isinstance(loaded.data, dict):
        raise_problems([Problem((), "a project file must be a mapping with a 'name' key")])
    try:
        spec = ProjectSpec.model_validate(loaded.data)
    except ValidationError as exc:
        raise_problems(problems_of(exc, ProjectSpec), loaded)
    raise_problems(project_problems(spec), loaded)
    return spec


def validate_trigger(kind: str, item: dict[str, Any], where: str,
                     task: tuple[str, str] | None = None) -> AnyTrigger:
    """One trigger of ``kind`` (as a project file writes it) of ``task`` (name, code); errors
    start with ``where`` and are those an import gives, in the same order."""
    model = TRIGGER_MODELS[kind]
    try:
        trigger = model.model_validate(item)
    except ValidationError as exc:
        raise_problems(problems_of(exc, model, prefix=("_",)), base=where, strip=1)
    typed = cast(AnyTrigger, trigger)
    found = [Problem(("_", *p.path), p.message) for p in trigger_problems(kind, typed)]
    reason = handler_problem(kind, *task) if task is not None else None
    if reason:
        found.append(Problem(("_",), reason))
    raise_problems(found, base=where, strip=1)
    return typed


def defined_handlers(code: str) -> set[str] | None:
    """The handler functions ``code`` defines at top level (None: it does not parse, which the
    sandbox's code check reports with line and column)."""
    try:
        tree = ast.parse(code or "")
    except SyntaxError:
        return None
    return {node.name for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def handler_problem(kind: str, task_name: str, code: str) -> str | None:
    """Why the task cannot run a ``kind`` trigger, or None."""
    defined = defined_handlers(code)
    if defined is None or HANDLERS[kind] in defined:
        return None
    return (f"a {kind} trigger runs {HANDLER_SIGNATURES[kind]}, which task {task_name!r} does "
            "not define")


def trigger_problems(kind: str, trigger: AnyTrigger) -> list[Problem]:
    """What is wrong with one trigger on its own (paths relative to it)."""
    if not isinstance(trigger, DbTrigger):
        return []
    if trigger.condition == "time" and not trigger.date_field:
        return [Problem((), "'date_field' is required: a timed condition fires when that "
                                "date or datetime field's value passes")]
    rule = rules.Rule.from_trigger(SimpleNamespace(
        id=0, model=trigger.model, condition=trigger.condition, domain=trigger.domain,
        before_domain=trigger.before_domain, watched_fields=trigger.watched_fields,
        date_field=trigger.date_field, delay=trigger.delay, delay_unit=trigger.delay_unit,
        when=trigger.when))
    reason = rules.check(rule)  # the poller's own rule, so it never refuses a saved trigger
    return [Problem((), reason)] if reason else []


def project_problems(spec: ProjectSpec) -> list[Problem]:
    """Checks across the objects of a project: names used twice, handlers, each trigger."""
    found: list[Problem] = []
    seen: dict[str, Path] = {}
    tasks: set[str] = set()
    for t_index, task in enumerate(spec.tasks):
        if task.name in tasks:
            found.append(Problem(("tasks", t_index, "name"),
                                 f"task name {task.name!r} is used twice"))
        tasks.add(task.name)
        for kind, items in ((k, getattr(task.triggers, k)) for k in TRIGGER_MODELS):
            for index, trigger in enumerate(items):
                path: Path = ("tasks", t_index, "triggers", kind, index)
                name = trigger.trigger_name
                if name in seen:
                    found.append(Problem((*path, "trigger_name"), f"trigger_name {name} is used "
                                         "twice; trigger names are unique in a project"))
                seen.setdefault(name, path)
                found += [Problem((*path, *p.path), p.message)
                          for p in trigger_problems(kind, trigger)]
                reason = handler_problem(kind, task.name, task.code)
                if reason:
                    found.append(Problem(path, reason))
    return found


# --------------------------------------------------------------------------- against Odoo
def odoo_problems(client: Any, triggers: Iterable[tuple[Path, DbTrigger]]) -> list[Problem]:
    """Check DB triggers against the live Odoo: the model exists (``ir.model``) and every field
    they name exists on it (``fields_get``), a timed trigger's field being a date or datetime.

    ``client`` is an :class:`connector.odoo.base.OdooClient`; one ``ir.model`` read for all
    models and one ``fields_get`` per model.
    """
    items = list(triggers)
    if not items:
        return []
    wanted = sorted({t.model for _, t in items})
    rows = client.search_read("ir.model", [("model", "in", wanted)], ["model"])
    present = {row["model"] for row in rows}
    all_models: list[str] | None = None
    fields: dict[str, dict[str, Any]] = {}
    found: list[Problem] = []
    for path, trig in items:
        if trig.model not in present:
            if all_models is None:
                all_models = [r["model"] for r in client.search_read("ir.model", [], ["model"])]
            near = suggest(trig.model, all_models)
            hint = f" — did you mean '{near}'?" if near else ""
            found.append(Problem((*path, "model"),
                                 f"model {trig.model!r} does not exist in Odoo{hint}"))
            continue
        if trig.model not in fields:
            fields[trig.model] = client.fields_get(trig.model, attributes=["type"])
        found += _field_problems(path, trig, fields[trig.model])
    return found


def _field_problems(path: Path, trig: DbTrigger, known: dict[str, Any]) -> list[Problem]:
    found: list[Problem] = []

    def missing(key: Path, name: str) -> None:
        near = suggest(name, known)
        hint = f" — did you mean '{near}'?" if near else ""
        found.append(Problem((*path, *key), f"field {name!r} does not exist on {trig.model}"
                                            f"{hint}"))

    for index, name in enumerate(trig.watched_fields):
        if name not in known:
            missing(("watched_fields", index), name)
    for key in ("domain", "before_domain"):
        text = getattr(trig, key)
        for name in sorted(domains.fields_of(domains.parse(text))):
            if name not in known:
                missing((key,), name)
    if trig.condition == "time" and trig.date_field:
        if trig.date_field not in known:
            missing(("date_field",), trig.date_field)
        elif known[trig.date_field].get("type") not in DATE_TYPES:
            found.append(Problem((*path, "date_field"), f"field {trig.date_field!r} of "
                                 f"{trig.model} is a {known[trig.date_field].get('type')} "
                                 "field; a timed condition needs a date or datetime field"))
    return found


def db_triggers(spec: ProjectSpec) -> list[tuple[Path, DbTrigger]]:
    """The DB triggers of a project with their paths in the file."""
    return [(("tasks", t, "triggers", "db", i), trig)
            for t, task in enumerate(spec.tasks) for i, trig in enumerate(task.triggers.db)]
