"""Per-connection poll statistics for the dashboard, kept cheap on the poll loop.

Each cycle of a connection adds to an in-memory tally (cycles, failures, RPC calls, detection
latencies); the tally is written as one row per (connection, minute) at most every
:data:`FLUSH_SECONDS`, so the loop pays one small statement every few seconds, not one per
cycle. Rows older than :data:`KEEP` are pruned when a new minute starts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Iterable

from sqlalchemy import delete, select

from connector.store.db import Database
from connector.store.models import PollStat

logger = logging.getLogger("syncstudio.poller")

FLUSH_SECONDS = 10.0
MAX_SAMPLES = 200  # detection latencies kept per (connection, minute)
KEEP = dt.timedelta(days=2)


def minute_of(at: dt.datetime) -> dt.datetime:
    """The start of the minute holding ``at``."""
    return at.replace(second=0, microsecond=0)


@dataclasses.dataclass
class Tally:
    """What one connection did since the last write."""

    minute: dt.datetime
    cycles: int = 0
    failed: int = 0
    rpc_calls: int = 0
    latencies: list[float] = dataclasses.field(default_factory=list)
    error: str | None = None
    flushed_at: dt.datetime | None = None


class PollStats:
    """The tallies of every connection of one poller, and their writing."""

    def __init__(self, db: Database, now: Callable[[], dt.datetime]) -> None:
        self.db, self.now = db, now
        self._tallies: dict[int, Tally] = {}
        self._calls_seen: dict[int, int] = {}  # connection id → client's total_calls at last look
        self._lock = threading.Lock()

    def cycle(self, connection_id: int, total_calls: int | None, error: str | None,
              latencies: Iterable[float] = ()) -> None:
        """Count one cycle of ``connection_id`` (``error``: why it failed) and write the tally
        when it is due. ``total_calls`` is the connection's client's running call count.

        Never raises: statistics must not stop detection."""
        try:
            self._cycle(connection_id, total_calls, error, latencies)
        except Exception:
            logger.exception("could not save the poll statistics of connection %s",
                             connection_id)

    def _cycle(self, connection_id: int, total_calls: int | None, error: str | None,
               latencies: Iterable[float]) -> None:
        now = self.now()
        minute = minute_of(now)
        with self._lock:
            tally = self._tallies.get(connection_id)
            if tally is not None and tally.minute != minute:
                self._write(connection_id, tally, prune=True)
                tally = None
            if tally is None:
                tally = self._tallies[connection_id] = Tally(minute, flushed_at=now)
            tally.cycles += 1
            if error is not None:
                tally.failed += 1
            tally.error = error
            if total_calls is not None:
                seen = self._calls_seen.get(connection_id, total_calls)
                tally.rpc_calls += max(0, total_calls - seen)
                self._calls_seen[connection_id] = total_calls
            room = MAX_SAMPLES - len(tally.latencies)
            if room > 0:
                tally.latencies.extend(round(max(0.0, s), 3) for s in list(latencies)[:room])
            if tally.flushed_at is None or (now - tally.flushed_at).total_seconds() >= \
                    FLUSH_SECONDS or error is not None and tally.failed == 1:
                self._write(connection_id, tally)
                tally.flushed_at = now

    def flush(self) -> None:
        """Write every tally now (on a clean stop)."""
        with self._lock:
            for connection_id, tally in self._tallies.items():
                self._write(connection_id, tally)

    def _write(self, connection_id: int, tally: Tally, prune: bool = False) -> None:
        # The row holds the whole minute's tally: written over, never added to, so a write
        # that is repeated (a retry after a failed commit) counts nothing twice.
        with self.db.session() as session:
            row = session.scalar(select(PollStat).where(PollStat.connection_id == connection_id,
                                                        PollStat.minute == tally.minute))
            if row is None:
                row = PollStat(connection_id=connection_id, minute=tally.minute)
                session.add(row)
            row.cycles, row.failed_cycles, row.rpc_calls = tally.cycles, tally.failed, \
                tally.rpc_calls
            row.latencies_json = json.dumps(tally.latencies)
            row.error = tally.error
            row.updated_at = self.now()
            if prune:
                session.execute(delete(PollStat).where(PollStat.minute < tally.minute - KEEP))
