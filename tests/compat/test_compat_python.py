"""Everyday Python in task code: comprehensions, sorting, JSON, dicts and sets, exceptions,
small classes and generators, and the helpers protected code imports (re, math, hashlib)."""

from __future__ import annotations

import pytest

VALUES = [
    ("return [x * x for x in range(5) if x % 2 == 0]", [0, 4, 16]),
    ("return {k: v for k, v in zip('abc', range(3))}", {"a": 0, "b": 1, "c": 2}),
    ("return sorted({x % 3 for x in range(10)})", [0, 1, 2]),
    ("return sum(x for x in range(101))", 5050),
    ("return [[i, j] for i in range(2) for j in range(2) if i != j]", [[0, 1], [1, 0]]),
    ("rows = [{'n': 'b', 'q': 2}, {'n': 'a', 'q': 2}, {'n': 'c', 'q': 1}]\n"
     "return [r['n'] for r in sorted(rows, key=lambda r: (-r['q'], r['n']))]", ["a", "b", "c"]),
    ("return sorted(['b', 'A', 'c'], key=str.lower, reverse=True)", ["c", "b", "A"]),
    ("data = [3, 1, 2]\ndata.sort()\nreturn data", [1, 2, 3]),
    ("return list(reversed([1, 2, 3])), max([3, 7, 5]), min('bca')", [[3, 2, 1], 7, "a"]),
    ("return max([{'v': 1}, {'v': 3}], key=lambda d: d['v'])", {"v": 3}),
    ("return list(map(str, [1, 2])), list(filter(None, [0, 1, '', 'x']))",
     [["1", "2"], [1, "x"]]),
    ("return list(enumerate('ab', start=1))", [[1, "a"], [2, "b"]]),
    ("return any(x > 2 for x in [1, 3]), all([]), all([1, 0])", [True, True, False]),
    ("return divmod(17, 5), pow(2, 10), abs(-3), round(2.675, 2), round(7.5)",
     [[3, 2], 1024, 3, 2.67, 8]),
    ("return int('0x1f', 16), int('101', 2), float('1e3'), bin(5), hex(255), oct(8)",
     [31, 5, 1000.0, "0b101", "0xff", "0o10"]),
    ("counts = {}\nfor word in 'a b a c a'.split():\n    counts[word] = counts.get(word, 0) + 1\n"
     "return counts", {"a": 3, "b": 1, "c": 1}),
    ("groups = {}\nfor name in ['ann', 'bob', 'al']:\n"
     "    groups.setdefault(name[0], []).append(name)\nreturn groups",
     {"a": ["ann", "al"], "b": ["bob"]}),
    ("d = {'a': 1, 'b': 2}\nd.update(c=3)\nd.pop('a')\nreturn sorted(d.items())",
     [["b", 2], ["c", 3]]),
    ("merged = {**{'a': 1}, **{'a': 2, 'b': 3}}\nreturn merged", {"a": 2, "b": 3}),
    ("pairs = dict(zip(['a', 'b'], [1, 2]))\nreturn dict(pairs, c=3), dict.fromkeys('xy', 0)",
     [{"a": 1, "b": 2, "c": 3}, {"x": 0, "y": 0}]),
    ("return sorted(set([1, 2, 3]) - {2} | {5}), sorted({1, 2} & {2, 3}), {1} ^ {2} == {1, 2}",
     [[1, 3, 5], [2], True]),
    ("return sorted(frozenset('aab')), tuple([1, 2]) + (3,), list('ab') * 2",
     [["a", "b"], [1, 2, 3], ["a", "b", "a", "b"]]),
    ("a, *rest = [1, 2, 3]\n(x, y), z = (4, 5), 6\nreturn a, rest, x + y + z", [1, [2, 3], 15]),
    ("items = list(range(10))\nreturn items[2:8:2], items[-3:], items[::-1][:2]",
     [[2, 4, 6], [7, 8, 9], [9, 8]]),
    ("chunks = [list(range(7))[i:i + 3] for i in range(0, 7, 3)]\nreturn chunks",
     [[0, 1, 2], [3, 4, 5], [6]]),
    ("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\nreturn fib(15)", 610),
    ("def gen(n):\n    for i in range(n):\n        yield i * 10\nreturn list(gen(3))",
     [0, 10, 20]),
    ("it = iter([1, 2])\nreturn next(it), next(it), next(it, 'end')", [1, 2, "end"]),
    ("def add(a, b=2, *args, **kw):\n    return a + b + sum(args) + sum(kw.values())\n"
     "return add(1), add(1, 1, 1, x=1)", [3, 4]),
    ("class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n"
     "    def norm1(self):\n        return abs(self.x) + abs(self.y)\n"
     "return Point(3, -4).norm1()", 7),
    ("class Money:\n    def __init__(self, cents):\n        self.cents = cents\n"
     "    @property\n    def euros(self):\n        return self.cents / 100\n"
     "    @staticmethod\n    def zero():\n        return Money(0)\n"
     "return Money(250).euros, Money.zero().cents", [2.5, 0]),
    ("class Fail(Exception):\n    pass\ntry:\n    raise Fail('boom')\nexcept Fail as exc:\n"
     "    return str(exc)", "boom"),
    ("try:\n    {}['x']\nexcept KeyError as exc:\n    return 'missing %s' % exc", "missing 'x'"),
    ("try:\n    int('x')\nexcept (TypeError, ValueError):\n    return 'bad'\nfinally:\n"
     "    pass", "bad"),
    ("try:\n    1 / 0\nexcept ZeroDivisionError:\n    return 'div'\nelse:\n    return 'no'",
     "div"),
    ("result = []\nfor i in range(5):\n    if i == 1:\n        continue\n    if i == 3:\n"
     "        break\n    result.append(i)\nelse:\n    result.append('never')\nreturn result",
     [0, 2]),
    ("n = 0\nwhile n < 5:\n    n += 2\nreturn n", 6),
    ("x = 5\nreturn 'big' if x > 3 else 'small'", "big"),
    ("return isinstance(1, (int, float)), issubclass(bool, int), callable(len)",
     [True, True, True]),
    ("return hasattr('x', 'upper'), getattr('x', 'upper')(), getattr(1, 'nope', 'dflt')",
     [True, "X", "dflt"]),
    ("return len({'a': 1}), bool([]), str(None), list(range(3, 0, -1))",
     [1, False, "None", [3, 2, 1]]),
    ("return complex(1, 2).imag, hash('a') == hash('a'), id(1) == id(1)", [2.0, True, True]),
    ("return [x for x in slice(1, 5, 2).indices(10)]", [1, 5, 2]),
    ("return object() is not None, type2str(object())[:15]", [True, "<class 'object'"]),
    ("price = 19.999\nreturn round(price, 2), int(price), float('%.1f' % price)",
     [20.0, 19, 20.0]),
    ("matrix = [[1, 2], [3, 4]]\nreturn [list(row) for row in zip(*matrix)]", [[1, 3], [2, 4]]),
    ("words = ['apple', 'Bob', 'cat']\nreturn sorted(words, key=len), sorted(words)",
     [["Bob", "cat", "apple"], ["Bob", "apple", "cat"]]),
    ("return (lambda a, b: a * b)(6, 7)", 42),
    ("class classy:\n    @classmethod\n    def make(cls):\n        return 'made'\n"
     "return classy.make()", "made"),
]


