"""SQLite storage of the simulated Odoo, with held-open transactions.

One table per model (``id`` plus one column per stored scalar field) and one table per
many2many field. Every RPC call runs in one SQLite transaction under one lock, like one
PostgreSQL transaction per request in Odoo.

A *held* transaction (``OdooSimulator.begin_transaction``) cannot be an open SQLite write
transaction (it would block every other writer), so its effects are staged in shadow tables
``<table>__txn`` / ``<rel>__txn`` tagged with the transaction name: readers outside the
transaction never see them, readers inside it see the union, and commit moves the rows into
the real tables. See :class:`View`.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from .models import Field, Model, Registry

_TXN_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def quote(name: str) -> str:
    """Quote an SQL identifier (field names such as ``order`` or ``index`` are keywords)."""
    return '"' + name.replace('"', '""') + '"'


def _py_lower(value):
    # SQLite's lower() only folds ASCII; PostgreSQL's folds "È" to "è" too.
    return value.lower() if isinstance(value, str) else value


def _chunks(values: Sequence, size: int = 900) -> Iterator[Sequence]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


class Storage:
    """The SQLite database of one simulated Odoo and the lock serializing calls."""

    def __init__(self, path: str, registry: Registry) -> None:
        self.registry = registry
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        # A simulator does not need durability across power loss; it needs speed.
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA case_sensitive_like=ON")  # PostgreSQL LIKE is case-sensitive
        self.conn.create_function("py_lower", 1, _py_lower, deterministic=True)
        self._next_ids: dict[str, int] = {}
        self._create_schema()

    # -- schema -----------------------------------------------------------------------

    def _create_schema(self) -> None:
        cur = self.conn.cursor()
        cur.execute("CREATE TABLE IF NOT EXISTS sim_auth (uid INTEGER PRIMARY KEY, "
                    "password TEXT, models TEXT, read_models TEXT)")
        cur.execute("CREATE TABLE IF NOT EXISTS sim_txn (name TEXT PRIMARY KEY, start TEXT)")
        for model in self.registry.models.values():
            cols = "".join(f", {quote(c)} {model.fields[c].sql_type}" for c in model.columns)
            cur.execute(f"CREATE TABLE IF NOT EXISTS {quote(model.table)} "
                        f"(id INTEGER PRIMARY KEY{cols})")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {quote(model.table + '__txn')} "
                        f"(_txn TEXT NOT NULL, _del INTEGER NOT NULL DEFAULT 0, "
                        f"id INTEGER NOT NULL{cols}, PRIMARY KEY (_txn, id))")
            for column in self._indexed_columns(model):
                cur.execute(f"CREATE INDEX IF NOT EXISTS {quote(model.table + '__' + column)} "
                            f"ON {quote(model.table)} ({quote(column)})")
            for fld in model.m2m_fields:
                cur.execute(f"CREATE TABLE IF NOT EXISTS {quote(fld.rel_table)} "
                            "(src INTEGER NOT NULL, dst INTEGER NOT NULL, PRIMARY KEY (src, dst))")
                cur.execute(f"CREATE INDEX IF NOT EXISTS {quote(fld.rel_table + '__dst')} "
                            f"ON {quote(fld.rel_table)} (dst)")
                cur.execute(f"CREATE TABLE IF NOT EXISTS {quote(fld.rel_table + '__txn')} "
                            "(_txn TEXT NOT NULL, src INTEGER NOT NULL, dst INTEGER NOT NULL, "
                            "PRIMARY KEY (_txn, src, dst))")
        for model in self.registry.models.values():
            top = self.conn.execute(
                f"SELECT max(id) FROM (SELECT id FROM {quote(model.table)} UNION ALL "
                f"SELECT id FROM {quote(model.table + '__txn')})").fetchone()[0]
            self._next_ids[model.name] = (top or 0) + 1

    @staticmethod
    def _indexed_columns(model: Model) -> list[str]:
        # Index what pollers and relational lookups filter on: dates, relations, names.
        wanted = []
        for name in model.columns:
            fld = model.fields[name]
            if fld.type in ("many2one", "many2one_reference") or name in (
                    "write_date", "create_date", "model", "res_model", "name", "login",
                    "model_model", "email"):
                wanted.append(name)
        return wanted

    # -- transactions -----------------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Run the block as one SQLite transaction while holding the storage lock."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    def allocate_ids(self, model: str, count: int) -> list[int]:
        """Reserve ``count`` new ids (like a PostgreSQL sequence, never given back)."""
        with self.lock:
            first = self._next_ids[model]
            self._next_ids[model] = first + count
        return list(range(first, first + count))

    def view(self, txn: str | None = None) -> View:
        """A view of the data as seen from outside any held transaction, or inside ``txn``."""
        return View(self, txn)

    def close(self) -> None:
        """Close the SQLite connection."""
        with self.lock:
            self.conn.close()

    # -- held transactions ------------------------------------------------------------

    def register_txn(self, name: str, start: str) -> None:
        """Remember a held transaction (its start time stamps everything it writes)."""
        if not _TXN_NAME.match(name):
            raise ValueError(f"invalid transaction name {name!r}")
        with self.atomic():
            self.conn.execute("INSERT INTO sim_txn (name, start) VALUES (?, ?)", (name, start))

    def txn_start(self, name: str) -> str | None:
        """The start time of a held transaction, or None when it is not open."""
        with self.lock:
            row = self.conn.execute("SELECT start FROM sim_txn WHERE name = ?",
                                    (name,)).fetchone()
        return row[0] if row else None

    def open_txns(self) -> list[str]:
        """Names of the held transactions still open."""
        with self.lock:
            return [r[0] for r in self.conn.execute("SELECT name FROM sim_txn ORDER BY name")]

    def end_txn(self, name: str, commit: bool) -> None:
        """Publish (commit) or drop (rollback) everything a held transaction staged."""
        with self.atomic():
            if self.conn.execute("DELETE FROM sim_txn WHERE name = ?", (name,)).rowcount == 0:
                raise ValueError(f"no open transaction named {name!r}")
            for model in self.registry.models.values():
                table, shadow = quote(model.table), quote(model.table + "__txn")
                staged = f"SELECT id FROM {shadow} WHERE _txn = ?"
                if commit:
                    cols = ", ".join(["id"] + [quote(c) for c in model.columns])
                    for fld in model.m2m_fields:
                        rel, rel_shadow = quote(fld.rel_table), quote(fld.rel_table + "__txn")
                        self.conn.execute(f"DELETE FROM {rel} WHERE src IN ({staged})", (name,))
                        self.conn.execute(
                            f"INSERT OR IGNORE INTO {rel} (src, dst) SELECT src, dst FROM "
                            f"{rel_shadow} WHERE _txn = ? AND src IN "
                            f"(SELECT id FROM {shadow} WHERE _txn = ? AND _del = 0)",
                            (name, name))
                    self.conn.execute(f"DELETE FROM {table} WHERE id IN ({staged})", (name,))
                    self.conn.execute(
                        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {shadow} "
                        f"WHERE _txn = ? AND _del = 0", (name,))
                self.conn.execute(f"DELETE FROM {shadow} WHERE _txn = ?", (name,))
                for fld in model.m2m_fields:
                    self.conn.execute(f"DELETE FROM {quote(fld.rel_table + '__txn')} "
                                      "WHERE _txn = ?", (name,))


class View:
    """Reads and writes of one call, inside a held transaction or not.

    ``src(model)`` is the SQL to put after ``FROM``: the table itself outside held
    transactions, or the union of untouched rows and the transaction's staged rows.
    """

    def __init__(self, storage: Storage, txn: str | None) -> None:
        if txn is not None and not _TXN_NAME.match(txn):
            raise ValueError(f"invalid transaction name {txn!r}")
        self.storage = storage
        self.registry = storage.registry
        self.conn = storage.conn
        self.txn = txn

    # -- sources ----------------------------------------------------------------------

    def src(self, model: Model) -> str:
        """SQL usable after FROM for the rows of ``model`` this view can see."""
        table = quote(model.table)
        if self.txn is None:
            return table
        shadow = quote(model.table + "__txn")
        cols = ", ".join(["id"] + [quote(c) for c in model.columns])
        # The name is validated against _TXN_NAME, so inlining it is safe.
        return (f"(SELECT {cols} FROM {table} WHERE id NOT IN "
                f"(SELECT id FROM {shadow} WHERE _txn = '{self.txn}') UNION ALL "
                f"SELECT {cols} FROM {shadow} WHERE _txn = '{self.txn}' AND _del = 0)")

    def rel_src(self, model: Model, fld: Field) -> str:
        """SQL usable after FROM for the (src, dst) pairs of a many2many field."""
        rel = quote(fld.rel_table)
        if self.txn is None:
            return rel
        shadow = quote(model.table + "__txn")
        return (f"(SELECT src, dst FROM {rel} WHERE src NOT IN "
                f"(SELECT id FROM {shadow} WHERE _txn = '{self.txn}') UNION ALL "
                f"SELECT src, dst FROM {quote(fld.rel_table + '__txn')} "
                f"WHERE _txn = '{self.txn}')")

    # -- reads ------------------------------------------------------------------------

    def query(self, sql: str, params: Iterable = ()) -> list[tuple]:
        """Run a SELECT and return all rows."""
        return self.conn.execute(sql, tuple(params)).fetchall()

    def fetch(self, model: Model, ids: Sequence[int], columns: Sequence[str]) -> dict[int, dict]:
        """Rows of ``ids`` (those that exist) as {id: {column: value}}."""
        result: dict[int, dict] = {}
        if not ids:
            return result
        cols = ["id"] + [c for c in columns if c != "id"]
        select = ", ".join(quote(c) for c in cols)
        unique = list(dict.fromkeys(ids))
        for chunk in _chunks(unique):
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                    f"SELECT {select} FROM {self.src(model)} AS t WHERE id IN ({marks})",
                    tuple(chunk)):
                result[row[0]] = dict(zip(cols, row, strict=True))
        return result

    def existing(self, model: Model, ids: Sequence[int]) -> set[int]:
        """The subset of ``ids`` that exist."""
        found: set[int] = set()
        unique = list(dict.fromkeys(ids))
        for chunk in _chunks(unique):
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.conn.execute(
                f"SELECT id FROM {self.src(model)} AS t WHERE id IN ({marks})", tuple(chunk)))
        return found

    def m2m(self, model: Model, fld, ids: Sequence[int]) -> dict[int, list[int]]:
        """{id: [related ids]} of a many2many field, related ids in ascending order."""
        result: dict[int, list[int]] = {i: [] for i in ids}
        unique = list(dict.fromkeys(ids))
        for chunk in _chunks(unique):
            marks = ",".join("?" * len(chunk))
            for src, dst in self.conn.execute(
                    f"SELECT src, dst FROM {self.rel_src(model, fld)} WHERE src IN ({marks}) "
                    "ORDER BY dst", tuple(chunk)):
                result[src].append(dst)
        return result

    # -- writes -----------------------------------------------------------------------

    def insert(self, model: Model, rows: list[dict]) -> None:
        """Insert new records; each row holds ``id`` and column values."""
        if not rows:
            return
        cols = ["id"] + list(model.columns)
        names = ", ".join(quote(c) for c in cols)
        if self.txn is None:
            sql = (f"INSERT INTO {quote(model.table)} ({names}) "
                   f"VALUES ({','.join('?' * len(cols))})")
            self.conn.executemany(sql, [tuple(r.get(c) for c in cols) for r in rows])
        else:
            sql = (f"INSERT INTO {quote(model.table + '__txn')} (_txn, {names}) "
                   f"VALUES (?, {','.join('?' * len(cols))})")
            self.conn.executemany(sql, [(self.txn,) + tuple(r.get(c) for c in cols)
                                        for r in rows])

    def _stage(self, model: Model, ids: Sequence[int]) -> None:
        """Copy committed rows (and their many2many links) into the transaction's shadow."""
        shadow = quote(model.table + "__txn")
        cols = ", ".join(["id"] + [quote(c) for c in model.columns])
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            fresh = [r[0] for r in self.conn.execute(
                f"SELECT id FROM {quote(model.table)} WHERE id IN ({marks}) AND id NOT IN "
                f"(SELECT id FROM {shadow} WHERE _txn = ?)", (*chunk, self.txn))]
            if not fresh:
                continue
            fmarks = ",".join("?" * len(fresh))
            self.conn.execute(
                f"INSERT INTO {shadow} (_txn, {cols}) SELECT ?, {cols} FROM "
                f"{quote(model.table)} WHERE id IN ({fmarks})", (self.txn, *fresh))
            for fld in model.m2m_fields:
                self.conn.execute(
                    f"INSERT INTO {quote(fld.rel_table + '__txn')} (_txn, src, dst) "
                    f"SELECT ?, src, dst FROM {quote(fld.rel_table)} WHERE src IN ({fmarks})",
                    (self.txn, *fresh))

    def update(self, model: Model, ids: Sequence[int], values: dict) -> None:
        """Set column ``values`` on all ``ids``."""
        if not ids or not values:
            return
        assign = ", ".join(f"{quote(c)} = ?" for c in values)
        params = tuple(values.values())
        if self.txn is None:
            for chunk in _chunks(list(ids)):
                marks = ",".join("?" * len(chunk))
                self.conn.execute(f"UPDATE {quote(model.table)} SET {assign} "
                                  f"WHERE id IN ({marks})", params + tuple(chunk))
            return
        self._stage(model, ids)
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            self.conn.execute(f"UPDATE {quote(model.table + '__txn')} SET {assign} "
                              f"WHERE _txn = ? AND id IN ({marks})",
                              params + (self.txn,) + tuple(chunk))

    def delete(self, model: Model, ids: Sequence[int]) -> None:
        """Delete records and their many2many links."""
        if not ids:
            return
        if self.txn is None:
            for chunk in _chunks(list(ids)):
                marks = ",".join("?" * len(chunk))
                self.conn.execute(f"DELETE FROM {quote(model.table)} WHERE id IN ({marks})",
                                  tuple(chunk))
                for fld in model.m2m_fields:
                    self.conn.execute(f"DELETE FROM {quote(fld.rel_table)} "
                                      f"WHERE src IN ({marks})", tuple(chunk))
            return
        self._stage(model, ids)
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            self.conn.execute(f"UPDATE {quote(model.table + '__txn')} SET _del = 1 "
                              f"WHERE _txn = ? AND id IN ({marks})", (self.txn, *chunk))

    def set_m2m(self, model: Model, fld, rid: int, dst_ids: Sequence[int]) -> None:
        """Replace the related ids of one record's many2many field."""
        dst = list(dict.fromkeys(int(i) for i in dst_ids))
        if self.txn is None:
            rel = quote(fld.rel_table)
            self.conn.execute(f"DELETE FROM {rel} WHERE src = ?", (rid,))
            self.conn.executemany(f"INSERT INTO {rel} (src, dst) VALUES (?, ?)",
                                  [(rid, d) for d in dst])
            return
        self._stage(model, [rid])
        rel = quote(fld.rel_table + "__txn")
        self.conn.execute(f"DELETE FROM {rel} WHERE _txn = ? AND src = ?", (self.txn, rid))
        self.conn.executemany(f"INSERT INTO {rel} (_txn, src, dst) VALUES (?, ?, ?)",
                              [(self.txn, rid, d) for d in dst])
