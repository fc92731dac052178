"""Arguments of sub-jobs (``add_job(...)(*args, **kwargs)``) as stored JSON and back.

A sub-job runs later, in another process: its arguments are stored as JSON. Task code
naturally passes records and dates, so these travel as tagged objects (a recordset as its model
and ids, a date as ISO text) and come back as the same kind of value in the sub-job. Anything
else that JSON cannot hold is refused when the job is added, with the argument's place named.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from typing import Any

from worker.runtime.rpc import Records

__all__ = ["TAG", "decode_args", "encode_args"]

#: The key marking a tagged value; refused in task data so that nothing is mistaken for one.
TAG = "__syncstudio_type__"
_MAX_DEPTH = 50


class _Refused(TypeError):
    pass


def _where(path: list[str]) -> str:
    return path[0] + "".join(f"[{p}]" for p in path[1:])


def _encode(value: Any, path: list[str]) -> Any:
    if len(path) > _MAX_DEPTH:
        raise _Refused(f"add_job: {_where(path[:3])}… is nested more than {_MAX_DEPTH} deep")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Refused(f"add_job: {_where(path)} is {value!r}, which JSON cannot hold")
        return value
    if isinstance(value, Records):
        model = getattr(value, "_name", None)
        return {TAG: "records", "model": model, "ids": list(value._ids)}
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return {TAG: "datetime", "value": value.isoformat()}
    if isinstance(value, datetime.date):
        return {TAG: "date", "value": value.isoformat()}
    if isinstance(value, list | tuple):
        return [_encode(v, [*path, str(i)]) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Refused(f"add_job: {_where(path)} has the key {key!r}; keys of a "
                               "sub-job's dicts must be text (JSON turns others into text)")
            if key == TAG:
                raise _Refused(f"add_job: {_where(path)} uses the reserved key {TAG!r}")
            result[key] = _encode(item, [*path, repr(key)])
        return result
    hint = {"bytes": "decode it, or pass b64encode(data).decode()",
            "set": "pass a list", "frozenset": "pass a list",
            "Links": "pass links.ids or the external refs and look the links up again"}
    kind = type(value).__name__
    raise _Refused(f"add_job: {_where(path)} is a {kind}, which a sub-job cannot receive: "
                   f"{hint.get(kind, 'pass plain data (text, numbers, bool, None, lists, dicts)')}"
                   ", records or dates")


def encode_args(args: tuple[Any, ...], kwargs: Mapping[str, Any]
                ) -> tuple[list[Any], dict[str, Any]]:
    """JSON-ready copies of a sub-job's arguments; ``TypeError`` naming the bad one."""
    try:
        return ([_encode(v, [f"argument {i + 1}"]) for i, v in enumerate(args)],
                {k: _encode(v, [f"argument {k}="]) for k, v in kwargs.items()})
    except _Refused as exc:
        raise TypeError(str(exc)) from None


def _decode(value: Any, env: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v, env) for v in value]
    if isinstance(value, dict):
        kind = value.get(TAG)
        if kind == "records":
            return env[value["model"]].browse(value["ids"])
        if kind == "datetime":
            return datetime.datetime.fromisoformat(value["value"])
        if kind == "date":
            return datetime.date.fromisoformat(value["value"])
        return {k: _decode(v, env) for k, v in value.items()}
    return value


def decode_args(args: tuple[Any, ...], kwargs: Mapping[str, Any] | None, env: Any
                ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A sub-job's stored arguments with records (of ``env``) and dates rebuilt."""
    return (tuple(_decode(v, env) for v in args),
            {k: _decode(v, env) for k, v in (kwargs or {}).items()})
