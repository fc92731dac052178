"""Masking of secret values in every text the product writes (logs, errors, results, arguments).

A secret can reach a text in many spellings besides its own: escaped by ``repr`` or JSON,
URL-encoded (once or twice), base64- or base32-encoded (alone or inside a longer encoded string,
e.g. HTTP Basic auth's ``user:secret``), hex-encoded, JSON-escaped twice (JSON inside JSON),
HTML-escaped, printed as bytes (``b'...'``), reversed, or in another case. :func:`masker`
builds one regular expression matching all of them, case-insensitively, once per set of secrets
(cached), so masking a line costs one ``re.sub``.

Secrets shorter than :data:`MIN_VARIANT_LENGTH` characters are masked only where they appear
exactly (same case, plain form): their variants would match too much ordinary text.
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "MIN_VARIANT_LENGTH", "mask_data", "mask_secrets", "masker", "secret_values",
           "variants"]

MASK = "**********"
#: Secrets shorter than this are masked in their exact plain form only.
MIN_VARIANT_LENGTH = 4


def secret_values(secrets: Mapping[str, Any] | Iterable[Any] | None) -> tuple[str, ...]:
    """The non-empty string values of ``secrets`` (a mapping, or values; ``Secret`` objects are
    revealed), sorted, without duplicates."""
    if not secrets:
        return ()
    values = secrets.values() if isinstance(secrets, Mapping) else secrets
    found = set()
    for value in values:
        reveal = getattr(value, "reveal", None)
        text = reveal() if callable(reveal) else value
        if isinstance(text, str) and text:
            found.add(text)
    return tuple(sorted(found))


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that depend on ``raw`` alone, for each of the three alignments
    ``raw`` can have inside a longer encoded string (standard and URL-safe alphabets)."""
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        start = math.ceil(8 * offset / 6)
        end = (8 * (offset + len(raw))) // 6
        core = encoded[start:end]
        cores.add(core)
        cores.add(core.translate(str.maketrans("+/", "-_")))
    return cores


def _base32_cores(raw: bytes) -> set[str]:
    """Like :func:`_base64_cores` for base32 (5-byte groups of 8 characters; TOTP keys)."""
    cores = set()
    for offset in range(5):
        encoded = base64.b32encode(b"\0" * offset + raw).decode("ascii")
        cores.add(encoded[math.ceil(8 * offset / 5):(8 * (offset + len(raw))) // 5])
    return cores


def _html_escape(text: str) -> str:
    return html.escape(text, quote=True)


def variants(secret: str) -> set[str]:
    """The spellings of ``secret`` that are masked (before case folding)."""
    raw = secret.encode("utf-8")
    json_escaped = json.dumps(secret)[1:-1]
    forms = {secret, secret[::-1],
             # Escaped twice: a JSON document inside a JSON string, a URL inside a query.
             json.dumps(json_escaped)[1:-1], json.dumps(json.dumps(secret))[1:-1],
             quote(quote(secret, safe=""), safe=""),
             # How a bytes value prints (``b'...'``): non-ASCII as \x escapes.
             repr(raw)[2:-1], str(raw)[2:-1],
             _html_escape(secret), html.escape(secret, quote=False),
             secret.replace("\\", "\\\\").replace("'", "\\'"),
             secret.replace("\\", "\\\\").replace('"', '\\"'),
             secret.encode("unicode_escape").decode("ascii"),
             repr(secret)[1:-1],
             json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             quote(secret, safe=""), quote(secret), quote_plus(secret), quote_plus(secret, safe=""),
             binascii.hexlify(raw).decode("ascii")}
    forms |= _base64_cores(raw) | _base32_cores(raw)
    return {form for form in forms if len(form) >= MIN_VARIANT_LENGTH}


@functools.lru_cache(maxsize=256)
def _compiled(values: tuple[str, ...]) -> re.Pattern[str] | None:
    exact = {value for value in values if len(value) < MIN_VARIANT_LENGTH}
    loose: set[str] = set()
    for value in values:
        if len(value) >= MIN_VARIANT_LENGTH:
            loose |= variants(value)
    if not exact and not loose:
        return None
    # Longest first: the regex engine takes the first alternative that matches, so a secret
    # containing another one is masked whole.
    parts = [re.escape(form) for form in sorted(loose, key=len, reverse=True)]
    parts += ["(?-i:" + re.escape(form) + ")" for form in sorted(exact, key=len, reverse=True)]
    return re.compile("|".join(parts), re.IGNORECASE)


def masker(secrets: Mapping[str, Any] | Iterable[Any] | None) -> Callable[[str], str]:
    """A function masking every variant of ``secrets`` in a text; cached per secret set."""
    pattern = _compiled(secret_values(secrets))
    if pattern is None:
        return _identity
    substitute = pattern.sub

    def mask(text: str) -> str:
        return substitute(MASK, text)

    return mask


def _identity(text: str) -> str:
    return text


def mask_secrets(text: str, secrets: Mapping[str, Any] | Iterable[Any] | None) -> str:
    """``text`` with every variant of every secret value replaced by ``**********``."""
    return masker(secrets)(text)


def mask_data(value: Any, mask: Callable[[str], str]) -> Any:
    """``value`` (plain JSON-like data) with ``mask`` applied to every string in it, keys too,
    so the masked data still serialises to valid JSON."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask_data(key, mask): mask_data(item, mask) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(item, mask) for item in value]
    return value
