"""Helpers and libraries exposed to task code (the original module's "Libs" and "Tools").

Libraries are handed over as narrow namespaces (:func:`module_proxy`), never as modules: a
module's attributes include whatever it imported (``json.codecs.open``).

``timezone``: the original module passes ``pytz.timezone``. We do not depend on pytz;
``timezone(name)``
returns a :class:`zoneinfo.ZoneInfo` (the standard library's IANA zones), usable as
``datetime.datetime.now(timezone('Europe/Berlin'))`` or ``dt.astimezone(timezone('UTC'))``.
pytz's ``localize(dt)`` is not available: use ``dt.replace(tzinfo=timezone(name))``.
``timezone.utc`` is not an attribute of a function; use ``timezone('UTC')``.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import re
import time
import urllib.request
import zoneinfo
from html.parser import HTMLParser
from typing import Any

import dateutil
import dateutil.parser
import dateutil.relativedelta
import dateutil.rrule
import dateutil.tz

from worker.runtime.namespace import Namespace, module_proxy

__all__ = [
    "DEFAULT_SERVER_DATETIME_FORMAT", "DEFAULT_SERVER_DATE_FORMAT", "get_lang", "gettz",
    "html2plaintext",
    "libraries", "timezone", "type2str", "url2base64", "url2bin",
]

DEFAULT_SERVER_DATE_FORMAT = "%Y-%m-%d"
DEFAULT_SERVER_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
URL_TIMEOUT = 42.0  # seconds, as the seed's url2bin


def timezone(name: str) -> zoneinfo.ZoneInfo:
    """The time zone called ``name`` (``'Europe/Brussels'``, ``'UTC'``)."""
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


_TZ_NAME = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*\Z")


def gettz(name: str | None = None) -> Any:
    """``dateutil.tz.gettz`` by IANA name only (``'Europe/Berlin'``, ``'UTC'``, ``'EST5EDT'``).

    dateutil also takes file paths, which would tell task code which files exist.
    """
    if name is None or name == "":
        return dateutil.tz.gettz()
    if not isinstance(name, str) or not _TZ_NAME.match(name) or len(name) > 64:
        raise ValueError(f"gettz() takes a time zone name such as 'Europe/Berlin', not {name!r}")
    return dateutil.tz.gettz(name)


def url2bin(url: str | None) -> bytes | None:
    """The content at ``url`` (http or https only), or None for an empty url."""
    if not url:
        return None
    if not re.match(r"https?://", str(url), re.IGNORECASE):
        # file://, ftp:// … would let task code read the worker's files.
        raise ValueError("url2bin() only fetches http:// and https:// URLs")
    request = urllib.request.Request(str(url), headers={"User-Agent": "SyncStudio"})
    with urllib.request.urlopen(request, timeout=URL_TIMEOUT) as response:  # noqa: S310
        return response.read()


def url2base64(url: str | None) -> bytes | None:
    """The content at ``url``, base64-encoded (as Odoo binary fields want it)."""
    content = url2bin(url)
    if not content:
        return None
    return base64.b64encode(content)


def type2str(obj: Any) -> str:
    """The type of ``obj`` as text, e.g. ``"<class 'int'>"``."""
    return str(type(obj))


def get_lang(env: Any, lang_code: str | bool = False) -> Any:
    """The ``res.lang`` record of ``lang_code``, else of the context's language, else the first
    active language."""
    langs = env["res.lang"]
    for code in (lang_code, env.context.get("lang"), "en_US"):
        if code:
            found = langs.search([("code", "=", code)], limit=1)
            if found:
                return found
    return langs.search([("active", "=", True)], limit=1)


class _TextExtractor(HTMLParser):
    BLOCKS = frozenset({"p", "div", "section", "article", "header", "footer", "table", "tr",
                        "ul", "ol", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6"})
    SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self.href: list[str | None] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag == "br" or tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n* ")
        elif tag in ("b", "strong"):
            self.parts.append("*")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))
        if tag in ("h1", "h2"):
            self.parts.append("**")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in ("b", "strong"):
            self.parts.append("*")
        elif tag in ("h1", "h2"):
            self.parts.append("**\n")
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag == "a" and self.href:
            href = self.href.pop()
            if href and not href.startswith(("#", "mailto:", "javascript:")):
                self.links.append(href)
                self.parts.append(f" [{len(self.links)}]")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def html2plaintext(value: str | bytes | None) -> str:
    """Readable plain text of an HTML fragment; links become ``text [1]`` plus footnotes."""
    if not value:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    parser = _TextExtractor()
    parser.feed(str(value))
    parser.close()
    text = "".join(parser.parts)
    text = "\n".join(line.strip() for line in text.splitlines())
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if parser.links:
        text += "\n\n" + "\n".join(f"[{i}] {url}" for i, url in enumerate(parser.links, 1))
    return html.unescape(text)


def libraries() -> dict[str, Any]:
    """The library names of the evaluation context, as narrow namespaces."""
    return {
        "json": module_proxy(json, ["dumps", "loads", "JSONDecodeError"]),
        "time": module_proxy(time, ["time", "sleep", "monotonic", "perf_counter", "strftime",
                                    "strptime", "gmtime", "localtime", "mktime", "time_ns",
                                    "timezone", "struct_time"]),
        "datetime": module_proxy(datetime, ["date", "datetime", "time", "timedelta", "timezone",
                                            "tzinfo", "MINYEAR", "MAXYEAR"]),
        "dateutil": Namespace("module dateutil", {
            "parser": module_proxy(dateutil.parser, ["parse", "isoparse", "ParserError"]),
            "relativedelta": module_proxy(dateutil.relativedelta, [
                "relativedelta", "MO", "TU", "WE", "TH", "FR", "SA", "SU"]),
            "tz": module_proxy(dateutil.tz, ["tzutc", "tzoffset", "tzlocal", "UTC"],
                               gettz=gettz),
            "rrule": module_proxy(dateutil.rrule, [
                "rrule", "rruleset", "rrulestr", "YEARLY", "MONTHLY", "WEEKLY", "DAILY",
                "HOURLY", "MINUTELY", "SECONDLY", "MO", "TU", "WE", "TH", "FR", "SA", "SU"]),
        }),
        "timezone": timezone,
        "b64encode": base64.b64encode,
        "b64decode": base64.b64decode,
    }
