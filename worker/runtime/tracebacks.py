"""Tracebacks of user code, fit to show to the people who wrote it.

Only frames of user code appear (``<task: NAME>``, ``<common>``, ``<protected>``), never the
runtime's or a library's; protected code lines are shown by number only (Developers may not
read protected code), and secret values are masked wherever they appear.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from connector.masking import MASK, masker
from worker.runtime.policy import source_of

__all__ = ["MASK", "format_user_traceback", "is_user_filename", "mask_secrets", "secret_masker",
           "task_filename"]

_USER_PREFIXES = ("<task", "<common", "<protected")
_HASH_SUFFIX = re.compile(r"#[0-9a-f]{12}>\Z")


def task_filename(task_name: str | None) -> str:
    """The file name task code is compiled under, e.g. ``<task: Sync partners>``."""
    return f"<task: {task_name}>" if task_name else "<task>"


def is_user_filename(filename: str) -> bool:
    """True for the file names user code is compiled under."""
    return filename.startswith(_USER_PREFIXES)


def mask_secrets(text: str, secrets: Mapping[str, Any] | Iterable[Any] | None) -> str:
    """``text`` with every secret value (in any spelling :mod:`connector.masking` knows)
    replaced by ``**********``."""
    return masker(secrets)(text)


def secret_masker(secrets: Mapping[str, Any] | Iterable[Any] | None) -> Callable[[str], str]:
    """A function masking the values of ``secrets`` in a text (one regex, cached per set)."""
    return masker(secrets)


def _frames(exc: BaseException) -> list[str]:
    lines = []
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        filename = frame.f_code.co_filename
        if not is_user_filename(filename):
            continue
        shown = _HASH_SUFFIX.sub(">", filename)
        lines.append(f'  File "{shown}", line {lineno}, in {frame.f_code.co_name}')
        if filename.startswith("<protected"):
            continue
        source = source_of(filename)
        if source:
            code_lines = source.splitlines()
            if 0 < lineno <= len(code_lines):
                lines.append("    " + code_lines[lineno - 1].strip())
    return lines


def _describe(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - e.g. an int too large to print in its arguments
        message = "(the message of this error cannot be shown)"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def format_user_traceback(exc: BaseException,
                          secrets: Mapping[str, Any] | Iterable[Any] | None = None) -> str:
    """A traceback of ``exc`` showing only user code, with secret values masked."""
    # chain[0] is exc; chain[i + 1] caused chain[i], as notes[i] says.
    chain: list[BaseException] = [exc]
    notes: list[str] = []
    while len(chain) < 20:
        current = chain[-1]
        if current.__cause__ is not None:
            following, note = current.__cause__, "The above exception was the direct cause of " \
                                                 "the following exception:"
        elif current.__context__ is not None and not current.__suppress_context__:
            following, note = current.__context__, "During handling of the above exception, " \
                                                   "another exception occurred:"
        else:
            break
        if any(following is seen for seen in chain):
            break
        chain.append(following)
        notes.append(note)
    parts: list[str] = []
    for index in range(len(chain) - 1, -1, -1):
        error = chain[index]
        frames = _frames(error)
        block = "\n".join(["Traceback (most recent call last):", *frames, _describe(error)]
                          if frames else [_describe(error)])
        if parts:
            parts.append(f"\n{notes[index]}\n")
        parts.append(block)
    return mask_secrets("\n".join(parts), secrets)
