"""The sandbox policy at compile time: how task, common and protected code is compiled.

Code is compiled with RestrictedPython, which rewrites attribute access, item access, iteration,
unpacking and in-place operators into calls of guard functions (``_getattr_``, ``_getitem_`` …)
supplied by :mod:`worker.runtime.guards`. RestrictedPython alone is not a sandbox (it has had
escapes through frames, ``str.format`` field paths, ``AttributeError.obj`` and ``try/except*``),
so the checks here are stricter than its defaults, and the job layer also runs user code in a
separate, resource-limited process (:mod:`worker.runtime.isolation`).

Layers (``where``):

* ``protected`` – written by Managers; sees ``secrets`` and may ``import`` what the operator's
  allow-list grants, which gives narrow facades of the modules (:mod:`worker.runtime.facades`),
  checked here name by name;
* ``common`` and ``task`` – no ``import``, no ``secrets``.

Private names (``_helper``) may be defined and used in every layer: they are how upper layers
keep things to themselves (they are not passed down). Dunder names, RestrictedPython's own
``_name_`` helpers and *attributes* starting with ``_`` stay forbidden everywhere.
"""

from __future__ import annotations

import ast
import collections
import hashlib
import re
import threading
import types
from collections.abc import Iterable
from typing import Any

from RestrictedPython import compile_restricted_exec
from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
)

from connector.errors import CodeError
from connector.settings import Settings
from worker.runtime.facades import grants
from worker.runtime.formatting import format_call_problems
from worker.runtime.guards import (
    BLOCKED_ATTRIBUTES,
    LAYERS,
    PUBLIC_PRIVATE_ATTRIBUTE,
    USER_MODULE,
    check_where,
    layer_globals,
    safe_getattr,
)

__all__ = [
    "HANDLER_NAMES", "LAYERS", "USER_MODULE", "CodeCache", "check_code", "code_cache",
    "compile_code", "default_allowlist", "layer_globals", "reset_code_cache", "safe_getattr",
    "source_of",
]

HANDLER_NAMES = ("handle_cron", "handle_db", "handle_webhook", "handle_button")
_PRIVATE_NAME = re.compile(r"_[A-Za-z][A-Za-z0-9_]*\Z")
_RESERVED_PRIVATE = re.compile(r"_print\Z|_tmp\d+\Z")
#: ``attachment._public_url()`` is how the original module spells ``attachment.public_url()``.
PRIVATE_SPELLINGS = {"_public_url": "public_url"}


def default_allowlist() -> tuple[str, ...]:
    """``SYNCSTUDIO_IMPORT_ALLOWLIST``'s default, for callers that pass no allow-list (the
    worker and the dashboard pass the configured one)."""
    return tuple(Settings.default("import_allowlist"))


# --------------------------------------------------------------------------------------------
# Compilation
# --------------------------------------------------------------------------------------------


class Refusal(str):
    """One compile-time refusal: the message, with the position RestrictedPython does not keep."""

    lineno: int | None
    col: int | None

    def __new__(cls, message: str, lineno: int | None, col: int | None) -> Refusal:
        self = super().__new__(cls, message)
        self.lineno = lineno
        self.col = col
        return self


