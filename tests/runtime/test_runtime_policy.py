"""The sandbox policy: escape attempts are refused, at save time or at run time."""

from __future__ import annotations

import textwrap

import pytest

from connector.errors import CodeError
from worker.runtime import SandboxViolation, check_code
from worker.runtime.policy import compile_code, reset_code_cache

SECRET = "S3CR3T-VALUE-42"

# Protected code that keeps the secret in every place an escape would look for it: a closure,
# the function's globals, a generator frame, a class attribute and a private name.
PROTECTED = textwrap.dedent("""
    _token = secrets.TOKEN

    def make_signer():
        key = secrets.TOKEN
        def sign(text):
            return str(len(text + key))
        return sign

    sign = make_signer()

    def uses_secret():
        return len(secrets.TOKEN)

    def secret_gen():
        value = secrets.TOKEN
        yield len(value)

    def failing():
        raise ValueError("bad token " + secrets.TOKEN)

    class Holder:
        def __init__(self):
            self.size = len(_token)
""")


def task(body: str) -> str:
    return "def handle_cron():\n" + textwrap.indent(textwrap.dedent(body), "    ")


# Refused when the code is saved (and again when it runs).
COMPILE_TIME = {
    "dunder class/subclasses": "return ().__class__.__bases__[0].__subclasses__()",
    "generator frame walk": "g = (x for x in [1])\nreturn g.gi_frame.f_back.f_globals",
    "function globals": "return uses_secret.__globals__['secrets']",
    "closure cells": "return sign.__closure__[0].cell_contents",
    "func_globals spelling": "return sign.func_globals",
    "code object": "return (lambda: 0).__code__.co_consts",
    "traceback frames": ("try:\n    failing()\nexcept ValueError as e:\n"
                         "    return e.__traceback__.tb_frame.f_globals"),
    "tb_frame attribute": "try:\n    failing()\nexcept ValueError as e:\n    return e.tb_frame",
    "coroutine frame": "return sign.cr_frame",
    "async generator frame": "return sign.ag_frame",
    "builtins name": "return __builtins__",
    "dunder import": "return __import__('os')",
    "import in task": "import os\nreturn os.getcwd()",
    "from import in task": "from subprocess import run\nreturn run",
    "try except star": "try:\n    pass\nexcept* ValueError:\n    pass",
    "exec call": "exec('import os')",
    "eval call": "return eval('1')",
    "rebinding a guard": "_getattr_ = lambda o, n: 1",
    "rebinding print collector": "_print = 1",
    "f-string dunder": "return f'{sign.__globals__}'",
    "str.format field path": "return '{0.__class__}'.format(1)",
    "format_map field path": "return '{x.__globals__}'.format_map({'x': sign})",
    "str.format via the type": "return str.format('{0.__globals__}', sign)",
    "private attribute of env": "return env._client",
    "private attribute of records": "return env['res.partner']._env._cache",
    "dict of a wrapper": "return params.__dict__",
    "bound method self": "return env['res.partner'].search.__self__",
    "async def": "async def f():\n    pass",
    "nonlocal": "x = 1\ndef f():\n    nonlocal x\n    x = 2",
}


@pytest.mark.parametrize("body", COMPILE_TIME.values(), ids=COMPILE_TIME.keys())
def test_refused_at_save_time(body: str, run) -> None:
    with pytest.raises(CodeError) as info:
        check_code(task(body), "task", allowlist=())
    assert info.value.lineno is not None and info.value.lineno >= 2
    with pytest.raises(CodeError):
        run(task(body), protected_code=PROTECTED, secrets={"TOKEN": SECRET})


