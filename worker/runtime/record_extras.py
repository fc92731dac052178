"""Recordset methods beyond reading and writing fields: model-level calls, the chatter and
attachments, the user and cache methods of Odoo's ORM as they work over RPC.

:class:`RecordExtras` is a base of :class:`worker.runtime.recordset.RecordSet`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any

from worker.runtime.exceptions import UserError
from worker.runtime.recordenv import RecordEnvironment
from worker.runtime.rpc import Records, plain, rpc_domain

__all__ = ["RecordExtras", "base64_text", "no_op"]


class RecordExtras(Records):
    """Model methods, ``message_post``, ``public_url``, ``sudo``/``with_user``, cache methods."""

    __slots__ = ()
    # Set by RecordSet.__init__ (declared for type checkers only).
    _env: RecordEnvironment
    _ids: tuple[int, ...]
    _model: str
    _model_level: bool

    # -- model methods (``@api.model``: no ids over RPC) -------------------------------------

    def name_search(self, name: str = "", args: Sequence[Any] | None = None,
                    operator: str = "ilike", limit: int = 100) -> list[Any]:
        """``[(id, display_name), …]`` of the records whose name matches (a model method)."""
        return self._model_call("name_search", [], {
            "name": name, "args": rpc_domain(args), "operator": operator, "limit": limit})

    def default_get(self, fields_list: Sequence[str]) -> dict[str, Any]:
        """The default values of ``fields_list`` for a new record (a model method)."""
        return self._model_call("default_get", [list(fields_list)], {})

    def read_group(self, domain: Sequence[Any], fields: Sequence[str],
                   groupby: str | Sequence[str], offset: int = 0, limit: int | None = None,
                   orderby: str | bool = False, lazy: bool = True) -> list[dict[str, Any]]:
        """Odoo's ``read_group`` over RPC (values as Odoo sends them)."""
        return self._model_call("read_group", [rpc_domain(domain), list(fields),
                                               [groupby] if isinstance(groupby, str)
                                               else list(groupby)],
                                {"offset": offset, "limit": limit, "orderby": orderby,
                                 "lazy": lazy})

    def _model_call(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        # A model-level (@api.model) method: RPC must not receive record ids first.
        env = self._env
        return env._call(env._client.execute_kw, self._model, method, args,
                         {**kwargs, **env._ctx_kwargs()})

    # -- chatter and attachments ----------------------------------------------------------

    def message_post(self, body: str = "", attachments: Sequence[Any] | None = None,
                     attachment_ids: Any = None, **kwargs: Any) -> Any:
        """Post a message on each record (chatter); returns the ``mail.message`` records.

        ``attachments`` is Odoo's list of ``(name, content)`` pairs (content as ``bytes`` or
        text); they become ``ir.attachment`` records of the record, as Odoo makes them.
        ``attachment_ids`` takes existing attachments (ids or records).
        """
        env = self._env
        files = _attachment_files(attachments)
        existing = _id_list(attachment_ids, "attachment_ids")
        options = {"body": body, **{k: plain(v) for k, v in kwargs.items()}}
        if env._context:
            options["context"] = dict(env._context)
        ids: list[int] = []
        try:
            for rid in self._ids:
                own = list(existing)
                if files:
                    own += env["ir.attachment"].create([
                        {"name": name, "datas": base64.b64encode(content).decode("ascii"),
                         "res_model": self._model, "res_id": rid} for name, content in files
                    ])._ids
                call = dict(options, attachment_ids=own) if own else options
                result = env._call(env._client.execute_kw, self._model, "message_post",
                                   [[rid]], call)
                ids.extend(result if isinstance(result, list) else [result])
        finally:
            env._invalidate(self._model, self._ids)
            env._invalidate("mail.message")
            if files or existing:
                env._invalidate("ir.attachment")
        return env["mail.message"].browse(ids)

    def public_url(self) -> str:
        """A URL anyone can open to download this attachment (``ir.attachment`` only).

        Odoo's ``generate_access_token`` gives the attachment an access token (kept if it has
        one); the URL is the project's Odoo address with ``/web/content/<id>?access_token=``.
        """
        if self._model != "ir.attachment":
            raise UserError(f"public_url() is a method of ir.attachment records, not of "
                            f"{self._model}; use it on an attachment, e.g. "
                            "record.message_main_attachment_id.public_url()")
        if len(self._ids) != 1:
            raise ValueError(f"Expected singleton: {self!r}")
        env = self._env
        try:
            tokens = env._call(env._client.execute_kw, self._model, "generate_access_token",
                               [list(self._ids)], env._ctx_kwargs() or None)
        finally:
            env._invalidate(self._model, self._ids)
        token = tokens[0] if isinstance(tokens, list) and tokens else tokens
        if not isinstance(token, str) or not token:
            raise UserError(f"Odoo gave no access token for {self!r}")
        return f"{env._base_url()}/web/content/{self._ids[0]}?access_token={token}"

    # -- user and cache ---------------------------------------------------------------------

    def sudo(self, flag: bool = True) -> Any:
        """The same records: over RPC the rights are always those of the connection's user
        (a documented no-op; give that user the rights the task needs)."""
        return self

    def with_user(self, user: Any) -> Any:
        """The same records if ``user`` is the connection's user; any other user is refused.

        Over RPC every call runs as the user the project connects as: Odoo cannot be asked
        to act as someone else without that user's credentials.
        """
        if isinstance(user, type(self)):
            if user._model != "res.users" or len(user._ids) != 1:
                raise TypeError(f"with_user() takes one res.users record or id, not {user!r}")
            uid = user._ids[0]
        elif isinstance(user, int) and not isinstance(user, bool):
            uid = user
        else:
            raise TypeError(f"with_user() takes one res.users record or id, not {user!r}")
        if uid != self._env.uid:
            raise UserError(
                f"with_user({uid}) is not possible over RPC: calls run as the project's Odoo "
                f"user (env.user, id {self._env.uid}). Connect the project as the user you "
                "need, or set the values explicitly (e.g. {'user_id': user.id}).")
        return self

    def _invalidate_method(self, name: str) -> Callable[..., None]:
        env, model = self._env, self._model
        ids = None if name != "invalidate_recordset" else self._ids

        def invalidate(fnames: Any = None, flush: bool = True) -> None:
            env._invalidate(model, ids)

        invalidate.__name__ = invalidate.__qualname__ = name
        return invalidate


def no_op(name: str) -> Callable[..., None]:
    """Odoo's ``flush_*`` methods as task code calls them: nothing to do over RPC."""
    def flush(fnames: Any = None) -> None:
        """Writes reach Odoo at once over RPC: nothing waits to be flushed."""

    flush.__name__ = flush.__qualname__ = name
    return flush


def base64_text(model: str, name: str, value: bytes) -> str:
    """A binary field's value as Odoo's ORM takes it: base64, sent as text over RPC."""
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{model}.{name} is a binary field: give it base64 (Odoo's ORM "
                         "stores base64), e.g. b64encode(content)") from None
    return value.decode("ascii")


def _attachment_files(attachments: Any) -> list[tuple[str, bytes]]:
    """Odoo's ``attachments=[(name, content), …]`` with content as bytes (text is UTF-8)."""
    if not attachments:
        return []
    if not isinstance(attachments, (list, tuple)):
        raise TypeError("attachments must be a list of (name, content) pairs")
    files = []
    for item in attachments:
        if not isinstance(item, (list, tuple)) or len(item) not in (2, 3):
            raise TypeError(f"attachments must be (name, content) pairs, not {item!r}")
        name, content = item[0], item[1]
        if content is None:
            continue  # as Odoo: an attachment without content is skipped
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, (bytes, bytearray)):
            raise TypeError(f"the content of attachment {name!r} must be bytes or text, not "
                            f"{type(content).__name__}")
        files.append((str(name), bytes(content)))
    return files


def _id_list(value: Any, what: str) -> list[int]:
    if not value:
        return []
    if isinstance(value, Records):
        return list(value._ids)
    if isinstance(value, (list, tuple)) and all(
            isinstance(i, int) and not isinstance(i, bool) for i in value):
        return list(value)
    raise TypeError(f"{what} takes records or a list of ids, not {value!r}")