@pytest.mark.parametrize(("body", "expected"), VALUES, ids=[str(i) for i in range(len(VALUES))])
def test_python_snippet(compat, body, expected):
    assert compat.value(body) == expected


@pytest.mark.parametrize("body", [
    "totals = {'a': 0}\nfor amount in [1, 2]:\n    totals['a'] += amount\nreturn totals['a']",
    "counter = [0]\ndef bump():\n    counter[0] += 1\nbump()\nbump()\nreturn counter[0] + 1",
    "rows = [[1], [2]]\ncalls = []\ndef pick():\n    calls.append(1)\n    return 0\n"
    "rows[pick()] += [2]\nreturn rows[0][1] + len(calls)",
    "text = ['a', 'b', 'c']\ntext[1:] += ['d']\nreturn len(text) - 1",
])
def test_augmented_assignment_of_items(compat, body):
    assert compat.value(body) == 3


JSON = [
    ("return json.dumps({'b': 1, 'a': [1, 2]}, sort_keys=True)", '{"a": [1, 2], "b": 1}'),
    ("return json.loads('{\"a\": [1, 2.5, null, true]}')", {"a": [1, 2.5, None, True]}),
    ("return json.dumps({'name': 'café'}, ensure_ascii=False)", '{"name": "café"}'),
    ("return json.dumps([1, 2], indent=2)", "[\n  1,\n  2\n]"),
    ("try:\n    json.loads('{bad')\nexcept json.JSONDecodeError as exc:\n"
     "    return 'bad json at %d' % exc.pos", "bad json at 1"),
    ("return json.dumps({'when': datetime.date(2024, 1, 1)}, default=str)",
     '{"when": "2024-01-01"}'),
    ("payload = json.loads(json.dumps({'n': 1}))\npayload['n'] = payload['n'] + 1\n"
     "return payload", {"n": 2}),
    ("return json.dumps(None), json.loads('\"x\"'), json.dumps('é')", ["null", "x", '"\\u00e9"']),
]