# Pass the compile-time checks (computed names, allowed spellings) but are refused at run time.
RUN_TIME = {
    "computed dunder": ("return getattr((), '__cla' + 'ss__')", SandboxViolation),
    "computed globals": ("return getattr(uses_secret, '__glo' + 'bals__')", SandboxViolation),
    "computed closure": ("return getattr(sign, '__clo' + 'sure__')", SandboxViolation),
    # A generator does not leave protected code at all.
    "computed gi_frame": ("g = secret_gen()\nreturn getattr(g, 'gi_' + 'frame')", TypeError),
    "hasattr on private": ("return hasattr(sign, '__' + 'globals__') or 'refused'", None),
    "computed str.format field path": ("t = '{0.__cla' + 'ss__}'\nreturn t.format(1)",
                                       SandboxViolation),
    "computed format_map field path": (
        "t = '{x.__glo' + 'bals__}'\nreturn t.format_map({'x': sign})", SandboxViolation),
    "computed format": ("return getattr('{0.__class__}', 'for' + 'mat')(1)", SandboxViolation),
    "AttributeError.obj": ("try:\n    env.nothing_here\nexcept AttributeError as e:\n"
                           "    return e.obj", (SandboxViolation, AttributeError)),
    "AttributeError.obj of a failed lookup": (
        "try:\n    (1).nope\nexcept AttributeError as e:\n    return getattr(e, 'obj')",
        SandboxViolation),
    "type() trick": ("return type(sign)", NameError),
    "vars()": ("return vars(sign)", NameError),
    "dir()": ("return dir(env)", NameError),
    "globals()": ("return globals()", NameError),
    "open()": ("return open('/etc/passwd').read()", NameError),
    "compile()": ("return compile('1', 'x', 'eval')", NameError),
    "secrets in task code": ("return secrets.TOKEN", NameError),
    "private name of protected code": ("return _token", NameError),
    "mro walk": ("return int.mro()", SandboxViolation),
    "computed private of env": ("return getattr(env, '_cli' + 'ent')", SandboxViolation),
    "computed private of a record": ("return getattr(env.user, '_' + 'env')", SandboxViolation),
    "mapped with private path": ("return env['res.partner'].search([]).mapped('_env')",
                                 AttributeError),
    "record item with private key": ("return env.user['_env']", AttributeError),
    "namespace internals": ("return getattr(params, '_val' + 'ues')", SandboxViolation),
    "json module internals": ("return json.codecs.open", AttributeError),
    "dateutil module internals": ("return dateutil.parser.os", AttributeError),
    "write attribute on env": ("env.client = 1", TypeError),
    "write attribute on records": ("env.user.name = 'x'", TypeError),
    "write attribute on params": ("params.X = 1", TypeError),
    "write attribute on a function": ("log.level = 1", TypeError),
    "item write on records": ("r = env['res.partner']\nr[0] = 1", TypeError),
    "setattr builtin": ("setattr(env, 'x', 1)", NameError),
}


@pytest.mark.parametrize(("body", "error"), RUN_TIME.values(), ids=RUN_TIME.keys())
def test_refused_at_run_time(body: str, error, run) -> None:
    check_code(task(body), "task", allowlist=())  # passes the save-time check
    if error is None:
        assert run(task(body), protected_code=PROTECTED, secrets={"TOKEN": SECRET}) == "refused"
        return
    with pytest.raises(error) as info:
        run(task(body), protected_code=PROTECTED, secrets={"TOKEN": SECRET})
    assert SECRET not in str(info.value)


def test_at_least_25_escape_attempts_are_covered() -> None:
    assert len(COMPILE_TIME) + len(RUN_TIME) >= 25


def test_granted_string_formatter_reads_fields_through_the_guard(run) -> None:
    protected = ("import string\ndef fmt(t):\n    return string.Formatter().format(t, 1)\n")
    with pytest.raises(SandboxViolation, match="format field"):
        run(task("return fmt('{0.__cla' + 'ss__}')"), protected_code=protected,
            allowlist=("string:Formatter",))


def test_operator_attrgetter_is_refused_even_when_operator_is_allowed(run) -> None:
    protected = "import operator as _op\ngetter = _op.attrgetter('__globals__')\n"
    with pytest.raises(SandboxViolation, match="not available"):
        run(task("return 1"), protected_code=protected, allowlist=("operator:attrgetter",))


def test_from_import_of_a_foreign_module_is_refused(run) -> None:
    # json is allowed, but ``from json import codecs`` would hand over the codecs module.
    with pytest.raises(CodeError, match="json.codecs is not in the import allow-list"):
        run(task("return 1"), protected_code="from json import codecs\n", allowlist=("json",))


def test_submodule_outside_allowlist_is_refused(run) -> None:
    protected = "import json as _json\ndef opener():\n    return _json.codecs.open\n"
    with pytest.raises(SandboxViolation, match="allow-list"):
        run(task("return opener()"), protected_code=protected, allowlist=("json",))


def test_allowed_import_works_in_protected_code(run) -> None:
    protected = "import hashlib as _hashlib\ndef digest(s):\n" \
                "    return _hashlib.sha256(s.encode()).hexdigest()[:6]\n"
    assert run(task("return digest('a')"), protected_code=protected,
               allowlist=("hashlib",)) == "ca9781"


