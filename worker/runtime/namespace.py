"""Read-only namespaces handed to user code: ``params``, ``webhooks``, ``secrets``, libraries.

User code never receives a raw module or dict of the runtime: it gets a :class:`Namespace`,
which answers attribute and item look-ups from a fixed mapping and refuses everything else.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["Namespace", "module_proxy"]


class Namespace:
    """A read-only ``name → value`` mapping with attribute access (``params.API_URL``).

    ``masked`` namespaces (``secrets``) never show their values in ``repr``.
    """

    __slots__ = ("_label", "_masked", "_values")

    def __init__(self, label: str, values: Mapping[str, Any] | None = None, *,
                 masked: bool = False) -> None:
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_masked", masked)
        object.__setattr__(self, "_values", dict(values or {}))

    def _lookup(self, name: str) -> Any:
        value = self._values[name]
        reveal = getattr(value, "reveal", None)
        # connector.settings.Secret keeps its value out of repr; user code needs the string.
        return reveal() if callable(reveal) and type(value).__name__ == "Secret" else value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._lookup(name)
        except KeyError:
            raise AttributeError(f"{self._label} has no {name!r}") from None

    def __getitem__(self, name: str) -> Any:
        try:
            return self._lookup(name)
        except KeyError:
            raise KeyError(f"{self._label} has no {name!r}") from None

    def get(self, name: str, default: Any = None) -> Any:
        """The value of ``name``, or ``default`` when it is not set."""
        try:
            return self._lookup(name)
        except KeyError:
            return default

    def keys(self) -> list[str]:
        """The names defined in this namespace."""
        return list(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"{self._label} is read-only")

    def __delattr__(self, name: str) -> None:
        raise TypeError(f"{self._label} is read-only")

    def __repr__(self) -> str:
        if self._masked:
            return f"<{self._label}: {', '.join(self._values) or 'empty'} (values hidden)>"
        return f"<{self._label}: {', '.join(self._values) or 'empty'}>"


def module_proxy(module: Any, names: list[str] | tuple[str, ...],
                 **extra: Any) -> Namespace:
    """A namespace exposing only ``names`` of ``module`` (plus ``extra`` values).

    Modules carry their imports as attributes (``json.codecs.open``): user code gets this
    narrow view instead.
    """
    values = {name: getattr(module, name) for name in names}
    values.update(extra)
    return Namespace(f"module {module.__name__}", values)
