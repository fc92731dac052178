"""``str.format`` and ``format_map`` for user code, and the save-time check of format strings.

Python's own ``str.format`` reads the attributes and items a field names (``'{0.__class__}'``)
without going through the sandbox's guards. User code gets this module's implementation
instead: the same format-string language, with every attribute of a field path read by the
sandbox's ``getattr`` (no names starting with ``_``, no frame or code attributes) and every
item through the item guard. Format specs and conversions (``{0:>10}``, ``{0!r}``,
``{0:{1}}``) work as in Python.

:class:`SafeFormatter` is what ``string.Formatter`` is in the sandbox. It is a class of its
own, not a subclass of ``string.Formatter``: the base class's methods read fields unguarded.

:func:`format_call_problems` finds, when code is saved, what would fail when it runs: a
literal format string with a private or blocked attribute in a field, or a malformed one.
"""

from __future__ import annotations

import _string
import ast
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from worker.runtime.exceptions import SandboxViolation

__all__ = ["FORMAT_METHODS", "SafeFormatter", "format_call_problems", "format_method",
           "format_string", "format_string_map", "guarded_str_method"]

FORMAT_METHODS = frozenset({"format", "format_map"})
#: How deep ``{0:{1:{2}}}`` may nest: Python's own limit.
_MAX_NESTING = 2


def _guards() -> tuple[Callable[..., Any], Callable[[Any, str], Any]]:
    # Imported late: the guards module imports this one.
    from worker.runtime.guards import check_value, safe_getattr

    return safe_getattr, check_value


def _field_error(field: str, exc: Exception) -> Exception:
    if isinstance(exc, SandboxViolation):
        return SandboxViolation(f"format field {{{field}}}: {exc}")
    return exc


class SafeFormatter:
    """``string.Formatter`` with field paths read through the sandbox's guards.

    Subclasses may override the same methods as ``string.Formatter``'s (``get_value``,
    ``format_field`` …); field paths always go through :meth:`get_field`.
    """

    def format(self, format_string: str, /, *args: Any, **kwargs: Any) -> str:
        """``format_string`` with its fields replaced, like ``str.format``."""
        return self.vformat(format_string, args, kwargs)

    def vformat(self, format_string: str, args: Sequence[Any],
                kwargs: Mapping[str, Any]) -> str:
        """``format`` with the arguments as a sequence and a mapping."""
        used: set[Any] = set()
        result, _ = self._vformat(format_string, args, kwargs, used, _MAX_NESTING, 0)
        self.check_unused_args(used, args, kwargs)
        return result

    def _vformat(self, format_string: str, args: Sequence[Any], kwargs: Mapping[str, Any],
                 used: set[Any], depth: int, auto_index: int | None) -> tuple[str, int | None]:
        if depth < 0:
            raise ValueError("Max string recursion exceeded")
        parts: list[str] = []
        for literal, field, spec, conversion in self.parse(format_string):
            if literal:
                parts.append(literal)
            if field is None:
                continue
            head = field.split(".", 1)[0].split("[", 1)[0]
            if head == "":
                if auto_index is None:
                    raise ValueError("cannot switch from manual field specification to "
                                     "automatic field numbering")
                field = f"{auto_index}{field}"
                auto_index += 1
            elif head.isdigit():
                if auto_index:
                    raise ValueError("cannot switch from automatic field numbering to manual "
                                     "field specification")
                auto_index = None
            try:
                value, key = self.get_field(field, args, kwargs)
            except (SandboxViolation, AttributeError) as exc:
                raise _field_error(field, exc) from None
            used.add(key)
            value = self.convert_field(value, conversion)
            spec_text, auto_index = self._vformat(spec or "", args, kwargs, used, depth - 1,
                                                  auto_index)
            parts.append(self.format_field(value, spec_text))
        return "".join(parts), auto_index

    def parse(self, format_string: str) -> Iterator[tuple[str, str | None, str | None,
                                                          str | None]]:
        """``(literal, field, spec, conversion)`` tuples of ``format_string``."""
        return _string.formatter_parser(str(format_string))

    def get_field(self, field_name: str, args: Sequence[Any],
                  kwargs: Mapping[str, Any]) -> tuple[Any, Any]:
        """The value a field names (``0.name``, ``row[id]``), read through the guards."""
        safe_getattr, check_value = _guards()
        first, rest = _string.formatter_field_name_split(field_name)
        value = self.get_value(first, args, kwargs)
        for is_attribute, name in rest:
            value = (safe_getattr(value, name) if is_attribute
                     else check_value(value[name], "item"))
        return value, first

    def get_value(self, key: int | str, args: Sequence[Any],
                  kwargs: Mapping[str, Any]) -> Any:
        """``args[key]`` for a number, else ``kwargs[key]``."""
        _, check_value = _guards()
        return check_value(args[key] if isinstance(key, int) else kwargs[key], "item")

    def check_unused_args(self, used_args: set[Any], args: Sequence[Any],
                          kwargs: Mapping[str, Any]) -> None:
        """Called after formatting; does nothing (override to refuse unused arguments)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        """``format(value, format_spec)``."""
        return format(value, format_spec)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        """``!s``, ``!r`` and ``!a`` conversions."""
        if conversion is None:
            return value
        if conversion == "s":
            return str(value)
        if conversion == "r":
            return repr(value)
        if conversion == "a":
            return ascii(value)
        raise ValueError(f"Unknown conversion specifier {conversion!s}")


class _MappingArguments(Mapping[str, Any]):
    """``format_map``'s mapping, read key by key (``__missing__`` of a dict subclass works)."""

    def __init__(self, mapping: Any) -> None:
        self.mapping = mapping

    def __getitem__(self, key: str) -> Any:
        return self.mapping[key]

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