def test_builtins_tampering_stays_in_the_task(run) -> None:
    body = "global len\nlen = lambda x: 999\nreturn len('ab'), uses_secret()"
    assert run(task(body), protected_code=PROTECTED, secrets={"TOKEN": SECRET}) == (
        999, len(SECRET))


def test_generator_from_protected_code_cannot_be_walked(run) -> None:
    body = "g = secret_gen()\nreturn next(g), getattr(g, 'gi_yield' + 'from', 'refused')"
    with pytest.raises(TypeError, match="generator"):
        run(task(body), protected_code=PROTECTED, secrets={"TOKEN": SECRET})


def test_user_classes_and_containers_are_writable(run) -> None:
    body = """
    class Point:
        def __init__(self, x):
            self.x = x
    p = Point(1)
    p.x = p.x + 1
    d = {}
    d['a'] = [1]
    d['a'].append(2)
    items = [0]
    items[0] = 5
    total = 0
    for a, b in [(1, 2), (3, 4)]:
        total += a * b
    return p.x, d, items, total
    """
    assert run(task(body)) == (2, {"a": [1, 2]}, [5], 14)


def test_print_goes_to_the_log(run) -> None:
    run(task("print('hello', 42)\nreturn None"))
    assert ("info", "hello 42") in run.logs


# -- check_code -------------------------------------------------------------------------------


def test_syntax_error_has_line_and_column() -> None:
    with pytest.raises(CodeError) as info:
        check_code("x = 1\nif x\n    pass\n")
    assert (info.value.lineno, info.value.col) == (2, 5)
    assert "syntax error" in str(info.value) and "line 2, column 5" in str(info.value)


def test_forbidden_attribute_has_line_and_column() -> None:
    with pytest.raises(CodeError) as info:
        check_code("def handle_cron():\n    return env.user.__class__\n")
    assert (info.value.lineno, info.value.col) == (2, 12)
    assert "__class__" in str(info.value)


def test_compile_errors_of_the_compiler_itself_have_positions() -> None:
    with pytest.raises(CodeError) as info:
        check_code("x = 1\nreturn x\n")
    assert info.value.lineno == 2


def test_require_handler() -> None:
    with pytest.raises(CodeError, match="handle_cron"):
        check_code("def helper():\n    pass\n", require_handler=True)
    check_code("def handle_button(data):\n    pass\n", require_handler=True)
    check_code("def helper():\n    pass\n", "common")  # common code needs no handler


def test_import_allowlist_in_protected_code() -> None:
    check_code("import hashlib as _h\nfrom base64 import b64encode\n", "protected",
               allowlist=("hashlib", "base64"))
    with pytest.raises(CodeError, match="allow-list") as info:
        check_code("import json\nimport os\n", "protected", allowlist=("json",))
    assert (info.value.lineno, info.value.col) == (2, 1)
    with pytest.raises(CodeError, match="only allowed in protected code"):
        check_code("import json\n", "common", allowlist=("json",))
    with pytest.raises(CodeError, match="relative"):
        check_code("from . import x\n", "protected", allowlist=("x",))


def test_try_star_is_refused_with_position() -> None:
    code = "def handle_cron():\n    try:\n        pass\n    except* ValueError:\n        pass\n"
    with pytest.raises(CodeError, match=r"except\*") as info:
        check_code(code)
    assert (info.value.lineno, info.value.col) == (2, 5)


def test_private_names_are_allowed_but_not_guards() -> None:
    check_code("_cache = {}\ndef _helper():\n    return _cache\n")
    for name in ("_getattr_", "__name__", "_print", "_tmp1"):
        with pytest.raises(CodeError):
            check_code(f"{name} = 1\n")


def test_record_name_attribute_is_readable_only_on_records(run) -> None:
    assert run(task("return env.user._name")) == "res.users"
    with pytest.raises(SandboxViolation):
        run(task("return log._name"))


def test_compiled_code_is_cached() -> None:
    source = "def handle_cron():\n    return 1\n"
    first = compile_code(source, "task", allowlist=())
    assert compile_code(source, "task", allowlist=()) is first
    assert compile_code(source, "common", allowlist=()) is not first
    reset_code_cache()
    assert compile_code(source, "task", allowlist=()) is not first


def test_unknown_layer_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        check_code("x = 1", "somewhere")
