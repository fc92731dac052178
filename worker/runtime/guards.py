"""The run-time guards of the sandbox and the globals of each code layer.

RestrictedPython compiles ``a.b`` into ``_getattr_(a, "b")``, ``a[b] = c`` into
``_write_(a)[b] = c`` and so on (see :mod:`worker.runtime.policy`); this module supplies those
functions and the builtins. They are stricter than RestrictedPython's defaults: no attribute
starting with ``_`` (except ``record._name``), no frame/generator/traceback attributes,
``str.format`` field paths read through the same guard (:mod:`worker.runtime.formatting`), no
``AttributeError.obj``, no module outside the import allow-list
and none of the callables that would undo the guards (``type``, ``getattr``,
``operator.attrgetter`` …), whatever path leads to them.
"""

from __future__ import annotations

import builtins
import operator
import string
import types
from collections.abc import Callable, Iterable, MutableMapping, MutableSequence
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from worker.runtime.exceptions import SandboxViolation
from worker.runtime.formatting import FORMAT_METHODS, format_method, guarded_str_method
from worker.runtime.imports import SandboxImport

__all__ = [
    "BLOCKED_ATTRIBUTES", "LAYERS", "PUBLIC_PRIVATE_ATTRIBUTE", "USER_MODULE", "LogPrinter",
    "allow_name_attribute", "check_value", "guarded_write", "layer_globals", "safe_getattr",
]

LAYERS = ("protected", "common", "task")
# ``__name__`` of every layer's globals: classes defined by user code get it as ``__module__``,
# which is how the write guard recognises their instances.
USER_MODULE = "syncstudio.usercode"

# Attributes that lead to frames, code objects or the objects behind a failed lookup. The
# RestrictedPython list covers frames, tracebacks, generators and coroutines; we add the
# method resolution order and the Python 2 spellings people try first.
BLOCKED_ATTRIBUTES = frozenset(INSPECT_ATTRIBUTES) | {
    "mro", "func_globals", "func_closure", "func_code", "func_defaults", "im_func", "im_self",
    "im_class", "gi_running", "f_lasti", "f_lineno", "tb_lasti", "tb_lineno", "co_consts",
    "co_names",
}
_FORMATTER_METHODS = frozenset({"format", "vformat", "get_field", "get_value", "parse",
                                "convert_field", "format_field"})

# Callables that would undo the guards if user code ever got hold of them, whatever the path.
# Compared by identity: these objects live as long as the interpreter.
_FORBIDDEN_VALUES = frozenset(id(v) for v in (
    builtins.getattr, builtins.setattr, builtins.delattr, builtins.vars, builtins.dir,
    builtins.globals, builtins.locals, builtins.eval, builtins.exec, builtins.compile,
    builtins.open, builtins.__import__, builtins.type, builtins.breakpoint, builtins.input,
    builtins.memoryview, builtins.help, operator.attrgetter, operator.methodcaller,
    string.Formatter, types.FunctionType, types.CodeType, types.FrameType,
))
_FORBIDDEN_TYPES = (types.FrameType, types.TracebackType, types.CodeType, string.Formatter)

PUBLIC_PRIVATE_ATTRIBUTE = "_name"
_NAME_READABLE: set[type] = set()


def allow_name_attribute(cls: type) -> type:
    """Let user code read ``obj._name`` on instances of ``cls`` (a class decorator)."""
    _NAME_READABLE.add(cls)
    return cls


def check_where(where: str) -> None:
    """Refuse a layer name other than protected, common and task."""
    if where not in LAYERS:
        raise ValueError(f"where must be one of {', '.join(LAYERS)}, not {where!r}")


_RAISE = object()


def _refuse(message: str) -> SandboxViolation:
    return SandboxViolation(message)


