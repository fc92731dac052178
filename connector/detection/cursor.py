"""Where detection stands for one (connection, model), and which window the next scan reads.

The state is JSON in ``PollCursor.state_json``; it is saved in the same own-database transaction
as the jobs and snapshots of the cycle, so a crash leaves either the old state with no jobs or the
new state with all of them.

Scan windows end at a *reference* time that is never later than Odoo's clock: the newest
``write_date`` seen (``high``), or our clock corrected by ``skew``, the largest
``write_date - our time after reading it`` ever observed (a lower bound of Odoo's clock offset,
so clock differences can only widen a window, never lose a record). A record can only show up in
a window late if its transaction started before the reference, so ``reference - lookback``
bounds how long a transaction may stay open. Most cycles read only the last ``recent`` seconds;
every ``deep_every`` seconds one cycle reads the whole look-back, so late commits are still found
without re-reading minutes of records every second, and a burst stops being re-read once it is
``recent`` seconds old even when nothing newer is written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

ODOO_FORMAT = "%Y-%m-%d %H:%M:%S"
STATE_VERSION = 2


def parse_odoo(value: str) -> dt.datetime:
    """An Odoo date or datetime string as a naive UTC datetime (a date is its midnight)."""
    text = value.strip()
    if len(text) == 10:
        return dt.datetime.strptime(text, "%Y-%m-%d")
    return dt.datetime.strptime(text[:19], ODOO_FORMAT)


def format_odoo(value: dt.datetime) -> str:
    """A naive UTC datetime as Odoo's RPC string."""
    return value.strftime(ODOO_FORMAT)


def minus(value: str, seconds: float) -> str:
    """``value`` moved ``seconds`` back, whole seconds rounded down (the window only widens)."""
    return format_odoo(parse_odoo(value) - dt.timedelta(seconds=int(seconds + 0.999)))


@dataclasses.dataclass
class CursorState:
    """Detection state of one model; see the module docstring."""

    fields: list[str] = dataclasses.field(default_factory=list)
    full: bool = False            # a snapshot of every record exists (old values, id comparison)
    ready: bool = False           # activation done (snapshot/baseline taken)
    horizon: str | None = None    # unseen records created at or after this are creations
    high: str | None = None       # newest write_date seen
    deep_at: float = 0.0          # when the last full look-back scan ran (epoch seconds)
    deleted_at: float = 0.0       # when deletions were last checked
    audit: dict[str, Any] | None = None          # the auditlog rule of the model, if any
    types: dict[str, str] = dataclasses.field(default_factory=dict)  # field → Odoo type
    extra: list[str] = dataclasses.field(default_factory=list)  # fingerprint-only fields
    wide: bool = False            # ``extra`` was chosen for a trigger that fires on any write
    skew: float | None = None     # lower bound of Odoo's clock minus ours, in seconds
    unlink_seen: dict[str, str] = dataclasses.field(default_factory=dict)  # log id → date
    unlink_floor: int | None = None  # newest unlink log when the trigger began: older is history
    unlink_high: int = 0             # newest unlink log id seen
    unlink_deep_at: float = 0.0      # when the auditlog unlink look-back was last read
    timed: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form for ``PollCursor.state_json``."""
        return {"v": STATE_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> CursorState:
        """The state saved by :meth:`to_json`; anything older starts a fresh activation."""
        if not data or data.get("v") != STATE_VERSION:
            return cls()
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})

    def reference(self, now: float) -> str | None:
        """The latest moment known not to be after Odoo's clock, as an Odoo string."""
        candidates = [self.high] if self.high else []
        if self.skew is not None:
            odoo_now = dt.datetime.fromtimestamp(now + self.skew, dt.UTC).replace(tzinfo=None)
            candidates.append(format_odoo(odoo_now))
        return max(candidates) if candidates else None

    def scan_since(self, now: float, *, lookback: float, recent: float,
                   deep_every: float) -> tuple[str | None, bool]:
        """The ``write_date`` the next scan starts at, and whether it is a deep scan."""
        reference = self.reference(now)
        if reference is None:
            return None, True
        if now - self.deep_at >= deep_every:
            return minus(reference, lookback), True
        return minus(reference, recent), False

    def observe(self, newest: str | None, now: float) -> None:
        """Learn from a scan that ended at ``now`` (our clock): ``high`` and ``skew``."""
        if not newest:
            return
        if self.high is None or newest > self.high:
            self.high = newest
        seen = parse_odoo(newest).replace(tzinfo=dt.UTC).timestamp() - now
        if self.skew is None or seen > self.skew:
            self.skew = seen

    def prune_unlinks(self, since: str) -> None:
        """Forget auditlog unlink entries older than the look-back window."""
        self.unlink_seen = {key: date for key, date in self.unlink_seen.items() if date >= since}
