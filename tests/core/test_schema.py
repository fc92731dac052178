"""The project file's schema: property tests of the round trip and of misspelt keys, the
published JSON Schema against every project file of the repository, and the YAML alias bound."""

from __future__ import annotations

import pathlib
import re
import time
import tracemalloc

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import select

from connector.errors import ProjectFileError
from connector.projects import ProjectImporter, button_data_json, dump_yaml, export_project, parse
from connector.schema import (
    DELAY_UNITS,
    INTERVAL_UNITS,
    WEBHOOK_TYPES,
    SchemaError,
    json_schema,
    load,
    validate_project,
)
from connector.store.crypto import SecretBox
from connector.store.models import DB_CONDITIONS, Project

ROOT = pathlib.Path(__file__).resolve().parents[2]
HANDLERS = """def handle_db(records):
    pass
def handle_cron():
    pass
def handle_webhook(httprequest):
    pass
def handle_button(data=None):
    pass
"""

names = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=6)


@st.composite
def projects(draw):
    """Valid project mappings, with every kind of trigger."""
    trigger_names = iter(draw(st.lists(names, min_size=12, max_size=12, unique=True)))

    def db():
        item = {"trigger_name": next(trigger_names), "model": "res.partner",
                "condition": draw(st.sampled_from(DB_CONDITIONS))}
        if draw(st.booleans()):
            item["domain"] = "[('is_company', '=', False)]"
        if draw(st.booleans()):
            item["watched_fields"] = draw(st.lists(st.sampled_from(["email", "name"]),
                                                   min_size=1, unique=True))
        if item["condition"] == "time":
            item.update(date_field="write_date", delay=draw(st.integers(0, 99)),
                        delay_unit=draw(st.sampled_from(DELAY_UNITS)),
                        when=draw(st.sampled_from(["before", "after"])))
        return item

    tasks = []
    for index in range(draw(st.integers(0, 2))):
        triggers = {}
        if draw(st.booleans()):
            triggers["db"] = [db() for _ in range(draw(st.integers(1, 2)))]
        if draw(st.booleans()):
            triggers["cron"] = [{"trigger_name": next(trigger_names),
                                 "interval": draw(st.integers(1, 60)),
                                 "interval_unit": draw(st.sampled_from(list(INTERVAL_UNITS)))}]
        if draw(st.booleans()):
            triggers["webhook"] = [{"trigger_name": next(trigger_names),
                                    "type": draw(st.sampled_from(WEBHOOK_TYPES))}]
        if draw(st.booleans()):
            button = {"trigger_name": next(trigger_names)}
            data = draw(json_values)
            if data is not None:
                button["data"] = data
            triggers["button"] = [button]
        tasks.append({"name": f"Task {index}", "active": draw(st.booleans()),
                      "code": HANDLERS, "triggers": triggers})
    data = {"name": draw(text.filter(str.strip)), "active": draw(st.booleans()),
            "params": draw(st.dictionaries(names, text, max_size=3)),
            "secrets": draw(st.lists(names, max_size=3, unique=True)),
            "protected_code": "", "common_code": draw(st.sampled_from(["", "X = 1\n"])),
            "tasks": tasks}
    if draw(st.booleans()):
        data["limits"] = {"cpu_seconds": draw(st.integers(1, 9)),
                          "memory_mb": draw(st.integers(64, 512))}
    return data


def import_text(db, settings, text_, prune=False):
    with db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings), environ={}).import_data(
            parse(text_), prune=prune)


def export_all(db):
    with db.session() as session:
        return dump_yaml(export_project(session.scalar(select(Project))))