def check_value(value: Any, what: str) -> Any:
    """Refuse values that would open a way out (modules, frames, guard-undoing callables …).

    No module object is ever handed to user code: ``import`` gives facades
    (:mod:`worker.runtime.facades`), so a module reached any other way is refused.
    """
    if id(value) in _FORBIDDEN_VALUES:
        raise _refuse(f"{what} is not available in the sandbox")
    if isinstance(value, types.ModuleType):
        raise _refuse(f"{what} is a module; modules are not available in the sandbox (import "
                      "gives protected code the facades of the import allow-list)")
    if isinstance(value, SandboxImport):
        raise _refuse(f"{what} is not available in the sandbox (__import__ serves the "
                      "library's own C functions only)")
    if isinstance(value, _FORBIDDEN_TYPES) or (
            isinstance(value, type) and issubclass(value, string.Formatter)):
        raise _refuse(f"{what} is not available in the sandbox")
    return value


def safe_getattr(obj: Any, name: Any, default: Any = _RAISE) -> Any:
    """``getattr`` for user code: no private names, frames, format paths or modules."""
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    if name.startswith("_") and not (name == PUBLIC_PRIVATE_ATTRIBUTE
                                     and type(obj) in _NAME_READABLE):
        raise _refuse(f'"{name}" is not accessible: attribute names starting with "_" are '
                      "private")
    if name in BLOCKED_ATTRIBUTES:
        raise _refuse(f'"{name}" is not accessible in the sandbox')
    if name in FORMAT_METHODS:
        # Python's own format reads field paths ('{0.__class__}') without our guard: user
        # code gets an implementation that reads them through it.
        if isinstance(obj, str):
            return format_method(obj, name)
        if isinstance(obj, type) and issubclass(obj, str):
            return guarded_str_method(name)
    if name in _FORMATTER_METHODS and (
            isinstance(obj, string.Formatter)
            or (isinstance(obj, type) and issubclass(obj, string.Formatter))):
        raise _refuse("string.Formatter is not available in the sandbox")
    if name == "obj" and isinstance(obj, BaseException):
        # AttributeError.obj is the object a lookup failed on, possibly a runtime internal.
        raise _refuse('"obj" of exceptions is not accessible in the sandbox')
    if isinstance(obj, types.ModuleType):
        raise _refuse(f"module {obj.__name__!r} is not available in the sandbox")
    try:
        value = getattr(obj, name)
    except SandboxViolation as exc:
        if default is _RAISE:
            raise SandboxViolation(str(exc)) from None
        return default
    except AttributeError as exc:
        if default is _RAISE:
            # Raise a fresh error: the interpreter's one carries ``obj`` and a traceback.
            raise AttributeError(str(exc)) from None
        return default
    return check_value(value, f'"{name}"')


def _is_user_object(obj: Any) -> bool:
    return getattr(type(obj), "__module__", None) == USER_MODULE


def guarded_write(obj: Any) -> Any:
    """Allow item and attribute writes only on containers and objects of user-defined classes."""
    if isinstance(obj, (dict, list, bytearray)) or _is_user_object(obj):
        return obj
    cls = type(obj)
    if (isinstance(obj, (MutableMapping, MutableSequence))
            and not cls.__module__.startswith("worker.runtime")):
        return obj
    raise TypeError(f"cannot assign to attributes or items of {cls.__name__} objects in the "
                    "sandbox (records: use .write({...}))")


_INPLACE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "|=": operator.ior, "^=": operator.ixor, "&=": operator.iand,
    "//=": operator.ifloordiv, "@=": operator.imatmul,
}


def guarded_inplacevar(op: str, target: Any, value: Any) -> Any:
    """``x += y`` and friends on names."""
    try:
        func = _INPLACE_OPERATORS[op]
    except KeyError:
        raise SyntaxError(f"operator {op} is not supported") from None
    return func(target, value)


