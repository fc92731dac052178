"""A safe YAML loader that bounds alias expansion and remembers where each mapping key is.

Aliases (``*name``) share one node, so a few hundred bytes can describe billions of nodes
("billion laughs"); PyYAML builds them as shared objects, but anything that walks the result
(JSON encoding, validation, rendering) expands them. The loader composes the node graph first,
counts the nodes the aliases would add, and refuses the document past a small bound, before
anything is constructed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from connector.errors import ProjectFileError

#: Nodes that aliases may add beyond the document's own, whatever its size (merge keys for a
#: few shared defaults stay well below this).
ALIAS_ALLOWANCE = 1000
#: ... plus this many times the nodes written out in the document.
ALIAS_FACTOR = 1

Path = tuple[str | int, ...]


class Loaded:
    """A parsed YAML document and the line (1-based) of each mapping key, by path."""

    def __init__(self, data: Any, lines: Mapping[Path, int]) -> None:
        self.data = data
        self.lines = dict(lines)

    def line(self, path: Path) -> int | None:
        """The line of the deepest key of ``path`` that the document has."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


class _Loader(yaml.SafeLoader):
    """YAML 1.2's booleans: only true/false. YAML 1.1 also reads yes/no/on/off as booleans,
    so ``name: Off`` would silently become False."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                              re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def _expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(nodes written in the document, nodes once every alias is expanded)."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    # Iterative post-order walk: deep documents must not hit Python's recursion limit.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ProjectFileError("YAML: an alias refers to the node that contains it "
                                   "(a recursive structure); write the values out")
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise ProjectFileError("YAML: an alias refers to the node that contains it "
                                       "(a recursive structure); write the values out")
            if id(child) not in sizes:
                stack.append((child, False))
    return len(sizes), sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _key_lines(node: yaml.Node, path: Path, lines: dict[Path, int], seen: set[int]) -> None:
    if id(node) in seen:  # an alias: its keys were recorded where the anchor is
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                sub = (*path, key_node.value)
                lines.setdefault(sub, key_node.start_mark.line + 1)
                _key_lines(value_node, sub, lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.setdefault((*path, index), item.start_mark.line + 1)
            _key_lines(item, (*path, index), lines, seen)


def load(text: str, source: str = "YAML") -> Loaded:
    """Parse one YAML document safely; :class:`ProjectFileError` says in one line what is wrong.

    Refuses documents whose aliases would add more than ``ALIAS_ALLOWANCE + ALIAS_FACTOR ×``
    the document's own nodes.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Loaded(None, {})
        written, expanded = _expanded_size(node)
        limit = ALIAS_ALLOWANCE + ALIAS_FACTOR * written
        if expanded - written > limit:
            raise ProjectFileError(
                f"{source}: YAML aliases (*name) would expand {written} nodes to {expanded} "
                f"(at most {limit} more are allowed); write the repeated values out")
        data = loader.construct_document(node)
        lines: dict[Path, int] = {}
        # After construction: merge keys (<<: *base) have been flattened into the mappings.
        _key_lines(node, (), lines, set())
        return Loaded(data, lines)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProjectFileError(f"{source}: not valid YAML{where}: {problem}") from None
    finally:
        loader.dispose()


def safe_load(text: str, source: str = "YAML") -> Any:
    """The data of one YAML document, with the alias bound of :func:`load`."""
    return load(text, source).data
