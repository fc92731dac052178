"""Every name of the evaluation context is exercised by some snippet of this suite.

The names come from the code that builds the context (worker.runtime.context.base_context, the
layers' globals and builtins, the library namespaces) and from the classes of what it hands out
(recordsets, env, links, namespaces, webhook requests). A snippet is a string literal of a
test module of this package; a name counts when it occurs there as an identifier (top-level
names) or after a dot (attributes and library members).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from worker.runtime.context import LINK_FUNCTIONS, base_context
from worker.runtime.environment import Environment
from worker.runtime.guards import layer_globals
from worker.runtime.namespace import Namespace
from worker.runtime.policy import HANDLER_NAMES
from worker.runtime.recordset import RecordSet
from worker.runtime.request import HttpRequest, UploadedFile

HERE = Path(__file__).resolve().parent
#: Names of issue 13 that the context gains when the other branches are merged; their
#: snippets are written already (marked xfail until then).
COMING = {"trigger", "texts"}
#: Builtins that no integration reaches for, with the reason they are left out here.
NOT_SNIPPETS = {
    "NotImplemented": "a constant of operator methods",
    "Ellipsis": "a constant",
}


def snippet_text() -> str:
    """Every string literal of this package's test modules, joined."""
    parts: list[str] = []
    for path in sorted(HERE.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parts += [node.value for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return "\n".join(parts)


def context_names() -> set[str]:
    """The names task code reaches by name, from the real context builder and layer globals."""

    def callback(*args: object, **kwargs: object) -> None:
        return None

    context = base_context(env=object(), log=callback, log_transmission=callback,
                           params={"A": "1"}, webhooks={"HOOK": "http://x/webhooks/t"},
                           trigger_name="T", user="admin",
                           add_job=lambda func_name, **options: callback,
                           links={name: callback for name in LINK_FUNCTIONS},
                           secrets={"S": "v"})
    names = {name for name in context if not name.startswith("_")}
    names |= set(LINK_FUNCTIONS) | set(HANDLER_NAMES) | {"secrets", "print"} | COMING
    task_layer = layer_globals("task", emit_print=print)
    names |= {name for name in task_layer if not name.startswith("_")}
    names |= {name for name in task_layer["__builtins__"] if not name.startswith("_")}
    return names - set(NOT_SNIPPETS) - {"None", "True", "False"}


def library_members() -> set[str]:
    """``json.dumps``, ``datetime.timedelta`` …: the members of the library namespaces."""
    context = base_context(env=object())
    members: set[str] = set()
    for name, value in context.items():
        if isinstance(value, Namespace):
            members |= {f"{name}.{member}" for member in value}
    return members


def object_attributes() -> set[str]:
    """Public attributes of recordsets, env, links, namespaces and webhook requests."""
    from connector.links import Links

    def public(cls: type) -> set[str]:
        return {name for name in dir(cls) if not name.startswith("_")}

    names = public(RecordSet) | public(Environment) | public(Links) | public(Namespace)
    names |= (public(HttpRequest) - {"from_werkzeug"}) | public(UploadedFile)
    return names


def _used(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


def test_the_enumeration_sees_the_context() -> None:
    names = context_names()
    assert {"env", "log", "add_job", "get_link", "params", "json", "UserError", "len",
            "handle_db", "trigger_name"} <= names
    assert {"json.dumps", "datetime.timedelta", "dateutil.parser"} <= library_members()
    assert {"mapped", "filtered", "search_links", "update_links", "get_json"} \
        <= object_attributes()


def test_every_context_name_is_in_a_snippet() -> None:
    # The builtin exception classes are raised and caught, each of them, by the snippet that
    # test_compat_python.test_every_builtin_exception_class builds from the same enumeration.
    from tests.compat.test_compat_python import builtin_exception_names

    text = snippet_text()
    missing = sorted(name for name in context_names() - set(builtin_exception_names())
                     if not _used(rf"(?<![\w.]){re.escape(name)}\b", text))
    assert not missing, f"no snippet in tests/compat uses: {missing}"


def test_every_library_member_is_in_a_snippet() -> None:
    text = snippet_text()
    missing = sorted(member for member in library_members()
                     if not _used(rf"\b{re.escape(member)}\b", text))
    assert not missing, f"no snippet in tests/compat uses: {missing}"


def test_every_object_attribute_is_in_a_snippet() -> None:
    text = snippet_text()
    missing = sorted(name for name in object_attributes()
                     if not _used(rf"\.{re.escape(name)}\b", text))
    assert not missing, f"no snippet in tests/compat uses: {missing}"


def test_the_suite_holds_at_least_150_snippets() -> None:
    """Snippets are the task codes and handler bodies the tests run."""
    count = 0
    for path in sorted(HERE.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                count += 1
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.List):
                count += sum(isinstance(item, ast.Tuple) for item in node.value.elts)
    assert count >= 150, count
