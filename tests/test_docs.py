"""The user guide (``docs/``, MkDocs) against the code it documents.

* every name of the real evaluation context appears, as code, in the task-code reference;
* every ``SYNCSTUDIO_*`` setting the code reads is in the configuration table, and every
  setting of that table is read somewhere;
* the site builds with ``mkdocs build --strict`` (broken links and anchors fail).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from connector.settings import Settings, markdown_rows
from worker.runtime.context import LINK_FUNCTIONS, base_context
from worker.runtime.environment import Environment
from worker.runtime.guards import layer_globals
from worker.runtime.namespace import Namespace
from worker.runtime.policy import HANDLER_NAMES
from worker.runtime.recordset import RecordSet
from worker.runtime.request import HttpRequest, UploadedFile

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CODE_SPAN = re.compile(r"`([^`\n]+)`")


def _code_spans(page: str) -> set[str]:
    return set(CODE_SPAN.findall((DOCS / page).read_text(encoding="utf-8")))


def _documented(name: str, spans: set[str]) -> bool:
    """``name`` is a code span of its own, or ends one as an attribute (``env.uid``,
    ``httprequest.json``) or starts one as a call (``log(...)``)."""
    return any(span == name or span.endswith("." + name) or span.startswith(name + "(")
               for span in spans)


def _public(cls: type) -> set[str]:
    """Public attributes of ``cls``, with a dataclass's fields (not class attributes)."""
    names = {name for name in dir(cls) if not name.startswith("_")}
    if dataclasses.is_dataclass(cls):
        names |= {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
    return names


def evaluation_context_names() -> set[str]:
    """Every name task code can reach by name, built from the real context."""

    def callback(*args: object, **kwargs: object) -> None:
        return None

    links = {name: callback for name in LINK_FUNCTIONS}
    context = base_context(env=object(), log=callback, log_transmission=callback,
                           params={"A": "1"}, webhooks={"HOOK": "http://x/webhooks/t"},
                           trigger_name="T", user="admin",
                           add_job=lambda func_name, **options: callback,
                           links=links, secrets={"S": "v"})
    names = {name for name in context if not name.startswith("_")}
    names |= set(LINK_FUNCTIONS)
    names |= set(HANDLER_NAMES)
    # What the layers add: builtins (every layer), ``secrets`` and ``import`` (protected only).
    task_layer = layer_globals("task", emit_print=print)
    names |= {name for name in task_layer if not name.startswith("_")}
    builtins = task_layer["__builtins__"]
    names |= {name for name, value in builtins.items()
              if not name.startswith("_")
              and not (isinstance(value, type) and issubclass(value, BaseException))
              and name not in ("None", "True", "False", "Ellipsis", "NotImplemented")}
    names |= {"print", "secrets", "import"}
    # The names of the library namespaces (``json.dumps``, ``datetime.timedelta`` …).
    for library in ("json", "time", "datetime", "dateutil"):
        names |= set(context[library].keys())
    return names


def object_names() -> set[str]:
    """Public attributes of what the context hands out: recordsets, ``env``, links,
    namespaces, webhook requests."""
    from connector.links import Links

    names = _public(RecordSet) | _public(Environment) | _public(Links) | _public(Namespace)
    # ``from_werkzeug`` builds the request in the web process; task code gets the result.
    names |= (_public(HttpRequest) - {"from_werkzeug"}) | _public(UploadedFile)
    return names


def test_every_context_name_is_documented() -> None:
    spans = _code_spans("task-code.md")
    names = evaluation_context_names()
    assert {"env", "log", "add_job", "get_link", "secrets", "import", "len"} <= names
    missing = sorted(name for name in names if not _documented(name, spans))
    assert not missing, f"not in docs/task-code.md as code: {missing}"


def test_every_object_attribute_is_documented() -> None:
    spans = _code_spans("task-code.md")
    missing = sorted(name for name in object_names() if not _documented(name, spans))
    assert not missing, f"not in docs/task-code.md as code: {missing}"


#: The task-code API of the original module's documentation (sync-studio.rst, messenger.rst):
#: code written for it must find each name in the reference.
SEED_NAMES = {
    "handle_cron", "handle_db", "handle_webhook", "handle_button", "env", "log", "LOG_DEBUG",
    "LOG_INFO", "LOG_WARNING", "LOG_ERROR", "log_transmission", "log_outgoing_data",
    "set_link", "search_links", "get_link", "odoo", "external", "sync_date", "update_links",
    "unlink", "make_ref", "params", "texts", "webhooks", "trigger", "trigger_name", "user",
    "add_job", "_public_url", "json", "time", "datetime", "dateutil", "timezone", "b64encode",
    "b64decode", "url2base64", "url2bin", "get_lang", "html2plaintext", "type2str",
    "DEFAULT_SERVER_DATETIME_FORMAT", "UserError", "ValidationError", "RetryableJobError",
    "OSError", "secrets", "import",
}
#: Names recordsets answer without a class attribute of that name (``__getattr__``).
DYNAMIC_NAMES = {"_public_url", "invalidate_recordset", "flush_recordset"}
#: Names of issue 13 that the reference documents ahead of their branches' merge. Once merged,
#: the test below says which to remove from here.
PENDING_NAMES: set[str] = set()
TABLE_NAME = re.compile(r"^\| `([^`]+)` \|", re.MULTILINE)
NAME_TABLE = re.compile(r"^\| name \| example \|\n\| --- \| --- \|\n((?:\|.*\n)+)", re.MULTILINE)


def test_every_seed_name_is_documented() -> None:
    spans = _code_spans("task-code.md")
    missing = sorted(name for name in SEED_NAMES if not _documented(name, spans))
    assert not missing, f"the original module's names missing from docs/task-code.md: {missing}"


def test_every_name_the_reference_lists_exists() -> None:
    """The reverse check: a name in the first column of a table of the reference is a name of
    the context or an attribute of what it hands out (no stale or invented names)."""
    text = (DOCS / "task-code.md").read_text(encoding="utf-8")
    real = evaluation_context_names() | object_names() | DYNAMIC_NAMES
    listed = set()
    rows = "".join(NAME_TABLE.findall(text))
    assert rows.count("\n") > 100, "the reference's name tables were not found"
    for cell in TABLE_NAME.findall(rows):
        if cell.startswith("in "):  # ``in env``: an operator, not a name
            continue
        listed.add(cell.rsplit(".", 1)[-1])
    unknown = sorted(listed - real - PENDING_NAMES)
    assert not unknown, f"docs/task-code.md lists names the code does not have: {unknown}"
    merged = sorted(PENDING_NAMES & real)
    assert not merged, f"now in the code: remove {merged} from PENDING_NAMES"


# ------------------------------------------------------------------------------- settings
LITERAL = re.compile(r"SYNCSTUDIO_[A-Z0-9_]*[A-Z0-9]")
# Variables that are not settings of an installation, and why:
NOT_SETTINGS = {
    # set by `syncstudio demo` itself, for the ${…} references of its bundled project files
    "SYNCSTUDIO_DEMO_ODOO_PASSWORD", "SYNCSTUDIO_DEMO_REMOTE_LOGIN",
    "SYNCSTUDIO_DEMO_REMOTE_PASSWORD",
}
# Scanned: the product's packages, and docker/ (the image and compose file read
# SYNCSTUDIO_HEALTHCHECK and SYNCSTUDIO_BASE_IMAGE, which users set). bench/ and tests/ are not:
# their SYNCSTUDIO_BENCH_* variables only steer the benchmarks and tests.
SCANNED = ("connector", "worker", "webui", "docker")
SUFFIXES = {".py", ".yml", ".yaml", ".sh", ""}


def settings_read_by_code() -> set[str]:
    names = {item.env for item in Settings.fields()}
    for folder in SCANNED:
        for path in (ROOT / folder).rglob("*"):
            if not path.is_file() or (path.suffix not in SUFFIXES and path.name != "Dockerfile"):
                continue
            if "__pycache__" in path.parts:
                continue
            names |= set(LITERAL.findall(path.read_text(encoding="utf-8", errors="replace")))
    return names - NOT_SETTINGS


def settings_in_table() -> set[str]:
    """The first cells of the table under "## Settings" in docs/configuration.md."""
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(SYNCSTUDIO_[A-Z0-9_]+)` \|", section, flags=re.MULTILINE))


def test_every_setting_is_documented_and_every_documented_setting_is_read() -> None:
    read = settings_read_by_code()
    documented = settings_in_table()
    assert {"SYNCSTUDIO_HOME", "SYNCSTUDIO_ISOLATION", "SYNCSTUDIO_JOB_MAX_SUBJOBS"} <= read
    undocumented = sorted(read - documented)
    assert not undocumented, f"read but not in docs/configuration.md: {undocumented}"
    assert not documented - read, f"documented but never read: {sorted(documented - read)}"


def test_every_declared_setting_stands_in_the_table_as_declared() -> None:
    """Name, default and sentence of each setting come from its one declaration."""
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    table = set(section.splitlines())
    rows = markdown_rows()
    assert len(rows) == len(list(Settings.fields())) > 40
    for item, row in zip(Settings.fields(), rows, strict=True):
        assert item.env in row and item.shown_default in row and item.doc in row
    stale = [row for row in rows if row not in table]
    assert not stale, ("docs/configuration.md differs from connector/settings.py; its rows "
                       "are printed by `python -m connector.settings`:\n" + "\n".join(stale))


# ------------------------------------------------------------------------------- the site
def test_site_builds_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        if os.environ.get("CI"):
            pytest.fail("mkdocs is not installed (pip install -e '.[test]')")
        pytest.skip("mkdocs is not installed")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "task-code" / "index.html").is_file()