class SandboxTransformer(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus positions, layer-dependent imports and private names."""

    where = "task"
    allowlist: tuple[str, ...] = ()

    def error(self, node: ast.AST, info: str) -> None:
        lineno = getattr(node, "lineno", None)
        col = getattr(node, "col_offset", None)
        self.errors.append(Refusal(info, lineno, None if col is None else col + 1))

    def check_name(self, node: Any, name: str | None, allow_magic_methods: bool = False) -> None:
        # ``_helper`` names are how upper layers hide things from lower ones; only dunders and
        # RestrictedPython's own helper names (``_getattr_``, ``_print``, ``_tmp0``) stay out.
        if (name and _PRIVATE_NAME.match(name) and not name.endswith("_")
                and not _RESERVED_PRIVATE.match(name)):
            return
        super().check_name(node, name, allow_magic_methods)

    def _check_import(self, node: ast.AST, module: str, names: list[str] | None) -> None:
        if self.where != "protected":
            self.error(node, "import is only allowed in protected code; ask a Manager to import "
                             "the module there and expose what you need")
            return
        granted = grants(self.allowlist)
        refused = granted.refusal(module)
        if refused:
            self.error(node, refused)
            return
        allowed = granted.names(module)
        for name in names or ():
            if name != "*" and name not in allowed:
                self.error(node, f"{module}.{name} is not in the import allow-list; {module} "
                                 f"grants {', '.join(sorted(allowed)) or 'nothing'}")

    def visit_Import(self, node: ast.Import) -> Any:
        for alias in node.names:
            self._check_import(node, alias.name, None)
        return super().visit_Import(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        if node.level:
            self.error(node, "relative imports are not allowed")
        else:
            self._check_import(node, node.module or "", [alias.name for alias in node.names])
        return super().visit_ImportFrom(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        # ``totals[key] += amount`` is everyday Odoo code, which RestrictedPython refuses. It
        # becomes a read through ``_getitem_`` and a write through ``_write_`` (the guards of a
        # plain read and assignment), with the container and the key evaluated once.
        target = node.target
        if not isinstance(target, ast.Subscript) or (
                isinstance(target.slice, ast.Tuple)
                and any(isinstance(elt, ast.Slice) for elt in target.slice.elts)):
            return super().visit_AugAssign(node)
        key: ast.expr = target.slice
        if isinstance(key, ast.Slice):
            key = ast.Call(ast.Name("slice", ast.Load()), [
                part or ast.Constant(None) for part in (key.lower, key.upper, key.step)], [])
        container, index = self.gen_tmp_name(), self.gen_tmp_name()
        read = ast.Call(ast.Name("_getitem_", ast.Load()),
                        [ast.Name(container, ast.Load()), ast.Name(index, ast.Load())], [])
        update = ast.Call(ast.Name("_inplacevar_", ast.Load()), [
            ast.Constant(IOPERATOR_TO_STR[type(node.op)]), read, self.visit(node.value)], [])
        statements: list[ast.stmt] = [
            ast.Assign([ast.Name(container, ast.Store())], self.visit(target.value)),
            ast.Assign([ast.Name(index, ast.Store())], self.visit(key)),
            ast.Assign([ast.Subscript(ast.Call(ast.Name("_write_", ast.Load()),
                                               [ast.Name(container, ast.Load())], []),
                                      ast.Name(index, ast.Load()), ast.Store())], update),
        ]
        for statement in statements:
            ast.copy_location(statement, node)
            ast.fix_missing_locations(statement)
        return statements

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        # Private spellings the original module documents for public methods compile to the
        # public name, so the run-time guard sees (and allows) only that.
        if node.attr in PRIVATE_SPELLINGS and isinstance(node.ctx, ast.Load):
            node.attr = PRIVATE_SPELLINGS[node.attr]
        # ``record._name`` is how Odoo code reads a model name (the original module documents
        # ``link.odoo._name``); the run-time guard allows it on recordsets only.
        if node.attr == PUBLIC_PRIVATE_ATTRIBUTE and isinstance(node.ctx, ast.Load):
            node = self.node_contents_visit(node)
            new_node = ast.Call(func=ast.Name("_getattr_", ast.Load()),
                                args=[node.value, ast.Constant(node.attr)], keywords=[])
            ast.copy_location(new_node, node)
            return ast.fix_missing_locations(new_node)
        # RestrictedPython refuses its own list; refuse ours as early (mro stays a run-time
        # check: a record field could be called that).
        if (node.attr in BLOCKED_ATTRIBUTES and node.attr not in INSPECT_ATTRIBUTES
                and node.attr != "mro"):
            self.error(node, f'"{node.attr}" is not accessible in the sandbox')
        return super().visit_Attribute(node)

    def visit_Call(self, node: ast.Call) -> Any:
        # A literal format string's fields are known now: refuse what the run would refuse.
        for where_, message in format_call_problems(node, BLOCKED_ATTRIBUTES):
            self.error(where_, message)
        return super().visit_Call(node)

    def visit_TryStar(self, node: ast.AST) -> Any:
        # except* hands handlers ExceptionGroup objects built outside the guards (a known
        # RestrictedPython escape); plain try/except covers every real need.
        self.error(node, "try/except* is not allowed; use try/except")


_POLICIES: dict[tuple[str, tuple[str, ...]], type[SandboxTransformer]] = {}


def _policy(where: str, allowlist: tuple[str, ...]) -> type[SandboxTransformer]:
    # compile_restricted_exec takes a policy *class*: make one per layer and allow-list.
    key = (where, allowlist)
    policy = _POLICIES.get(key)
    if policy is None:
        policy = type(f"SandboxTransformer_{where}", (SandboxTransformer,),
                      {"where": where, "allowlist": allowlist})
        _POLICIES[key] = policy
    return policy


class CodeCache:
    """A small thread-safe LRU of compiled code, so each job does not recompile its project."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.items: collections.OrderedDict[tuple[Any, ...], types.CodeType] = (
            collections.OrderedDict())
        self.sources: dict[str, str] = {}
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> types.CodeType | None:
        with self.lock:
            code = self.items.get(key)
            if code is not None:
                self.items.move_to_end(key)
            return code

    def put(self, key: tuple[Any, ...], code: types.CodeType, filename: str,
            source: str) -> None:
        with self.lock:
            self.items[key] = code
            self.sources[filename] = source
            while len(self.items) > self.size:
                self.items.popitem(last=False)
            while len(self.sources) > self.size:
                self.sources.pop(next(iter(self.sources)))

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.sources.clear()