_FORMATTER = SafeFormatter()


def format_string(template: str, /, *args: Any, **kwargs: Any) -> str:
    """``template.format(*args, **kwargs)`` with field paths read through the guards."""
    return _FORMATTER.vformat(str.__str__(template), args, kwargs)


def format_string_map(template: str, mapping: Any, /) -> str:
    """``template.format_map(mapping)`` with field paths read through the guards."""
    return _FORMATTER.vformat(str.__str__(template), (), _MappingArguments(mapping))


def format_method(template: str, name: str) -> Callable[..., str]:
    """What ``template.format`` / ``template.format_map`` is in user code."""
    text = str.__str__(template)
    if name == "format":
        def format(*args: Any, **kwargs: Any) -> str:  # noqa: A001 - str.format's name
            return _FORMATTER.vformat(text, args, kwargs)

        return format

    def format_map(mapping: Any) -> str:
        return format_string_map(text, mapping)

    return format_map


def guarded_str_method(name: str) -> Callable[..., str]:
    """What ``str.format`` / ``str.format_map`` (on the type) is in user code."""
    def format(template: str, /, *args: Any, **kwargs: Any) -> str:  # noqa: A001
        if not isinstance(template, str):
            raise TypeError("descriptor 'format' for 'str' objects doesn't apply to a "
                            f"'{type(template).__name__}' object")
        return format_string(template, *args, **kwargs)

    def format_map(template: str, mapping: Any, /) -> str:
        if not isinstance(template, str):
            raise TypeError("descriptor 'format_map' for 'str' objects doesn't apply to a "
                            f"'{type(template).__name__}' object")
        return format_string_map(template, mapping)

    return format if name == "format" else format_map


# --------------------------------------------------------------------------------------------
# Save-time check
# --------------------------------------------------------------------------------------------


def _literal_template(node: ast.Call) -> ast.Constant | None:
    func = node.func
    if not isinstance(func, ast.Attribute) or func.attr not in FORMAT_METHODS:
        return None
    if isinstance(func.value, ast.Constant) and isinstance(func.value.value, str):
        return func.value  # "…".format(…)
    if (isinstance(func.value, ast.Name) and func.value.id == "str" and node.args
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        return node.args[0]  # str.format("…", …)
    return None


def _field_problems(template: str, blocked: frozenset[str], depth: int,
                    heads: list[int | str]) -> Iterator[str]:
    if depth < 0:
        yield "the format string nests fields more than two levels deep"
        return
    for _literal, field, spec, conversion in _string.formatter_parser(template):
        if field is None:
            continue
        heads.append(_string.formatter_field_name_split(field)[0])
        if conversion is not None and conversion not in "sra":
            yield f"format field {{{field}}}: unknown conversion !{conversion} (use !s, !r, !a)"
        _first, rest = _string.formatter_field_name_split(field)
        for is_attribute, name in rest:
            if not is_attribute:
                continue
            if name.startswith("_") and name != "_name":
                yield (f'format field {{{field}}}: "{name}" is not accessible: attribute '
                       'names starting with "_" are private')
            elif name in blocked:
                yield f'format field {{{field}}}: "{name}" is not accessible in the sandbox'
        if spec:
            yield from _field_problems(spec, blocked, depth - 1, heads)


def _argument_problems(node: ast.Call, template: ast.Constant,
                       heads: list[int | str]) -> Iterator[str]:
    """Fields without an argument, when the call's arguments are all written out."""
    func = node.func
    if not isinstance(func, ast.Attribute) or func.attr != "format":
        return
    args = node.args[1:] if node.args and node.args[0] is template else node.args
    if any(isinstance(arg, ast.Starred) for arg in args) or any(
            keyword.arg is None for keyword in node.keywords):
        return
    keywords = {keyword.arg for keyword in node.keywords}
    automatic = [head for head in heads if head == ""]
    if automatic and len(automatic) != len(heads) and any(
            isinstance(head, int) for head in heads):
        yield "the format string mixes automatic ({}) and manual ({0}) field numbering"
        return
    numbers = list(range(len(automatic))) + [h for h in heads if isinstance(h, int)]
    for number in sorted(set(numbers)):
        if number >= len(args):
            shown = "{}" if automatic else f"{{{number}}}"
            yield (f"format field {shown} number {number + 1} has no argument: the call "
                   f"passes {len(args)} positional argument{'' if len(args) == 1 else 's'}")
            return
    for name in dict.fromkeys(h for h in heads if isinstance(h, str) and h):
        if name not in keywords:
            yield f"format field {{{name}}} has no argument: pass {name}=... to format()"


def format_call_problems(node: ast.Call,
                         blocked: frozenset[str]) -> list[tuple[ast.AST, str]]:
    """What makes a format call with a literal format string fail at run time.

    ``"{0.__class__}".format(x)`` and ``str.format("{0.__class__}", x)`` are refused with the
    string's position; so are a malformed format string (``"{"``) and, when the call writes
    out all its arguments, a field without one (``"{} {}".format(1)``, ``"{name}".format()``).
    ``blocked`` holds the attribute names the sandbox refuses besides private ones.
    """
    template = _literal_template(node)
    if template is None:
        return []
    heads: list[int | str] = []
    try:
        problems = list(_field_problems(str(template.value), blocked, _MAX_NESTING, heads))
    except ValueError as exc:
        return [(template, f"the format string is malformed: {exc}")]
    if not problems:
        problems = list(_argument_problems(node, template, heads))
    return [(template, message) for message in problems]
