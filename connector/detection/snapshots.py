"""Snapshots in the own database: the last known values of the fields triggers need, per record.

They give old values to watched fields and before-update domains, de-duplicate versions seen
twice (write_date + fingerprint), and are the id set that deletions are found against. They live
in the own database, never all in memory: a model of 100,000 records is read and written in pages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from connector.detection import sources
from connector.detection.changes import Change, Known, fingerprint, values_of
from connector.odoo import OdooClient
from connector.store.models import RecordSnapshot

#: Ids per SQL ``IN (...)``: far below SQLite's and PostgreSQL's parameter limits.
CHUNK = 900

Progress = Callable[[int, int], None]


def load(session: Session, connection_id: int, model: str,
         ids: Iterable[int]) -> dict[int, Known]:
    """The known state of each of ``ids`` that has a snapshot."""
    wanted = sorted(set(ids))
    known: dict[int, Known] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(RecordSnapshot.id, RecordSnapshot.record_id, RecordSnapshot.write_date,
                   RecordSnapshot.fingerprint, RecordSnapshot.values_json)
            .where(RecordSnapshot.connection_id == connection_id, RecordSnapshot.model == model,
                   RecordSnapshot.record_id.in_(wanted[start:start + CHUNK])))
        for key, rid, write_date, digest, values_json in rows:
            known[rid] = Known(write_date, digest, json.loads(values_json or "{}"), key)
    return known


def load_ids(session: Session, connection_id: int, model: str) -> Iterator[int]:
    """Every record id with a snapshot, in id order, streamed."""
    query = (select(RecordSnapshot.record_id)
             .where(RecordSnapshot.connection_id == connection_id, RecordSnapshot.model == model)
             .order_by(RecordSnapshot.record_id)
             .execution_options(yield_per=5000))
    for (rid,) in session.execute(query):
        yield rid


def save(session: Session, connection_id: int, model: str, changes: Sequence[Change],
         known: Mapping[int, Known]) -> None:
    """Store the new versions: update records that had a snapshot, insert the others."""
    updates, inserts = [], []
    for change in changes:
        values = {"write_date": change.write_date, "fingerprint": change.fingerprint,
                  "values_json": json.dumps(change.new, default=str)}
        state = known.get(change.id)
        if state is not None and state.key is not None:
            updates.append({"id": state.key, **values})
        else:
            inserts.append({"connection_id": connection_id, "model": model,
                            "record_id": change.id, **values})
    for start in range(0, len(updates), 1000):
        session.execute(update(RecordSnapshot), updates[start:start + 1000])  # by primary key
    for start in range(0, len(inserts), 1000):
        session.execute(insert(RecordSnapshot), inserts[start:start + 1000])


def remove(session: Session, connection_id: int, model: str, ids: Iterable[int]) -> None:
    """Forget the snapshots of deleted records."""
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), CHUNK):
        session.execute(delete(RecordSnapshot).where(
            RecordSnapshot.connection_id == connection_id, RecordSnapshot.model == model,
            RecordSnapshot.record_id.in_(wanted[start:start + CHUNK])))


def clear(session: Session, connection_id: int, model: str) -> None:
    """Forget every snapshot of the model."""
    session.execute(delete(RecordSnapshot).where(RecordSnapshot.connection_id == connection_id,
                                                 RecordSnapshot.model == model))


def rows_as_changes(rows: Iterable[Mapping[str, Any]], fields: Sequence[str],
                    extra: Sequence[str] = ()) -> list[Change]:
    """Rows read from Odoo as versions to store (no event: a baseline)."""
    changes = []
    for row in rows:
        values = values_of(row, fields)
        digest = fingerprint({**values_of(row, extra), **values} if extra else values)
        changes.append(Change(int(row["id"]), False, None, values, row.get("write_date") or None,
                              digest))
    return changes


def build(session_factory: Callable[[], Any], client: OdooClient, connection_id: int,
          model: str, fields: Sequence[str], *, page: int = 2000,
          progress: Progress | None = None, extra: Sequence[str] = ()) -> int:
    """Replace the model's snapshots by the current values of every record; returns the count.

    One own-database transaction per page keeps memory flat; ``progress(done, total)`` is called
    after each page (the CLI prints it, the dashboard shows it).
    """
    total = client.search_count(model, [], context=sources.ALL_RECORDS)
    with session_factory() as session:
        clear(session, connection_id, model)
    done = 0
    if progress is not None:
        progress(0, total)
    for rows in sources.pages(client, model, [], [*sources.LOG_FIELDS, *fields, *extra], page):
        with session_factory() as session:
            # Pages are disjoint id ranges and the table was cleared: plain inserts.
            save(session, connection_id, model, rows_as_changes(rows, fields, extra), {})
        done += len(rows)
        if progress is not None:
            progress(done, max(total, done))
    return done