@pytest.mark.parametrize(("body", "expected"), JSON, ids=[str(i) for i in range(len(JSON))])
def test_json_snippet(compat, body, expected):
    assert compat.value(body) == expected


PROTECTED = """
import re
import math
import hashlib
import hmac
import base64 as _base64
from math import ceil

def find_all(pattern, text):
    return re.findall(pattern, text)

def substitute(pattern, repl, text):
    return re.sub(pattern, repl, text)

def is_email(text):
    return bool(re.match(r"^[^@\\s]+@[^@\\s]+\\.\\w+$", text))

def pages(count, size):
    return ceil(count / size)

def hypot(a, b):
    return math.sqrt(a * a + b * b)

def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()

def sign(key, text):
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()

def b32(text):
    return _base64.b32encode(text.encode()).decode()
"""

HELPERS = [
    ("return find_all(r'\\d+', 'order 12 line 3')", ["12", "3"]),
    ("return substitute(r'\\s+', ' ', 'a   b\\n c')", "a b c"),
    ("return [is_email('ada@example.com'), is_email('not an email')]", [True, False]),
    ("return pages(101, 50)", 3),
    ("return hypot(3, 4)", 5.0),
    ("return sha256('abc')[:12]", "ba7816bf8f01"),
    ("return len(sign('key', 'body'))", 64),
    ("return b32('a')", "ME======"),
]


@pytest.mark.parametrize(("body", "expected"), HELPERS, ids=[str(i) for i in range(len(HELPERS))])
def test_protected_code_imports_serve_task_code(compat, body, expected):
    """Regex, math and hashing: protected code imports them and exposes functions."""
    assert compat.value(body, protected=PROTECTED) == expected


def test_import_in_task_code_is_refused_at_save_time_with_a_hint(compat):
    from connector.projects import ProjectFileError

    with pytest.raises(ProjectFileError, match="protected"):
        compat.install("import re\n\ndef handle_button():\n    return re.findall('a', 'aa')\n")


def test_common_code_functions_reach_the_task(compat):
    common = "PREFIX = 'SO'\n\ndef order_ref(n):\n    return '%s%05d' % (PREFIX, n)\n"
    assert compat.value("return order_ref(42)", common=common) == "SO00042"


def test_common_code_private_names_stay_private(compat):
    common = "_hidden = 1\nvisible = 2\n"
    run = compat.button("def handle_button():\n    return visible + _hidden\n", common=common)
    assert run.state == "failed"
    assert "_hidden" in run.error


def builtin_exception_names() -> list[str]:
    """The exception classes among the sandbox's builtins."""
    from worker.runtime.guards import layer_globals

    builtins = layer_globals("task", emit_print=print)["__builtins__"]
    return sorted(name for name, value in builtins.items()
                  if isinstance(value, type) and issubclass(value, BaseException))


def test_every_builtin_exception_class(compat):
    """Each builtin exception class of the sandbox can be raised and caught by name."""
    names = builtin_exception_names()
    assert {"ValueError", "KeyError", "StopIteration", "RuntimeError"} <= set(names)
    special = {"UnicodeDecodeError": "'utf-8', b'x', 0, 1, 'bad'",
               "UnicodeEncodeError": "'ascii', 'x', 0, 1, 'bad'",
               "UnicodeTranslateError": "'x', 0, 1, 'bad'"}
    body = "seen = []\n" + "".join(
        f"try:\n    raise {name}({special.get(name, repr('x'))})\nexcept {name}:\n"
        f"    seen.append({name!r})\n" for name in names) + "return seen"
    assert compat.value(body) == names
