"""Facades of standard-library modules: pure functions, constants and exception classes.

Each builder returns the names a module's facade holds. The functions are the library's own
(they take and return plain data, or C objects such as hashes and regex matches that lead
nowhere); mutable module state (``hashlib.algorithms_available``, ``re``'s cache) and the
modules a module imported (``base64.binascii``) are left out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import string
import urllib.parse
from typing import Any

from worker.runtime.formatting import SafeFormatter

__all__ = ["BUILDERS"]


def _names(module: Any, names: str) -> dict[str, Any]:
    return {name: getattr(module, name) for name in names.split()}


def _hashlib() -> dict[str, Any]:
    values = _names(hashlib, "md5 sha1 sha224 sha256 sha384 sha512 sha3_224 sha3_256 sha3_384 "
                             "sha3_512 shake_128 shake_256 blake2b blake2s new pbkdf2_hmac")
    if hasattr(hashlib, "scrypt"):
        values["scrypt"] = hashlib.scrypt
    values["algorithms_available"] = frozenset(hashlib.algorithms_available)
    values["algorithms_guaranteed"] = frozenset(hashlib.algorithms_guaranteed)
    return values


def _hmac_class(key: bytes, msg: bytes | None = None, digestmod: Any = "") -> hmac.HMAC:
    """``hmac.HMAC(key, msg, digestmod)``: the same as ``hmac.new``."""
    return hmac.new(key, msg, digestmod)


def _hmac() -> dict[str, Any]:
    # HMAC is offered as a function: the class itself would let code subclass the library's.
    return {**_names(hmac, "new compare_digest digest"), "HMAC": _hmac_class}


def _base64() -> dict[str, Any]:
    return _names(base64, "b64encode b64decode standard_b64encode standard_b64decode "
                          "urlsafe_b64encode urlsafe_b64decode b32encode b32decode "
                          "b32hexencode b32hexdecode b16encode b16decode a85encode a85decode "
                          "b85encode b85decode encodebytes decodebytes")


def _re() -> dict[str, Any]:
    return _names(re, "compile search match fullmatch split findall finditer sub subn escape "
                      "error Pattern Match A ASCII I IGNORECASE L LOCALE M MULTILINE S DOTALL "
                      "U UNICODE X VERBOSE NOFLAG")


def _math() -> dict[str, Any]:
    return {name: getattr(math, name) for name in dir(math) if not name.startswith("_")}


def _urllib_parse() -> dict[str, Any]:
    return _names(urllib.parse, "urlparse urlunparse urljoin urldefrag urlsplit urlunsplit "
                                "urlencode parse_qs parse_qsl quote quote_plus quote_from_bytes "
                                "unquote unquote_plus unquote_to_bytes")


def _string() -> dict[str, Any]:
    # Formatter is the sandbox's: string.Formatter reads format fields without the guards.
    return {**_names(string, "ascii_letters ascii_lowercase ascii_uppercase digits hexdigits "
                             "octdigits punctuation printable whitespace capwords Template"),
            "Formatter": SafeFormatter}


BUILDERS = {
    "hashlib": _hashlib,
    "hmac": _hmac,
    "base64": _base64,
    "re": _re,
    "math": _math,
    "urllib.parse": _urllib_parse,
    "string": _string,
}