@examples(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.slow
@given(data=projects())
def test_export_import_export_gives_the_same_file(settings, data):
    from connector.store.db import Database
    from connector.store.migrate import upgrade

    db = Database(f"sqlite:///{settings.home}/round-{time.monotonic_ns()}.db")
    upgrade(db)
    import_text(db, settings, dump_yaml(data))
    first = export_all(db)
    import_text(db, settings, first)
    assert export_all(db) == first
    db.dispose()
    exported = yaml.safe_load(first)
    assert [t["name"] for t in exported["tasks"]] == [t["name"] for t in data["tasks"]]
    for task in data["tasks"]:  # button data stays YAML, not a JSON string
        for button in task["triggers"].get("button", []):
            found = [b for t in exported["tasks"] for b in t["triggers"].get("button", [])
                     if b["trigger_name"] == button["trigger_name"]]
            assert found[0].get("data") == button.get("data")


def key_paths(value, path=()):
    """Every mapping key of a document, with its path."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from key_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from key_paths(item, (*path, index))


def rename(value, path, new):
    parent = value
    for part in path[:-1]:
        parent = parent[part]
    parent[new] = parent.pop(path[-1])


# Data (a button's, params' names) is the user's own: any key is fine there.
FREE = {"data", "params", "secrets"}


@examples(max_examples=60, deadline=None)
@given(data=projects(), pick=st.integers(0, 10**6), typo=st.sampled_from(["x", "s", "_"]))
def test_every_misspelt_key_is_refused_with_its_name(data, pick, typo):
    paths = [p for p in key_paths(data) if not FREE & {str(x) for x in p[:-1]}]
    path = paths[pick % len(paths)]
    misspelt = str(path[-1])[:-1] + typo if len(str(path[-1])) > 2 else str(path[-1]) + typo
    if misspelt == path[-1]:
        misspelt += "x"
    rename(data, path, misspelt)
    with pytest.raises(SchemaError) as info:
        validate_project(load(dump_yaml(data)))
    assert f"unknown key '{misspelt}' (line " in str(info.value)


@pytest.mark.parametrize("typo,key,expected", [
    ("triggers", "trigers", "tasks[0]: unknown key 'trigers' (line 9) — did you mean 'triggers'?"),
    ("params", "parms", "project: unknown key 'parms' (line 2) — did you mean 'params'?"),
    ("code", "cod", "tasks[0]: unknown key 'cod' (line 6) — did you mean 'code'?"),
    ("condition", "condtion",
     "tasks[0].triggers.db[0]: unknown key 'condtion' (line 12) — did you mean 'condition'?"),
])
def test_the_issue_s_typos_name_the_key_its_line_and_the_fix(typo, key, expected):
    text_ = """name: P
params: {TAG: x}
tasks:
  - name: T
    active: true
    code: |
      def handle_db(records):
          pass
    triggers:
      db:
        - trigger_name: ON_X
          condition: create
          model: res.partner
"""
    bad = re.sub(rf"\b{typo}:", f"{key}:", text_, count=1)
    with pytest.raises(SchemaError) as info:
        validate_project(load(bad))
    assert str(info.value).startswith(expected)


@pytest.mark.parametrize("item,message", [
    ("{trigger_name: D, model: res.partner, condition: create, domain: '[1, 2]'}",
     "tasks[0].triggers.db[0].domain: not a valid domain: a domain term is (field, operator, "
     "value), got 1"),
    ("{trigger_name: D, model: res.partner, condition: write, before_domain: "
     "\"[('parent_id.name', '=', 'x')]\"}",
     "tasks[0].triggers.db[0]: the before update domain can only use the model's own fields"),
])
def test_domains_are_parsed_with_the_poller_s_parser(item, message):
    text_ = f"name: P\ntasks:\n  - name: T\n    code: 'def handle_db(r): pass'\n" \
            f"    triggers:\n      db:\n        - {item}\n"
    with pytest.raises(SchemaError) as info:
        validate_project(load(text_))
    assert str(info.value).startswith(message)


def test_a_trigger_whose_task_lacks_its_handler_is_refused():
    text_ = """name: P
tasks:
  - name: Only buttons
    code: |
      def handle_button():
          pass
    triggers:
      db: [{trigger_name: D, model: res.partner, condition: create}]
      cron: [{trigger_name: C}]
      button: [{trigger_name: B}]
"""
    with pytest.raises(SchemaError) as info:
        validate_project(load(text_))
    assert info.value.rendered == [
        "tasks[0].triggers.cron[0]: a cron trigger runs handle_cron(), which task "
        "'Only buttons' does not define (line 9)",
        "tasks[0].triggers.db[0]: a db trigger runs handle_db(records), which task "
        "'Only buttons' does not define (line 8)"]


def readme_projects():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)
    blocks += re.findall(r"<<'YAML'\n(.*?)\nYAML\n", readme, re.DOTALL)
    return [yaml.safe_load(b) for b in blocks if re.search(r"^name:", b, re.M)]


def test_the_json_schema_validates_every_project_file_of_the_repository():
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    files = sorted((ROOT / "connector" / "demo").glob("*.yml"))
    documents = [yaml.safe_load(p.read_text()) for p in files] + readme_projects()
    assert len(files) >= 2 and len(documents) > len(files)
    for document in documents:
        jsonschema.validate(document, schema)
        validate_project(load(dump_yaml(document)))  # and the models agree
    for bad in ({"name": "x", "parms": {}}, {"name": "x", "tasks": [{"name": "t", "cod": ""}]},
                {"name": "x", "odoo": {"url": "u", "database": "d", "login": "l",
                                        "protocol": "soap"}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def bomb(levels: int, width: int = 9) -> str:
    lines = ["l0: &l0 [lol]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]"
              for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [6, 7, 9])
def test_alias_bombs_are_refused_quickly_and_without_memory(levels):
    text_ = "name: bomb\n" + bomb(levels)
    assert len(text_) < 600  # 378 to 518 bytes did 152 MB, +72 MB, a MemoryError
    tracemalloc.start()
    started = time.monotonic()
    with pytest.raises(ProjectFileError) as info:
        parse(text_)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.monotonic() - started < 1 and peak < 5_000_000
    message = str(info.value)
    assert "\n" not in message and "YAML aliases (*name) would expand" in message
    with pytest.raises(ProjectFileError, match="YAML aliases"):
        button_data_json(bomb(levels), "SETUP.data")


def test_recursive_aliases_and_merge_keys():
    with pytest.raises(ProjectFileError, match="recursive"):
        load("a: &a [1, *a]\n")
    loaded = load("base: &b {mode: full}\nit:\n  <<: *b\n  extra: 1\n")
    assert loaded.data["it"] == {"mode": "full", "extra": 1}
    assert loaded.lines[("it", "extra")] == 4


def test_only_true_and_false_are_booleans():
    # YAML 1.1 reads Off/yes/no as booleans: a task named Off would become False.
    assert load("name: Off\nb: yes\nc: true\nd: FALSE\n").data == {
        "name": "Off", "b": "yes", "c": True, "d": False}
