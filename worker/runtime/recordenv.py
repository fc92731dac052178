"""What recordsets need from their environment, stated as a protocol.

:class:`worker.runtime.environment.Environment` implements it; the recordset modules depend on
this protocol only, so the environment imports them and never the reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from worker.runtime.rpc import Prefetch

__all__ = ["ORM_ONLY", "RecordEnvironment"]

# Methods of Odoo's ORM that make no sense over RPC, each with what to write instead.
ORM_ONLY = {
    "new": "records.new() builds records in memory, which RPC cannot do; use create(vals)",
    "flush": "writes go to Odoo at once over RPC; there is nothing to flush",
    "with_env": "use records.with_context(...) (over RPC, env is the project's Odoo)",
    "with_company": "over RPC use records.with_context(allowed_company_ids=[company.id])",
    "flush_all": "writes go to Odoo at once over RPC; there is nothing to flush",
}


class RecordEnvironment(Protocol):
    """What a recordset needs from its environment (:class:`worker.runtime.Environment`).

    Stated apart, so that the environment module imports the recordsets and not the reverse.
    """

    _client: Any
    _context: dict[str, Any]
    _links: Any
    _missing: dict[str, set[int]]

    @property
    def uid(self) -> int: ...

    def __getitem__(self, model: str) -> Any: ...

    def with_context(self, *args: Mapping[str, Any], **kwargs: Any) -> RecordEnvironment: ...

    def _call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...

    def _ctx_kwargs(self) -> dict[str, Any]: ...

    def _field(self, model: str, name: str) -> dict[str, Any] | None: ...

    def _store(self, model: str, rows: Iterable[Mapping[str, Any]]) -> set[int]: ...

    def _raw(self, model: str, rid: int, field: str, prefetch: Prefetch) -> Any: ...

    def _convert(self, model: str, field: str, raw: Any, prefetch: Prefetch) -> Any: ...

    def _invalidate(self, model: str, ids: Iterable[int] | None = None) -> None: ...

    def _invalidate_relations(self, model: str, vals: Mapping[str, Any]) -> None: ...

    def _drop_relations(self) -> None: ...

    def _clear(self) -> None: ...

    def _base_url(self) -> str: ...
