"""A project's texts in its file: imported, planned, exported unchanged, and refused with the
key and line when wrong."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connector.projects import (
    ProjectImporter,
    dump_yaml,
    export_project,
    parse,
    plan_import,
    validate,
)
from connector.schema import SchemaError
from connector.store.crypto import SecretBox
from connector.store.models import Project

FILE = """\
name: Texts
params:
  MODE: live
texts:
  WELCOME: |
    Hello!

    Write us anything, we answer within a day.
  SIGNATURE: "-- The team"
"""


def import_text(db, settings, text, prune=False):
    with db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings), environ={}).import_data(
            parse(text), prune=prune)


def exported(db):
    with db.session() as session:
        return dump_yaml(export_project(session.scalar(select(Project))))


def test_texts_round_trip_through_the_database(settings, db) -> None:
    import_text(db, settings, FILE)
    first = exported(db)
    assert "WELCOME: |\n    Hello!\n\n    Write us anything" in first
    data = parse(first).loaded.data
    assert data["texts"] == {"SIGNATURE": "-- The team",
                             "WELCOME": "Hello!\n\nWrite us anything, we answer within a day.\n"}
    import_text(db, settings, first)
    assert exported(db) == first


def test_the_plan_names_text_changes_and_prune_removes_them(settings, db) -> None:
    import_text(db, settings, FILE)
    changed = FILE.replace("-- The team", "-- Support").replace("  WELCOME: |\n    Hello!\n\n"
                                                                "    Write us anything, we "
                                                                "answer within a day.\n", "")
    changed += "  FOOTER: |\n    line 1\n    line 2\n"
    with db.session() as session:
        plan = plan_import(session, validate(parse(changed)), SecretBox.from_settings(settings),
                           prune=True, environ={})
    rendered = plan.render()
    assert "+ text FOOTER\n    2 line(s)" in rendered
    assert '~ text SIGNATURE\n    value: "-- The team" → "-- Support"' in rendered
    assert "- text WELCOME" in rendered
    import_text(db, settings, changed, prune=True)
    with db.session() as session:
        project = session.scalar(select(Project))
        assert {t.key: t.value for t in project.texts} == {
            "FOOTER": "line 1\nline 2\n", "SIGNATURE": "-- Support"}


@pytest.mark.parametrize(("texts", "expected"), [
    ("  WELCOME: 5\n", "texts.WELCOME: must be text, got 5 (quote it) (line 3)"),
    ("  welcome message: hi\n", "text key 'welcome message' must be a name such as"),
    ("  _HIDDEN: hi\n", "text key '_HIDDEN' must be a name"),
    ("  - a list\n", "texts: must be a mapping"),
])
def test_bad_texts_name_the_key_and_line(texts, expected) -> None:
    with pytest.raises(SchemaError) as caught:
        validate(parse("name: T\ntexts:\n" + texts))
    assert expected in str(caught.value)
