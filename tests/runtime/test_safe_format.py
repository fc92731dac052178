"""``str.format``, ``format_map`` and ``string.Formatter`` in the sandbox: Python's format-string
language, with field paths read through the sandbox's getattr; literal format strings with a
forbidden field are refused when the code is saved, with their line and column."""

from __future__ import annotations

import textwrap

import pytest

from connector.errors import CodeError
from worker.runtime import SandboxViolation, check_code
from worker.runtime.isolation import Limits, run_isolated

LIMITS = Limits(cpu_seconds=5, memory_mb=200, wall_seconds=30)


def task(body: str) -> str:
    return "def handle_cron():\n" + textwrap.indent(textwrap.dedent(body), "    ")


def run(body: str, protected: str = "", allowlist: tuple[str, ...] = ()) -> object:
    return run_isolated(connection=None, limits=LIMITS, task_code=task(body),
                        handler="handle_cron", protected_code=textwrap.dedent(protected),
                        allowlist=allowlist)


WORKS = {
    "automatic numbering": ("return '{} + {} = {}'.format(1, 2, 3)", "1 + 2 = 3"),
    "manual numbering": ("return '{1}{0}{1}'.format('a', 'b')", "bab"),
    "keywords": ("return 'Hello {name}!'.format(name='Ann')", "Hello Ann!"),
    "index and key": ("row = {'id': 7, 'tags': ['a', 'b']}\n"
                      "return '{0[id]}:{0[tags][1]}'.format(row)", "7:b"),
    "public attribute": ("d = datetime.date(2024, 3, 5)\n"
                         "return '{0.year}-{0.month:02d} {d.day}'.format(d, d=d)", "2024-03 5"),
    "attribute of a user class": (
        "class Point:\n    def __init__(self, x):\n        self.x = x\n"
        "return '{p.x:>4}|'.format(p=Point(3))", "   3|"),
    "format specs": ("return '{:,.2f}|{:>6}|{:<4}|{:^5}|{:08.3f}|{:x}|{:.0%}'.format("
                     "1234.5, 'ab', 'c', 'd', 3.14159, 255, 0.5)",
                     "1,234.50|    ab|c   |  d  |0003.142|ff|50%"),
    "date spec": ("return '{:%d/%m/%Y %H:%M}'.format(datetime.datetime(2024, 3, 5, 9, 7))",
                  "05/03/2024 09:07"),
    "conversions": ("return '{0!r} {0!s} {1!a}'.format('x', 'é')", "'x' x '\\xe9'"),
    "nested spec": ("return '[{0:>{width}}]'.format('ab', width=5)", "[   ab]"),
    "escaped braces": ("return '{{literal}} {}'.format(1)", "{literal} 1"),
    "str.format on the type": ("return str.format('{}-{}', 'a', 'b')", "a-b"),
    "format_map": ("return '{name} ({id})'.format_map({'name': 'Ann', 'id': 3})", "Ann (3)"),
    "format_map on the type": ("return str.format_map('{a}', {'a': 1})", "1"),
    "format_map with a mapping of records' values": (
        "rows = [{'name': 'Ann', 'ref': 'A1'}, {'name': 'Bob', 'ref': 'B2'}]\n"
        "return ['{ref}: {name}'.format_map(r) for r in rows]", ["A1: Ann", "B2: Bob"]),
    "bound method kept": ("fmt = 'Order {}'.format\nreturn [fmt(i) for i in (1, 2)]",
                          ["Order 1", "Order 2"]),
    "unpacked arguments": ("args = [1, 2]\nopts = {'k': 3}\n"
                           "return '{}{}{k}'.format(*args, **opts)", "123"),
    "computed template": ("t = '{' + '0.real' + '}'\nreturn t.format(5)", "5"),
    "getattr of format": ("return getattr('{}!', 'format')('hi')", "hi!"),
    "params in a template": ("return '{0}'.format(params.get('MISSING', 'none'))", "none"),
}


@pytest.mark.parametrize(("body", "expected"), WORKS.values(), ids=WORKS.keys())
def test_format_works_as_in_python(body: str, expected: object) -> None:
    check_code(task(body), "task", allowlist=())
    assert run(body) == expected


ERRORS_AS_IN_PYTHON = {
    "missing key": ("t = '{a}'\nreturn t.format(b=1)", KeyError),
    "missing index": ("t = '{1}'\nreturn t.format(0)", IndexError),
    "mixed numbering": ("t = '{}{0}'\nreturn t.format(1)", ValueError),
    "unpacked too few": ("args = [1]\nreturn '{}{}'.format(*args)", IndexError),
    "unknown attribute": ("return '{0.nope}'.format(1)", AttributeError),
    "bad spec": ("return '{:d}'.format('x')", ValueError),
}


