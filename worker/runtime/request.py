"""The ``httprequest`` handed to ``handle_webhook``: plain data, not the web framework's object.

A werkzeug request reaches the WSGI environ, the input stream and the server; task code only
needs what the original module documents (``form``, ``files``, ``remote_addr``, the data and
JSON body).
Being plain data it also crosses into the sandbox process (it pickles).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HttpRequest", "UploadedFile"]


@dataclass(frozen=True)
class UploadedFile:
    """One uploaded file: ``filename``, ``content_type`` and the bytes in ``content``."""

    filename: str
    content_type: str
    content: bytes

    def read(self) -> bytes:
        """The file's bytes (werkzeug's FileStorage spelling)."""
        return self.content


@dataclass(frozen=True)
class HttpRequest:
    """A received webhook call; ``form``/``args``/``headers`` keep the first value of a key."""

    method: str = "POST"
    url: str = ""
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    data: bytes = b""
    content_type: str = ""
    remote_addr: str = ""

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        if not self.data:
            return None
        try:
            return json.loads(self.data)
        except ValueError:
            return None

    def get_json(self, silent: bool = True) -> Any:
        """The body parsed as JSON (werkzeug's spelling)."""
        if not silent and self.json is None:
            raise ValueError("the request body is not JSON")
        return self.json

    def get_data(self, as_text: bool = False) -> bytes | str:
        """The raw body, as bytes or text."""
        return self.data.decode("utf-8", "replace") if as_text else self.data

    @classmethod
    def from_werkzeug(cls, request: Any) -> HttpRequest:
        """Copy what task code may see out of a werkzeug/Flask request."""
        files = {
            name: UploadedFile(storage.filename or "", storage.mimetype or "", storage.read())
            for name, storage in request.files.items()
        }
        return cls(
            method=request.method, url=request.url, path=request.path,
            headers={k: v for k, v in request.headers.items()},
            args=request.args.to_dict(), form=request.form.to_dict(), files=files,
            data=request.get_data(cache=True), content_type=request.content_type or "",
            remote_addr=request.remote_addr or "",
        )
