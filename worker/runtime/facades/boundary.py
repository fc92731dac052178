"""The boundary between protected code and the code below it (common and task code).

Protected code uses secrets; the code below is a Developer's. What protected code exports
(names not starting with ``_``) crosses like this:

* a function becomes a :class:`ProtectedFunction`: its arguments arrive as plain-data copies
  (so no object of the caller's runs inside it: no spying ``__eq__``), its return value leaves
  as a plain-data copy with secrets masked (or as a facade, a recordset …, or another
  protected function), and an exception leaves as a fresh one of the same builtin or product
  type with a masked message, nothing else: no attributes, cause, context or frames;
* data (strings, numbers, lists, dicts …) crosses as a masked copy;
* a facade from ``import`` crosses as it is (it holds nothing of protected code);
* an exception class whose body defines no methods crosses as it is, so task code can catch
  it; its instances cross as new ones of the same class;
* anything else (classes, instances of protected classes, generators …) is replaced by an
  :class:`Unavailable` stand-in that says so when used.
"""

from __future__ import annotations

import types
from typing import Any

from worker.runtime.exceptions import SandboxViolation
from worker.runtime.facades import is_member
from worker.runtime.facades.plain import Mask, Opaque, fresh_exception, plain

__all__ = ["ProtectedFunction", "Unavailable", "export", "is_marker_exception"]

PROTECTED_FILE = "<protected"
_CLASS_KEYS = frozenset({"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__",
                         "__firstlineno__", "__static_attributes__"})


def _is_protected_function(value: Any) -> bool:
    return (isinstance(value, types.FunctionType)
            and value.__code__.co_filename.startswith(PROTECTED_FILE))


def is_marker_exception(value: Any) -> bool:
    """An exception class of protected code with nothing but a docstring or ``pass``."""
    from worker.runtime.guards import USER_MODULE

    # type(value) is type: a metaclass of user code could run in ``except`` and isinstance().
    if not (type(value) is type and issubclass(value, BaseException)):
        return False
    for cls in value.__mro__:
        if cls.__module__ != USER_MODULE:
            continue
        if not set(vars(cls)) <= _CLASS_KEYS:
            return False
    return True


class ProtectedFunction(Opaque):
    """A function of protected code as task code sees it: called through the boundary."""

    __slots__ = ("_func", "_mask", "_name")
    _func: types.FunctionType
    _mask: Mask | None
    _name: str

    def __init__(self, func: types.FunctionType, name: str, mask: Mask | None) -> None:
        object.__setattr__(self, "_func", func)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_mask", mask)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self._name}() is read-only")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        what = f"an argument of {self._name}()"
        call_args = plain(args, objects=True, functions=_inbound_function, what=what)
        call_kwargs = plain(kwargs, objects=True, functions=_inbound_function, what=what)
        failure: BaseException
        try:
            result = self._func(*call_args, **call_kwargs)
        except MemoryError:
            failure = MemoryError()
        except BaseException as exc:  # noqa: BLE001 - everything leaves through the boundary
            failure = fresh_exception(exc, self._mask, keep=is_marker_exception)
        else:
            return outbound(result, self._mask, f"what {self._name}() returned")
        # Raised here, outside the except block: the new exception has no __context__.
        raise failure

    def __repr__(self) -> str:
        return f"<protected function {self._name}>"


class Unavailable(Opaque):
    """What task code finds under a name protected code defined but cannot share."""

    __slots__ = ("_kind", "_name")
    _kind: str
    _name: str

    def __init__(self, name: str, kind: str) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_kind", kind)

    def _refuse(self) -> SandboxViolation:
        return SandboxViolation(
            f"{self._name!r} is {self._kind} defined in protected code; protected code shares "
            "only functions, plain data and imported modules with task code (wrap what task "
            f"code needs in a function, or name it _{self._name} to keep it private)")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise self._refuse()

    def __setattr__(self, name: str, value: Any) -> None:
        raise self._refuse()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._refuse()

    def __iter__(self) -> Any:
        raise self._refuse()

    def __getitem__(self, key: Any) -> Any:
        raise self._refuse()

    def __repr__(self) -> str:
        return f"<{self._name}: not shared by protected code>"


def _inbound_function(value: Any) -> Any:
    # Functions of protected code (handed back by task code) and facades' functions are the
    # product's; a function of task code would run inside protected code.
    if isinstance(value, Opaque) or is_member(value):
        return value
    raise TypeError("a function of task code cannot be passed to protected code; pass plain "
                    "data (str, numbers, lists, dicts, dates)")


def outbound(value: Any, mask: Mask | None, what: str) -> Any:
    """``value`` as it leaves protected code (see the module docstring)."""

    def function(item: Any) -> Any:
        if _is_protected_function(item):
            return ProtectedFunction(item, item.__name__, mask)
        if is_member(item) or is_marker_exception(item):
            return item
        raise TypeError(f"{what}: a {type(item).__name__} cannot leave protected code; "
                        "return plain data (str, numbers, lists, dicts, dates)")

    return plain(value, mask=mask, objects=True, functions=function, what=what)


def export(name: str, value: Any, mask: Mask | None) -> Any:
    """What the layers below protected code get under ``name``."""
    try:
        return outbound(value, mask, name)
    except (TypeError, ValueError):
        kind = "a class" if isinstance(value, type) else f"a {type(value).__name__} object"
        return Unavailable(name, kind)