def guarded_apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Calls with ``*args``/``**kwargs`` go through here."""
    return func(*args, **kwargs)


class LogPrinter:
    """What ``print()`` becomes in user code: each call is one log line (and ``printed``)."""

    __slots__ = ("_emit", "_lines")

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._lines: list[str] = []

    def __call__(self) -> str:
        return "".join(self._lines)

    def _call_print(self, *objects: Any, sep: str | None = " ", end: str | None = "\n",
                    file: Any = None, flush: bool = False) -> None:
        text = (" " if sep is None else str(sep)).join(str(o) for o in objects)
        self._lines.append(text + ("\n" if end is None else str(end)))
        self._emit(text)


_SAFE_BUILTIN_NAMES = (
    "abs", "all", "any", "ascii", "bin", "bool", "bytes", "callable", "chr", "classmethod",
    "complex", "dict", "divmod", "enumerate", "filter", "float", "format", "frozenset", "hash",
    "hex", "id", "int", "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min",
    "next", "object", "oct", "ord", "pow", "property", "range", "repr", "reversed", "round", "set",
    "slice", "sorted", "staticmethod", "str", "sum", "tuple", "zip",
)
_SAFE_EXCEPTIONS = tuple(
    name for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
    and name not in {"BaseExceptionGroup", "ExceptionGroup", "SystemExit", "KeyboardInterrupt",
                     "GeneratorExit"}
)


def _make_import(allowlist: tuple[str, ...]) -> Callable[..., Any]:
    from worker.runtime.facades import grants

    granted = grants(allowlist)

    def guarded_import(name: str, globals: Any = None, locals: Any = None,
                       fromlist: Any = (), level: int = 0) -> Any:
        if level != 0:
            raise ImportError("relative imports are not allowed")
        name = str(name)
        refused = granted.refusal(name)
        if refused:
            raise ImportError(refused)
        if fromlist:
            facade = granted.facade(name)
            allowed = granted.names(name)
            for item in fromlist:
                if item not in allowed:
                    raise ImportError(f"cannot import {item!r} from {name}: the import "
                                      f"allow-list grants {', '.join(sorted(allowed))}")
            return facade
        # ``import a.b`` binds ``a``: its facade holds the facade of ``a.b``.
        return granted.facade(name.split(".")[0])

    return guarded_import


def _granted_modules(allowlist: tuple[str, ...]) -> frozenset[str]:
    from connector.errors import ConfigurationError
    from worker.runtime.facades import grants

    try:
        return grants(allowlist).modules
    except ConfigurationError:
        # Protected code's import reports the bad entry; C functions get the standard modules.
        return frozenset()


def layer_globals(where: str, *, emit_print: Callable[[str], None],
                  allowlist: Iterable[str] = ()) -> dict[str, Any]:
    """Fresh globals for one layer of one run: builtins and the RestrictedPython guards.

    ``emit_print`` receives each ``print()`` line. Every layer's ``__import__`` lets the
    library's C functions load what they need (:mod:`worker.runtime.imports`); only protected
    code's also serves ``import`` statements.
    """
    check_where(where)
    allowed = tuple(allowlist)

    def user_getattr(obj: Any, name: str, *default: Any) -> Any:
        if len(default) > 1:
            raise TypeError("getattr expected at most 3 arguments")
        return safe_getattr(obj, name, *default)

    def user_hasattr(obj: Any, name: str) -> bool:
        try:
            safe_getattr(obj, name)
        except AttributeError:
            return False
        return True

    def getitem_guard(obj: Any, key: Any) -> Any:
        return check_value(obj[key], "item")

    safe_builtins: dict[str, Any] = {name: getattr(builtins, name)
                                     for name in _SAFE_BUILTIN_NAMES + _SAFE_EXCEPTIONS}
    safe_builtins.update({
        "None": None, "True": True, "False": False, "Ellipsis": Ellipsis,
        "NotImplemented": NotImplemented, "__build_class__": builtins.__build_class__,
        "getattr": user_getattr, "hasattr": user_hasattr,
    })
    safe_builtins["__import__"] = SandboxImport(
        _make_import(allowed) if where == "protected" else None, _granted_modules(allowed))
    return {
        "__builtins__": safe_builtins,
        "__name__": USER_MODULE,
        "__metaclass__": type,
        "_getattr_": safe_getattr,
        "_getitem_": getitem_guard,
        "_getiter_": iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": guarded_write,
        "_inplacevar_": guarded_inplacevar,
        "_apply_": guarded_apply,
        "_print_": lambda _getattr=None: LogPrinter(emit_print),
    }
