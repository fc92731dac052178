"""The standard library behaves as in Python inside the sandbox.

C functions such as ``datetime.strftime`` import modules when first called, through the
``__import__`` of the *calling frame's* builtins: user code's. Each snippet runs in a fresh
sandbox process (a pool whose processes serve one job), so nothing that ran earlier in the
process can hide a failure; the order tests run several snippets in one process both ways.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator

import pytest

from connector.errors import CodeError
from worker.runtime import SandboxViolation, check_code
from worker.runtime.guards import check_value, layer_globals
from worker.runtime.isolation import Limits
from worker.runtime.pool import SandboxPool

LIMITS = Limits(cpu_seconds=10, memory_mb=300, wall_seconds=60)
ALLOWLIST = ("re", "math", "decimal:Decimal|ROUND_HALF_UP|localcontext",
             "calendar:monthrange|timegm|isleap|month_name|day_abbr",
             "zoneinfo:ZoneInfo", "string:Template|capwords")


@pytest.fixture(scope="module")
def fresh() -> Iterator[SandboxPool]:
    """A pool whose every job gets a process of its own (forked from the template)."""
    with SandboxPool(max_size=1, max_jobs=1) as pool:
        yield pool


def task(body: str) -> str:
    return "def handle_cron():\n" + textwrap.indent(textwrap.dedent(body), "    ")


def run(pool: SandboxPool, body: str, protected: str = "") -> object:
    return pool.run(connection=None, limits=LIMITS, task_code=task(body),
                    handler="handle_cron", protected_code=textwrap.dedent(protected),
                    allowlist=ALLOWLIST)


# (task code, expected result): what an Odoo developer writes, in task code.
TASK_SNIPPETS = {
    "datetime.strftime": ("return datetime.datetime(2024, 3, 5, 14, 7).strftime("
                          "DEFAULT_SERVER_DATETIME_FORMAT)", "2024-03-05 14:07:00"),
    "date.strftime": ("return datetime.date(2024, 3, 5).strftime('%d/%m/%Y')", "05/03/2024"),
    "time.strftime (datetime.time)": ("return datetime.time(9, 30).strftime('%H:%M')",
                                      "09:30"),
    "time module strftime": ("return time.strftime('%Y-%m-%d', time.gmtime(0))",
                             "1970-01-01"),
    "datetime.strptime": ("return datetime.datetime.strptime('2024-03-05 10:00:00', "
                          "DEFAULT_SERVER_DATETIME_FORMAT).isoformat()", "2024-03-05T10:00:00"),
    "strptime to date": ("return str(datetime.datetime.strptime('05.03.2024', '%d.%m.%Y')"
                         ".date())", "2024-03-05"),
    "time.strptime": ("return time.strptime('2024-060', '%Y-%j').tm_mon", 2),
    "timetuple": ("return datetime.date(2024, 12, 31).timetuple().tm_yday", 366),
    "utctimetuple": ("return datetime.datetime(2024, 1, 2, 3).utctimetuple().tm_hour", 3),
    "fromisoformat": ("return datetime.datetime.fromisoformat('2024-03-05T10:00:00+01:00')"
                      ".utcoffset().total_seconds()", 3600.0),
    "f-string date spec": ("d = datetime.date(2024, 3, 5)\nreturn f'{d:%A %d %B}'",
                           "Tuesday 05 March"),
    "format() builtin": ("return format(datetime.datetime(2024, 3, 5), '%Y%m%d')", "20240305"),
    "strftime in a key function": (
        "days = [datetime.date(2024, 1, d) for d in (3, 1, 2)]\n"
        "return sorted(days, key=lambda d: d.strftime('%d'))[0].isoformat()", "2024-01-01"),
    "json default calls strftime": (
        "return json.dumps({'at': datetime.datetime(2024, 3, 5, 1, 2)},"
        " default=lambda v: v.strftime('%Y-%m-%d %H:%M'))", '{"at": "2024-03-05 01:02"}'),
    "json default=str": ("return json.dumps([datetime.date(2024, 3, 5)], default=str)",
                         '["2024-03-05"]'),
    "zoneinfo strftime": (
        "d = datetime.datetime(2024, 7, 1, 12, tzinfo=timezone('Europe/Berlin'))\n"
        "return d.strftime('%H:%M %Z %z') + ' ' + d.astimezone(timezone('UTC')).strftime('%H')",
        "12:00 CEST +0200 10"),
    "dateutil relativedelta": (
        "d = datetime.date(2024, 1, 31) + dateutil.relativedelta.relativedelta(months=1)\n"
        "return d.strftime('%Y-%m-%d')", "2024-02-29"),
    "dateutil parser then strftime": (
        "return dateutil.parser.parse('5 March 2024 10:00').strftime('%d.%m.%Y %H:%M')",
        "05.03.2024 10:00"),
    "dateutil tz": ("return datetime.datetime(2024, 1, 1, tzinfo=dateutil.tz.gettz("
                    "'America/New_York')).strftime('%z')", "-0500"),
    "ctime and isoformat": ("d = datetime.datetime(2024, 3, 5, 1, 2)\n"
                            "return d.ctime() + '|' + d.isoformat(' ')",
                            "Tue Mar  5 01:02:00 2024|2024-03-05 01:02:00"),
    "locale-free number formatting": ("return '%.2f|%08.3f|%x|%e' % (2.675, 3.14159, 255, "
                                      "12345.678)", "2.67|0003.142|ff|1.234568e+04"),
    "f-string number specs": ("n = 1234567.891\nreturn f'{n:,.2f} {n:_.0f} {0.25:.0%}'",
                              "1,234,567.89 1_234_568 25%"),
}

# (protected code, task code, expected): modules the operator's allow-list grants.
PROTECTED_SNIPPETS = {
    "re template substitution": (
        "import re\n"
        "def dashed(text):\n"
        "    return re.compile(r'(\\d+)-(?P<b>\\d+)').sub(r'\\g<b>/\\1', text)\n"
        "def expanded(text):\n"
        "    return re.search(r'(a)(b)', text).expand(r'\\2\\1')\n",
        "return dashed('12-34') + ' ' + expanded('xab')", "34/12 ba"),
    "decimal": (
        "from decimal import Decimal, ROUND_HALF_UP\n"
        "def money(text):\n"
        "    value = Decimal(text).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)\n"
        "    return format(value, ',.2f') + ' ' + str(value * 3) + ' ' + f'{value:>10}'\n",
        "return money('1234.565')", "1,234.57 3703.71    1234.57"),
    "calendar": (
        "import calendar\n"
        "def last_day(year, month):\n"
        "    return calendar.monthrange(year, month)[1]\n"
        "def stamp(d):\n"
        "    return calendar.timegm(d.timetuple())\n"
        "def names():\n"
        "    return calendar.month_name[3] + calendar.day_abbr[0]\n",
        "return [last_day(2024, 2), stamp(datetime.datetime(1970, 1, 2)), names()]",
        [29, 86400, "MarchMon"]),
    "zoneinfo": (
        "from zoneinfo import ZoneInfo\n"
        "def local(text):\n"
        "    d = datetime.datetime.fromisoformat(text).astimezone(ZoneInfo('Asia/Tokyo'))\n"
        "    return d.strftime('%Y-%m-%d %H:%M %Z')\n",
        "return local('2024-03-05T23:30:00+00:00')", "2024-03-06 08:30 JST"),
    "strftime in protected code": (
        "import time\n"
        "def today_label(d):\n"
        "    return d.strftime('%a %d') + time.strftime(' %Y', d.timetuple())\n",
        "return today_label(datetime.date(2024, 3, 5))", "Tue 05 2024"),
    "string.Template": (
        "from string import Template, capwords\n"
        "def greet(name):\n"
        "    return Template('Hello $who').substitute(who=capwords(name))\n",
        "return greet('ann lee')", "Hello Ann Lee"),
}


@pytest.mark.parametrize(("body", "expected"), TASK_SNIPPETS.values(), ids=TASK_SNIPPETS.keys())
def test_task_code_stdlib_in_a_fresh_process(fresh: SandboxPool, body: str,
                                             expected: object) -> None:
    assert run(fresh, body) == expected


@pytest.mark.parametrize(("protected", "body", "expected"), PROTECTED_SNIPPETS.values(),
                         ids=PROTECTED_SNIPPETS.keys())
def test_granted_modules_in_a_fresh_process(fresh: SandboxPool, protected: str, body: str,
                                            expected: object) -> None:
    assert run(fresh, body, protected) == expected


ORDERS = {
    "strptime first": ["datetime.datetime.strptime('2024', '%Y')",
                       "datetime.date(2024, 1, 1).strftime('%Y')", "time.strptime('1', '%d')"],
    "strftime first": ["datetime.date(2024, 1, 1).strftime('%Y')",
                       "time.strptime('1', '%d')", "datetime.datetime.strptime('2024', '%Y')"],
    "time.strptime first": ["time.strptime('1', '%d')",
                            "datetime.datetime.strptime('2024', '%Y')",
                            "datetime.datetime(2024, 1, 1).timetuple()"],
}


@pytest.mark.parametrize("calls", ORDERS.values(), ids=ORDERS.keys())
def test_order_of_first_use_does_not_matter(calls: list[str]) -> None:
    with SandboxPool(max_size=1, max_jobs=len(calls)) as pool:
        results = [run(pool, f"return str({call})") for call in calls]
        assert pool.started == 1, "every call ran in the same process"
    assert all(isinstance(r, str) and r for r in results)


# -- the __import__ the sandbox exposes imports nothing for user code --------------------------

ATTACKS = {
    "__import__ call": "return __import__('os')",
    "builtins item": "return __builtins__['__import__']('os')",
    "builtins attribute": "return __builtins__.__import__('os').system('id')",
    "lazy-shaped call": "return __import__('os', None, None, [], 0)",
}


@pytest.mark.parametrize("where", ["task", "common", "protected"])
@pytest.mark.parametrize("body", ATTACKS.values(), ids=ATTACKS.keys())
def test_import_builtin_is_refused_when_saved(where: str, body: str) -> None:
    with pytest.raises(CodeError) as info:
        check_code(task(body), where, allowlist=ALLOWLIST)
    assert "__" in str(info.value) and "invalid" in str(info.value).lower()
    assert info.value.lineno == 2


def test_import_builtin_refuses_at_run_time_whoever_calls_it() -> None:
    """Were user code ever to reach it, the builtin imports nothing and returns no module."""
    task_import = layer_globals("task", emit_print=print)["__builtins__"]["__import__"]
    with pytest.raises(ImportError, match="only allowed in protected code"):
        task_import("os")
    with pytest.raises(ImportError, match="only allowed in protected code"):
        task_import("os", None, None, ("system",), 0)
    protected = layer_globals("protected", emit_print=print, allowlist=("re",))
    protected_import = protected["__builtins__"]["__import__"]
    with pytest.raises(ImportError, match="'os' is not in the import allow-list"):
        protected_import("os")
    with pytest.raises(ImportError, match="'subprocess' is not in the import allow-list"):
        protected_import("subprocess", None, None, ("run",), 0)
    # The loader request of C functions gives None, never the module ...
    assert task_import("os", None, None, [], 0) is None
    assert protected_import("re", None, None, [], 0) is None
    # ... and loads nothing beyond the standard modules C functions need.
    assert "antigravity" not in sys.modules
    with pytest.raises(ImportError, match="'antigravity', which the sandbox does not load"):
        task_import("antigravity", None, None, [], 0)
    assert "antigravity" not in sys.modules
    with pytest.raises(ImportError, match="relative import"):
        task_import("x", None, None, [], 1)
    # The guards refuse the builtin wherever it turns up as a value.
    with pytest.raises(SandboxViolation, match="not available in the sandbox"):
        check_value(task_import, '"__import__"')


def test_import_statement_in_protected_code_still_gives_facades(fresh: SandboxPool) -> None:
    result = run(fresh, "return shown()", """
        import re
        from math import floor
        def shown():
            return ['(facade:' in repr(re), floor(2.5), re.sub('a', 'b', 'aa')]
        """)
    assert result == [True, 2, "bb"]


def test_lazy_dependencies_are_loaded_before_any_job() -> None:
    """The template process imports them, so a sandbox's first strptime reads no file."""
    from worker.runtime.imports import LAZY_DEPENDENCIES

    pool = SandboxPool(max_size=1, max_jobs=1)
    pool._raw = True
    try:
        answer = pool._run_raw(
            "import sys\n"
            f"result = ','.join(n for n in {LAZY_DEPENDENCIES!r} if n not in sys.modules)")
    finally:
        pool.close()
    assert answer == {"result": ""}
