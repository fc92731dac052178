"""What ``import`` gives protected code: narrow facades of the modules an operator allowed.

A module object carries everything its package imported and all its mutable state
(``requests.utils.atomic_open`` writes files; ``xmlrpc.client.Marshaller.dispatch`` sees every
value marshalled in the process). So ``import m`` never yields ``m``: it yields a
:class:`ModuleFacade`, a read-only namespace of the names granted for ``m``.

The allow-list (``SYNCSTUDIO_IMPORT_ALLOWLIST``, comma-separated) has two kinds of entries:

* ``module`` – the product's facade of a module it knows (:data:`KNOWN`): ``requests``,
  ``xmlrpc.client``, ``hashlib``, ``hmac``, ``base64``, ``re``, ``math``, ``urllib.parse``,
  ``string``;
* ``module:name1|name2`` – only these names: of the facade when the product knows the module,
  else the module's own objects (an operator's reviewed choice: a granted class brings its
  class-level state along). A module the product has no facade for needs this form.

The libraries of the evaluation context (``json``, ``time``, ``datetime``, ``dateutil``) can
always be imported and give the same narrow views task code has.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable, Iterable
from typing import Any

from connector.errors import ConfigurationError
from worker.runtime.exceptions import SandboxViolation
from worker.runtime.facades import stdlib, web, xmlrpc_client
from worker.runtime.facades.plain import Opaque
from worker.runtime.namespace import Namespace

__all__ = ["ALWAYS", "KNOWN", "Grants", "ModuleFacade", "grants", "is_member"]

#: The product's facades: module name -> builder of the facade's names.
KNOWN: dict[str, Callable[[], dict[str, Any]]] = {
    "requests": web.build,
    "requests.exceptions": web.build_exceptions,
    "xmlrpc.client": xmlrpc_client.build,
    **stdlib.BUILDERS,
}
#: Facades that come with another one: ``from requests.exceptions import HTTPError``.
COMPANIONS = {"requests": ("requests.exceptions",)}
#: Importable whatever the allow-list says: the evaluation context has them anyway.
ALWAYS = ("json", "time", "datetime", "dateutil", "dateutil.parser", "dateutil.relativedelta",
          "dateutil.tz", "dateutil.rrule")
SETTING = "SYNCSTUDIO_IMPORT_ALLOWLIST"

_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
#: ids of every object placed in a facade (kept alive by the cached facades): how the
#: protected boundary recognises ``from hashlib import sha256`` as a facade's function.
_MEMBERS: set[int] = set()


def is_member(value: Any) -> bool:
    """True if ``value`` is (one of the objects of) a facade."""
    return isinstance(value, Opaque) or id(value) in _MEMBERS


class ModuleFacade(Opaque):
    """The read-only view of one module that ``import`` gives protected code.

    Every public attribute is a granted name: the class defines no public methods of its own
    (``requests.get`` must be the facade's function, not a mapping's ``get``).
    """

    __slots__ = ("_label", "_values")
    _label: str
    _values: dict[str, Any]

    def __init__(self, label: str, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            granted = ", ".join(sorted(self._values)) or "nothing"
            raise SandboxViolation(
                f"{self._label} has no {name!r}: the import allow-list ({SETTING}) grants "
                f"{granted}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"{self._label} is read-only")

    def __delattr__(self, name: str) -> None:
        raise TypeError(f"{self._label} is read-only")

    def __repr__(self) -> str:
        return f"<{self._label} (facade: {', '.join(sorted(self._values))})>"


def _context_libraries() -> dict[str, Namespace]:
    from worker.runtime.tools import libraries

    libs = libraries()
    found: dict[str, Namespace] = {}
    for name in ALWAYS:
        head, *rest = name.split(".")
        value = libs[head]
        for part in rest:
            value = value[part]
        found[name] = value
    return found


def parse(entries: Iterable[str]) -> dict[str, frozenset[str] | None]:
    """``module`` / ``module:name1|name2`` entries -> module -> names (None: the facade)."""
    granted: dict[str, frozenset[str] | None] = {}
    for raw in entries:
        entry = str(raw).strip()
        if not entry:
            continue
        module, sep, names_text = entry.partition(":")
        module = module.strip()
        names = frozenset(n.strip() for n in names_text.split("|") if n.strip())
        if not _MODULE.match(module) or (sep and not names) or not all(
                _NAME.match(n) for n in names):
            raise ConfigurationError(
                f"{SETTING}: {entry!r} is not an entry; write a module (requests) or a module "
                "and the names it grants (zlib:compress|decompress)")
        previous = granted.get(module, frozenset())
        if not sep or previous is None:
            granted[module] = None
        else:
            granted[module] = previous | names
    return granted


class Grants:
    """One allow-list, parsed: which modules and names import may give, and their facades."""

    def __init__(self, entries: tuple[str, ...]) -> None:
        self.entries = entries
        self.granted = parse(entries)
        modules = set(self.granted) | set(ALWAYS)
        for module in self.granted:
            modules.update(COMPANIONS.get(module, ()))
        self.modules = frozenset(modules)
        parents: set[str] = set()
        for module in self.modules:
            parts = module.split(".")
            parents.update(".".join(parts[:i]) for i in range(1, len(parts)))
        self.parents = frozenset(parents - self.modules)
        self._facades: dict[str, ModuleFacade] = {}
        self._names: dict[str, frozenset[str]] = {}

    # -- questions the compile-time policy asks ------------------------------------------------

    def refusal(self, module: str) -> str | None:
        """Why ``import module`` is refused (None when it is allowed)."""
        if module in self.modules or module in self.parents:
            if (self.granted.get(module, ()) is None and module not in KNOWN
                    and module not in ALWAYS):
                return (f"module {module!r} is in the import allow-list ({SETTING}) but Sync "
                        f"Studio has no facade for it; grant the names protected code needs: "
                        f"{module}:NAME1|NAME2")
            return None
        allowed = ", ".join(sorted(self.modules)) or "none"
        return (f"module {module!r} is not in the import allow-list (allowed: {allowed}); "
                f"a Manager can ask the operator to add it to {SETTING}")

    def names(self, module: str) -> frozenset[str]:
        """The names ``from module import …`` may take."""
        cached = self._names.get(module)
        if cached is not None:
            return cached
        names = set(self._children(module))
        if module in ALWAYS:
            names.update(_context_libraries()[module].keys())
        if module in KNOWN:
            wanted = self.granted.get(module)
            known = KNOWN[module]().keys()
            names.update(known if wanted is None else wanted)
        elif module in self.granted and module not in ALWAYS:
            names.update(self.granted[module] or ())
        result = self._names[module] = frozenset(names)
        return result

    def _children(self, module: str) -> list[str]:
        prefix = module + "."
        return sorted(m[len(prefix):] for m in self.modules | self.parents
                      if m.startswith(prefix) and "." not in m[len(prefix):])

    # -- what import gives ----------------------------------------------------------------------

    def facade(self, module: str) -> ModuleFacade:
        """The facade of ``module`` (built once per allow-list and process)."""
        facade = self._facades.get(module)
        if facade is None:
            refused = self.refusal(module)
            if refused:
                raise ImportError(refused)
            facade = ModuleFacade(f"module {module}", self._values(module))
            _MEMBERS.update(id(v) for v in facade._values.values())
            self._facades[module] = facade
        return facade

    def _values(self, module: str) -> dict[str, Any]:
        from worker.runtime.guards import check_value

        values: dict[str, Any] = {}
        if module in ALWAYS:
            library = _context_libraries()[module]
            values.update({name: library[name] for name in library})
        wanted = self.granted.get(module)
        if module in KNOWN:
            known = KNOWN[module]()
            names = known if wanted is None else wanted
            raw = None
            for name in names:
                if name in known:
                    values[name] = known[name]
                else:
                    raw = raw or importlib.import_module(module)
                    values[name] = check_value(getattr(raw, name), f"{module}.{name}")
        elif wanted and module not in ALWAYS:
            raw = importlib.import_module(module)
            for name in wanted:
                if not hasattr(raw, name):
                    raise ImportError(f"{SETTING} grants {module}.{name}, which does not exist")
                values[name] = check_value(getattr(raw, name), f"{module}.{name}")
        for child in self._children(module):
            values[child] = self.facade(f"{module}.{child}")
        return values


@functools.cache
def grants(entries: tuple[str, ...]) -> Grants:
    """The parsed allow-list ``entries``.

    Cached without a bound: facades are built once per process, and the ids in
    :data:`_MEMBERS` must keep naming the objects they were taken from.
    """
    return Grants(tuple(entries))
