"""A lease in the own database so two pollers never poll the same (connection, model) at once.

The lease lives on the model's ``PollCursor`` row (``lease_owner``, ``lease_until``). Taking it is
one conditional UPDATE, so two pollers racing for it cannot both win. The commit of a cycle
re-checks ownership in the same transaction as the jobs (a fencing check): a poller that stalled
past its lease and lost it to another one rolls its cycle back instead of recording jobs twice.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session

from connector.store.models import PollCursor


class LeaseLost(Exception):
    """Another poller holds the lease of this model now."""


def default_owner() -> str:
    """A name unique to this poller process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(session: Session, cursor_id: int, owner: str, now: dt.datetime,
            ttl: float, polled_at: dt.datetime | None = None) -> bool:
    """Take or renew the lease of cursor ``cursor_id`` until ``now + ttl``; False if held.

    ``polled_at``, when given, is saved too: when this owner's previous cycle succeeded.
    """
    values: dict[str, object] = {"polled_at": polled_at} if polled_at is not None else {}
    result = session.execute(
        update(PollCursor)
        .where(PollCursor.id == cursor_id,
               or_(PollCursor.lease_owner.is_(None), PollCursor.lease_owner == owner,
                   PollCursor.lease_until.is_(None), PollCursor.lease_until < now))
        .values(lease_owner=owner, lease_until=now + dt.timedelta(seconds=ttl), **values)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def fence(session: Session, cursor_id: int, owner: str, now: dt.datetime, ttl: float,
          **values: object) -> None:
    """Save ``values`` on the cursor and renew the lease, only if ``owner`` still holds it."""
    result = session.execute(
        update(PollCursor)
        .where(PollCursor.id == cursor_id, and_(PollCursor.lease_owner == owner))
        .values(lease_until=now + dt.timedelta(seconds=ttl), **values)
        .execution_options(synchronize_session=False))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise LeaseLost(f"poll cursor {cursor_id} is leased by another poller")


def release(session: Session, cursor_id: int, owner: str) -> None:
    """Give the lease up (on a clean stop), so another poller may take over at once."""
    session.execute(
        update(PollCursor)
        .where(PollCursor.id == cursor_id, PollCursor.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False))