@pytest.mark.parametrize(("body", "error"), ERRORS_AS_IN_PYTHON.values(),
                         ids=ERRORS_AS_IN_PYTHON.keys())
def test_format_errors_are_python_errors(body: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        run(body)


REFUSED_AT_SAVE = {
    "dunder attribute": ("x = '{0.__class__}'.format(1)", "{0.__class__}", 5),
    "private attribute": ("x = 'a {r._env}'.format(r=1)", "_env", 5),
    "format_map": ("x = '{f.__globals__}'.format_map({'f': len})", "__globals__", 5),
    "on the type": ("x = str.format('{0.__class__.__bases__}', 1)", "__class__", 16),
    "frame attribute": ("x = '{0.gi_frame}'.format(g)", "gi_frame", 5),
    "in a nested spec": ("x = '{0:{1.__class__}}'.format(1, 2)", "__class__", 5),
    "malformed": ("x = 'total: {'.format(1)", "malformed", 5),
    "unknown conversion": ("x = '{0!z}'.format(1)", "conversion", 5),
    "too few arguments": ("x = '{} and {}'.format(y)", "passes 1 positional argument", 5),
    "index past the arguments": ("x = '{0}{2}'.format(y, y)", "{2} number 3 has no argument",
                                 5),
    "missing keyword": ("x = '{name} <{email}>'.format(name=y)", "pass email=", 5),
    "mixed numbering": ("x = '{}{0}'.format(y, y)", "mixes automatic", 5),
    "missing argument via the type": ("x = str.format('{}-{}', y)", "has no argument", 16),
}


@pytest.mark.parametrize(("line", "needle", "col"), REFUSED_AT_SAVE.values(),
                         ids=REFUSED_AT_SAVE.keys())
@pytest.mark.parametrize("where", ["task", "common", "protected"])
def test_literal_format_string_with_forbidden_field_is_refused_when_saved(
        where: str, line: str, needle: str, col: int) -> None:
    source = "def handle_cron():\n    y = 1\n    " + line + "\n"
    with pytest.raises(CodeError) as info:
        check_code(source, where, allowlist=())
    assert needle in str(info.value)
    assert (info.value.lineno, info.value.col) == (3, col + 4)


REFUSED_AT_RUN = {
    "computed dunder": ("t = '{0.__cla' + 'ss__}'\nreturn t.format(1)", "{0.__class__}"),
    "computed format_map": ("t = '{f.__glo' + 'bals__}'\nreturn t.format_map({'f': log})",
                            "__globals__"),
    "computed frame attribute": ("t = '{0.gi_' + 'frame}'\ng = (i for i in [1])\n"
                                 "return t.format(g)", "gi_frame"),
    "computed mro": ("return ('{0.m' + 'ro}').format(int)", "mro"),
    "computed nested": ("return ('{0:{1.__cla' + 'ss__}}').format(1, 2)", "__class__"),
}


@pytest.mark.parametrize(("body", "needle"), REFUSED_AT_RUN.values(), ids=REFUSED_AT_RUN.keys())
def test_computed_format_string_with_forbidden_field_is_refused_when_run(body: str,
                                                                       needle: str) -> None:
    check_code(task(body), "task", allowlist=())
    with pytest.raises(SandboxViolation) as info:
        run(body)
    assert needle in str(info.value) and "format field" in str(info.value)


PROTECTED = """
from string import Formatter, Template

class Shout(Formatter):
    def format_field(self, value, spec):
        return format(value, spec).upper()

def shout(template, *args, **kwargs):
    return Shout().format(template, *args, **kwargs)

def plain(template, *args):
    return Formatter().vformat(template, args, {})

def fields(template):
    return [field for _, field, _, _ in Formatter().parse(template)]

def fill(template, **values):
    return Template(template).substitute(**values)
"""


def test_string_formatter_of_the_allow_list_is_the_safe_one() -> None:
    result = run("return [shout('{0[a]} {x.year}!', {'a': 'hi'}, x=datetime.date(2024, 1, 1)),"
                 " plain('{0:>3}|{1!r}', 7, 'b'), fields('a{x}b{y:>2}'), fill('$a-$b', a=1, b=2)]",
                 PROTECTED, ("string",))
    assert result == ["HI 2024!", "  7|'b'", ["x", "y"], "1-2"]
    with pytest.raises(SandboxViolation, match="format field"):
        run("return plain('{0.__cla' + 'ss__}', 1)", PROTECTED, ("string",))
    with pytest.raises(SandboxViolation, match="format field"):
        run("return shout('{0.__cla' + 'ss__}', 1)", PROTECTED, ("string",))
