"""The ``__import__`` of the sandbox's builtins: what keeps C functions of the standard library
working in user code, without giving user code a way to import anything.

CPython's C functions import some modules only when first called: ``datetime.strftime`` and
``timetuple`` import ``time``, ``strptime`` imports ``_strptime``, ``Pattern.sub`` with a
template imports ``re``, a C-level warning imports ``warnings``. They do it with
``PyImport_Import``, which takes ``__import__`` from the ``__builtins__`` of the *calling
Python frame's* globals, calls it as ``__import__(name, globals, globals, [], 0)`` and then reads
the module from ``sys.modules``, ignoring what ``__import__`` returned. Called from user code,
that frame is the sandbox's: without an ``__import__`` among its builtins every such function
fails with ``KeyError: '__import__'``.

:class:`SandboxImport` answers both callers:

* that *loader request* (a list as ``fromlist``): the module is loaded (if it is not yet) and
  ``None`` is returned, never the module. Only modules already loaded in the process, the
  standard-library modules C functions load on demand (:data:`LAZY_DEPENDENCIES`, imported
  when this module is) and the modules the layer's import allow-list grants can be loaded;
* an ``import`` statement (a tuple or ``None`` as ``fromlist``), which only protected code may
  contain: it goes to that layer's guarded import, which gives facades; elsewhere it is refused.

User code cannot name ``__import__`` or ``__builtins__`` (the compile-time policy refuses
dunder names) and the run-time guards refuse a :class:`SandboxImport` wherever one turns up.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Collection
from typing import Any

__all__ = ["LAZY_DEPENDENCIES", "SandboxImport", "preload_lazy_dependencies"]

#: Standard-library modules that C functions import on first use. They are imported here, once,
#: so that the sandbox processes' template already holds them (a sandbox process then never
#: reads a module file for them under its memory limit and file-system confinement).
LAZY_DEPENDENCIES = ("time", "_strptime", "re", "warnings", "copyreg", "locale", "calendar",
                     "zoneinfo", "zoneinfo._common", "zoneinfo._tzpath", "json.decoder")

_STATEMENT_ONLY_IN_PROTECTED = ("import is only allowed in protected code; ask a Manager to "
                                "import the module there and expose what you need")


def preload_lazy_dependencies() -> None:
    """Import :data:`LAZY_DEPENDENCIES` (all of them exist in every CPython build we run on)."""
    for name in LAZY_DEPENDENCIES:
        importlib.import_module(name)


class SandboxImport:
    """``__builtins__['__import__']`` of one layer of one run.

    ``statement`` is the guarded import of ``import`` statements (protected code only, else
    None); ``granted`` the modules of the layer's import allow-list, which a C function may
    load too.
    """

    __slots__ = ("_granted", "_statement")

    def __init__(self, statement: Callable[..., Any] | None,
                 granted: Collection[str] = ()) -> None:
        self._statement = statement
        self._granted = frozenset(granted)

    def __call__(self, name: Any, globals: Any = None, locals: Any = None,
                 fromlist: Any = None, level: Any = 0) -> Any:
        if type(fromlist) is list:
            # PyImport_Import's request: the C caller reads the module from sys.modules.
            self._load(name, level)
            return None
        if self._statement is None:
            raise ImportError(_STATEMENT_ONLY_IN_PROTECTED)
        return self._statement(name, globals, locals, fromlist or (), level)

    def _load(self, name: Any, level: Any) -> None:
        if type(name) is not str or level != 0:
            raise ImportError("a library function asked for a relative import, which the "
                              "sandbox does not allow")
        if name in sys.modules:
            return
        if name in LAZY_DEPENDENCIES or name in self._granted or any(
                name.startswith(module + ".") for module in self._granted):
            importlib.import_module(name)
            return
        raise ImportError(
            f"a library function needs module {name!r}, which the sandbox does not load; an "
            "operator can grant it in the import allow-list (SYNCSTUDIO_IMPORT_ALLOWLIST)")

    def __repr__(self) -> str:
        return "<sandbox __import__>"


preload_lazy_dependencies()