_CACHE: CodeCache | None = None
_CACHE_LOCK = threading.Lock()


def code_cache() -> CodeCache:
    """This process's compiled-code cache, made on first use."""
    global _CACHE
    with _CACHE_LOCK:
        if _CACHE is None:
            _CACHE = CodeCache()
        return _CACHE


def reset_code_cache() -> None:
    """Forget every compiled code (the next compilation starts a fresh cache)."""
    global _CACHE
    with _CACHE_LOCK:
        _CACHE = None


def source_of(filename: str) -> str | None:
    """The source compiled under ``filename`` (a code object's; for tracebacks)."""
    return code_cache().sources.get(filename)


def _parse(source: str, filename: str, where: str) -> ast.Module:
    try:
        return ast.parse(source, filename, "exec")
    except SyntaxError as exc:
        raise CodeError(f"syntax error: {exc.msg}", lineno=exc.lineno, col=exc.offset,
                        where=where) from None
    except ValueError as exc:  # e.g. a NUL byte in the source
        raise CodeError(f"cannot read the code: {exc}", where=where) from None


def compile_code(source: str, where: str = "task", *, filename: str | None = None,
                 allowlist: Iterable[str] | None = None) -> types.CodeType:
    """Compile ``source`` for layer ``where``; raise :class:`CodeError` if it is refused.

    Results are cached by source hash, layer, file name and allow-list.
    """
    check_where(where)
    allowed = tuple(default_allowlist() if allowlist is None else allowlist)
    filename = filename or f"<{where}>"
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    key = (digest, where, filename, allowed)
    cache = code_cache()
    code = cache.get(key)
    if code is not None:
        return code
    tree = _parse(source, filename, where)
    # The code's file name carries the source hash, so a traceback finds the right source even
    # when two projects' "<common>" codes are cached side by side; tracebacks hide the hash.
    code_filename = f"{filename[:-1]}#{digest[:12]}>" if filename.endswith(">") else filename
    try:
        result = compile_restricted_exec(tree, code_filename, policy=_policy(where, allowed))
    except SyntaxError as exc:  # raised by compile() itself: 'return' outside function …
        raise CodeError(f"syntax error: {exc.msg}", lineno=exc.lineno, col=exc.offset,
                        where=where) from None
    if result.errors:
        first = min(result.errors, key=lambda e: (getattr(e, "lineno", None) or 0,
                                                  getattr(e, "col", None) or 0))
        message = str(first)
        # RestrictedPython's own messages (if any slipped past our override) start "Line N: ".
        message = re.sub(r"^Line \d+: ", "", message)
        raise CodeError(message, lineno=getattr(first, "lineno", None),
                        col=getattr(first, "col", None), where=where)
    assert result.code is not None
    cache.put(key, result.code, code_filename, source)
    return result.code


def check_code(source: str, where: str = "task", require_handler: bool = False,
               allowlist: Iterable[str] | None = None) -> None:
    """Refuse code that would fail at run time; raise :class:`CodeError` with line and column.

    ``where`` is ``task``, ``common`` or ``protected``. With ``require_handler`` the code must
    define at least one of ``handle_cron``, ``handle_db``, ``handle_webhook``, ``handle_button``.
    ``allowlist`` is the import allow-list of protected code (default: the settings').
    """
    compile_code(source, where, allowlist=allowlist)
    if require_handler:
        tree = _parse(source, f"<{where}>", where)
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        if not defined.intersection(HANDLER_NAMES):
            raise CodeError("the code must define at least one of handle_cron(), "
                            "handle_db(records), handle_webhook(httprequest), handle_button()",
                            where=where)
