"""Problems found in a project file, worded to name the fix: the path of the key, its line in
the file, what is allowed and, for a misspelt key or value, what was probably meant."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from connector.errors import ProjectFileError
from connector.schema.loader import Loaded, Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong at ``path``; ``message`` does not repeat the path. ``line_path`` is the
    key whose line is shown (an unknown key's own, while ``path`` is its mapping)."""

    path: Path
    message: str
    line_path: Path | None = None

    def render(self, loaded: Loaded | None = None, base: str = "project",
               strip: int = 0) -> str:
        """``where: message (line N)``; the first ``strip`` parts of the path become ``base``."""
        path = self.path[strip:]
        where = format_path(path, base if strip else "")
        line = loaded.line(self.line_path or self.path) if loaded is not None else None
        mark = f" (line {line})" if line is not None else ""
        if "{line}" in self.message:
            return f"{where}: {self.message.replace('{line}', mark)}"
        return f"{where}: {self.message}{mark}"


class SchemaError(ProjectFileError):
    """A project (or one trigger) refused; ``problems`` holds all, the message names the first."""

    def __init__(self, problems: Sequence[Problem], rendered: Sequence[str]) -> None:
        self.problems = list(problems)
        self.rendered = list(rendered)
        more = f" (and {len(rendered) - 1} more)" if len(rendered) > 1 else ""
        super().__init__(f"{rendered[0]}{more}")


def format_path(path: Path, base: str = "") -> str:
    """``tasks[0].triggers.db[1]`` for ('tasks', 0, 'triggers', 'db', 1)."""
    text = base
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "project"


def raise_problems(problems: Sequence[Problem], loaded: Loaded | None = None,
                   base: str = "project", strip: int = 0) -> None:
    """Raise :class:`SchemaError` for ``problems`` (nothing when there are none)."""
    if problems:
        raise SchemaError(problems, [p.render(loaded, base, strip) for p in problems])


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to a misspelt ``word``, if one is close."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds (``list[X]``, ``X | None``, ``Annotated[X, …]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            found += _models_in(arg)
    return found


def model_at(root: type[BaseModel], path: Path) -> type[BaseModel] | None:
    """The model that validates the mapping at ``path`` (None: not a model there)."""
    model: type[BaseModel] | None = root
    for part in path:
        if model is None:
            return None
        if isinstance(part, int):
            continue  # an item of a list: the list's own model follows
        field = model.model_fields.get(part)
        models = _models_in(field.annotation) if field is not None else []
        model = models[0] if models else None
    return model


def _fields(model: type[BaseModel] | None) -> list[str]:
    return list(model.model_fields) if model is not None else []


def _allowed_values(expected: str) -> list[str]:
    return re.findall(r"'([^']*)'", expected)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problems_of(exc: ValidationError, root: type[BaseModel], prefix: Path = ()) -> list[Problem]:
    """pydantic's errors as :class:`Problem` s, unknown keys first (a typo explains the rest)."""
    found: list[Problem] = []
    for error in exc.errors():
        # "[key]" marks an error in a mapping's key rather than its value: the key is named.
        loc = (*prefix, *[p for p in error["loc"] if isinstance(p, (str, int)) and p != "[key]"])
        kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
        local = loc[len(prefix):]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            fields = _fields(model_at(root, local[:-1]))
            near = suggest(key, fields)
            hint = f" — did you mean '{near}'?" if near else f"; allowed: {', '.join(fields)}"
            found.append(Problem(loc[:-1], f"unknown key '{key}'{{line}}{hint}", loc))
            continue
        if kind == "missing":
            found.append(Problem(loc[:-1], f"'{loc[-1]}' is required"))
            continue
        found.append(Problem(loc, _message(kind, value, ctx, str(error["msg"]),
                                           model_at(root, local))))
    found.sort(key=lambda p: 0 if "unknown key" in p.message else 1)
    return found


def _message(kind: str, value: Any, ctx: dict[str, Any], default: str,
             model: type[BaseModel] | None) -> str:
    got = f", got {_shown(value)}"
    if kind == "literal_error":
        allowed = _allowed_values(str(ctx.get("expected", "")))
        near = suggest(str(value), allowed) if isinstance(value, str) else None
        hint = f" — did you mean '{near}'?" if near else ""
        return f"must be one of {', '.join(allowed)}{got}{hint}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number{got}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number{got}"
    if kind == "string_type":
        return f"must be text{got} (quote it)"
    if kind == "bool_type":
        return f"must be true or false{got}"
    if kind == "list_type":
        return f"must be a list{got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        keys = f" of {', '.join(_fields(model))}" if model is not None else ""
        return f"must be a mapping{keys}{got}"
    if kind == "greater_than":
        return f"must be above {ctx.get('gt')}{got}"
    if kind == "greater_than_equal":
        return f"must be {ctx.get('ge')} or more{got}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return f"must look like ${{ENV_NAME}}{got}"
    return default
