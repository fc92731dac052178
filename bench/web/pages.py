"""``python -m bench.web``: server time per dashboard page with 100,000 jobs and 1,000,000 log
lines, on SQLite and on PostgreSQL.

A fresh own database is filled in bulk (``executemany`` on SQLite, ``COPY`` on PostgreSQL):
four projects with every trigger kind, jobs over 30 days (a tenth of them sub-jobs, 7 % failed)
and ten log lines per job on average. Each page is then requested in-process through the WSGI
app by a logged-in Manager, once to warm up and ``--repeat`` times measured; the table gives
the median and the slowest time per page against the 200 ms target.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import io
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

from sqlalchemy import Table, create_engine, select, text
from werkzeug.security import generate_password_hash

from connector.projects import ProjectImporter, parse
from connector.settings import Settings
from connector.store import migrate
from connector.store.crypto import SecretBox
from connector.store.db import Database
from connector.store.models import (
    DashboardUser,
    Job,
    Log,
    OdooConnection,
    PollCursor,
    PollStat,
    Project,
    Task,
    Trigger,
    utcnow,
)
from webui import create_app

TARGET_MS = 200.0
PG_ADMIN = os.environ.get("SYNCSTUDIO_BENCH_PG_ADMIN",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PROJECT = """
name: {name}
tasks:
  - name: Partners
    code: |
      def handle_db(records):
          log("partners")
    triggers:
      db: [{{trigger_name: ON_PARTNER_CREATED, model: res.partner, condition: create}}]
  - name: Orders
    code: |
      def handle_cron():
          log("orders")
    triggers:
      cron: [{{trigger_name: NIGHTLY, interval: 1, interval_unit: days}}]
  - name: Intake
    code: |
      def handle_webhook(httprequest):
          return "ok"
    triggers:
      webhook: [{{trigger_name: INCOMING, type: json}}]
  - name: Manual
    code: |
      def handle_button():
          log("manual")
    triggers:
      button: [{{trigger_name: RUN}}]
"""
STATES = (("done", 0.85), ("done_warnings", 0.05), ("failed", 0.07), ("pending", 0.03))
LEVELS = (("info", 0.85), ("warning", 0.08), ("error", 0.05), ("debug", 0.02))
TYPES = ("server", "server", "server", "data_in", "data_out")
JOB_COLUMNS = ("id", "project_id", "task_id", "trigger_id", "parent_id", "root_id", "depth",
               "function", "args_json", "kwargs_json", "state", "attempts", "priority",
               "created_at", "started_at", "finished_at", "error")
LOG_COLUMNS = ("job_id", "project_id", "task_id", "trigger_id", "created_at", "level", "type",
               "message")


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    point, total = rng.random(), 0.0
    for value, weight in weighted:
        total += weight
        if point < total:
            return value
    return weighted[-1][0]


@dataclasses.dataclass
class Data:
    """What was generated, for choosing the pages' filters."""

    project_id: int
    task_id: int
    trigger_id: int
    job_id: int  # a job with log lines
    middle_id: int  # a job id half-way down the list (a deep page)


def _rows(triggers: list[tuple[int, int, int, str]], jobs: int, logs: int,
          now: dt.datetime) -> tuple[Iterator[tuple[Any, ...]], Iterator[tuple[Any, ...]]]:
    rng = random.Random(15)
    span = 30 * 86400
    offsets = sorted((rng.random() * span for _ in range(jobs)), reverse=True)
    per_job = logs / jobs
    job_rows: list[tuple[Any, ...]] = []
    root = None
    for number, offset in enumerate(offsets, start=1):
        project_id, task_id, trigger_id, function = triggers[rng.randrange(len(triggers))]
        created = now - dt.timedelta(seconds=offset)
        sub = root is not None and rng.random() < 0.1
        if sub:
            assert root is not None
            project_id, task_id, trigger_id, function = root[1], root[2], root[3], "step"
        state = _pick(rng, STATES)
        if state == "pending" and offset > 600:  # the dispatcher keeps up: only new ones wait
            state = "done"
        finished = created + dt.timedelta(seconds=rng.random() * 3) if state != "pending" \
            else None
        row = (number, project_id, task_id, trigger_id, root[0] if sub and root else None,
               root[0] if sub and root else None, 1 if sub else 0, function, "[]", "{}", state,
               0 if state == "pending" else 1, 10, created, finished and created, finished,
               "ValueError: the partner has no e-mail" if state == "failed" else None)
        job_rows.append(row)
        if not sub:
            root = (number, project_id, task_id, trigger_id)

    def log_rows() -> Iterator[tuple[Any, ...]]:
        made = 0
        for row in job_rows:
            count = int(per_job * 2 * rng.random() + 0.5)
            for step in range(count):
                if made >= logs:
                    return
                made += 1
                level = "error" if row[10] == "failed" and step == count - 1 else \
                    _pick(rng, LEVELS)
                yield (row[0], row[1], row[2], row[3],
                       row[13] + dt.timedelta(milliseconds=step * 20), level,
                       TYPES[rng.randrange(len(TYPES))],
                       f"step {step} of job {row[0]}: synced partner {rng.randrange(10**6)} "
                       f"to the shop (order {rng.randrange(10**5)})")
        while made < logs:  # rounding: top up on the last job
            made += 1
            last = job_rows[-1]
            yield (last[0], last[1], last[2], last[3], now, "info", "server", "top-up line")

    return iter(job_rows), log_rows()


def _copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace(
        "\n", "\\n").replace("\r", "\\r")


def _bulk(db: Database, table: str, columns: tuple[str, ...],
          rows: Iterator[tuple[Any, ...]]) -> int:
    """Insert ``rows`` fast: COPY on PostgreSQL, executemany in big chunks on SQLite."""
    raw = db.engine.raw_connection()
    count = 0
    try:
        cursor = raw.cursor()
        if db.engine.dialect.name == "postgresql":
            # COPY's text format written in 1 MiB blocks: far fewer calls than row by row.
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                block: list[str] = []
                size = 0
                for row in rows:
                    line = "\t".join(_copy_text(value) for value in row) + "\n"
                    block.append(line)
                    size += len(line)
                    count += 1
                    if size >= 1 << 20:
                        copy.write("".join(block).encode())
                        block, size = [], 0
                if block:
                    copy.write("".join(block).encode())
        else:
            cursor.execute("PRAGMA synchronous = OFF")  # a throw-away benchmark database
            sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
                   f"VALUES ({', '.join('?' for _ in columns)})")
            chunk: list[tuple[Any, ...]] = []
            for row in rows:
                chunk.append(tuple(v.isoformat(" ") if isinstance(v, dt.datetime) else v
                                   for v in row))
                if len(chunk) >= 50_000:
                    cursor.executemany(sql, chunk)
                    count += len(chunk)
                    chunk = []
            if chunk:
                cursor.executemany(sql, chunk)
                count += len(chunk)
        raw.commit()
    finally:
        raw.close()
    return count


def fill(db: Database, settings: Settings, jobs: int, logs: int) -> tuple[Data, float]:
    """Fill a migrated own database; returns what was made and the seconds the bulk load of
    the jobs and log lines took (generation, insert, indexes)."""
    now = utcnow()
    with db.session() as session:
        for number in range(1, 5):
            ProjectImporter(session, SecretBox.from_settings(settings), environ={}).import_data(
                parse(PROJECT.format(name=f"Shop {number}")))
        session.add(DashboardUser(login="bench", role="manager",
                                  password_hash=generate_password_hash("bench")))
        odoo = OdooConnection(name="main", url="http://odoo.test", database="prod",
                              login="sync")
        session.add(odoo)
        session.flush()
        for project in session.scalars(select(Project)):
            project.connection_id = odoo.id
        session.add(PollCursor(connection_id=odoo.id, model="res.partner",
                               polled_at=now - dt.timedelta(seconds=2)))
        for minute in range(60):
            session.add(PollStat(connection_id=odoo.id,
                                 minute=(now - dt.timedelta(minutes=minute)).replace(
                                     second=0, microsecond=0),
                                 cycles=60, rpc_calls=61, updated_at=now,
                                 latencies_json=json.dumps([1.2, 1.8, 2.5])))
        triggers = [(t.project_id, t.task_id, t.id, t.handler)
                    for t in session.scalars(select(Trigger).order_by(Trigger.id))]
        partners = session.scalars(select(Trigger).where(
            Trigger.trigger_name == "ON_PARTNER_CREATED").order_by(Trigger.id)).first()
        assert partners is not None
        task = session.get(Task, partners.task_id)
        assert task is not None
        picked = (partners.project_id, task.id, partners.id)
    job_rows, log_rows = _rows(triggers, jobs, logs, now)
    # Indexes are built once after the load (one sorted pass each), not row by row.
    indexes = [*cast(Table, Job.__table__).indexes, *cast(Table, Log.__table__).indexes]
    started = time.perf_counter()
    with db.engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
    _bulk(db, "job", JOB_COLUMNS, job_rows)
    _bulk(db, "log", LOG_COLUMNS, log_rows)
    with db.engine.begin() as conn:
        for index in indexes:
            index.create(conn)
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('job_id_seq', (SELECT max(id) FROM job))"))
    seconds = time.perf_counter() - started
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    with db.engine.connect() as conn:
        job_id = conn.execute(text("SELECT job_id FROM log WHERE job_id IS NOT NULL "
                                   "ORDER BY id DESC LIMIT 1")).scalar_one()
    return Data(*picked, job_id=job_id, middle_id=jobs // 2), seconds


def pages(data: Data) -> list[tuple[str, str]]:
    """(name, URL) of every page measured."""
    week = (utcnow() - dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    return [
        ("home", "/dashboard/"),
        ("jobs", "/dashboard/jobs"),
        ("jobs filtered", f"/dashboard/jobs?project={data.project_id}&task={data.task_id}"
                          f"&state=failed&since={week}"),
        ("jobs by trigger", f"/dashboard/jobs?trigger={data.trigger_id}"),
        ("jobs, deep page", f"/dashboard/jobs?before={data.middle_id}"),
        ("logs", "/dashboard/logs"),
        ("logs filtered", f"/dashboard/logs?task={data.task_id}&level=error"),
        ("logs failed jobs", f"/dashboard/logs?project={data.project_id}&status=fail"),
        ("logs grouped", "/dashboard/logs?group=task"),
        ("a job", f"/dashboard/jobs/{data.job_id}"),
    ]


def measure(db: Database, settings: Settings, data: Data,
            repeat: int) -> list[tuple[str, float, float, int]]:
    """(page, median ms, max ms, bytes) of each page, requested in-process."""
    app = create_app({"SETTINGS": settings, "DATABASE": db, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    login = client.post("/login", data={"login": "bench", "password": "bench"})
    assert login.status_code == 302, login.status_code
    results = []
    for name, url in pages(data):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        times = []
        for _ in range(repeat):
            before = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - before) * 1000)
        results.append((name, statistics.median(times), max(times), len(response.data)))
    return results


@contextlib.contextmanager
def backend(name: str, home: str) -> Iterator[tuple[Database, Settings]]:
    """A fresh, migrated own database on ``name`` (sqlite or postgresql), dropped after."""
    env = {"SYNCSTUDIO_HOME": home}
    db_name = None
    if name == "postgresql":
        db_name = f"syncstudio_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{db_name}"'))
        env["SYNCSTUDIO_DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + f"/{db_name}"
    settings = Settings.from_env(env)
    db = Database(settings.database_url)
    try:
        migrate.upgrade(db)
        yield db, settings
    finally:
        db.dispose()
        if db_name is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            admin.dispose()


def main(argv: list[str] | None = None) -> None:
    """Fill each backend, measure every page, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.web",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    table: dict[str, dict[str, tuple[float, float, int]]] = {}
    for name in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="syncstudio-bench-pages-") as home, \
                backend(name, home) as (db, settings):
            data, seconds = fill(db, settings, args.jobs, args.logs)
            print(f"{name}: {args.jobs:,} jobs and {args.logs:,} log lines written in "
                  f"{seconds:.1f} s ({args.logs / seconds:,.0f} log lines/s with the jobs)",
                  flush=True)
            for page, median, slowest, size in measure(db, settings, data, args.repeat):
                table.setdefault(page, {})[name] = (median, slowest, size)
    backends = args.backends.split(",")
    out = io.StringIO()
    if args.markdown:
        out.write("| page | " + " | ".join(f"{b} median / max (ms)" for b in backends)
                  + " | within 200 ms |\n")
        out.write("|---|" + "---|" * len(backends) + "---|\n")
    else:
        out.write(f"{'page':18}" + "".join(f"{b + ' median/max ms':>28}" for b in backends)
                  + "   target\n")
    worst = 0.0
    for page, by_backend in table.items():
        cells = []
        for b in backends:
            median, slowest, _size = by_backend[b]
            worst = max(worst, median)
            cells.append(f"{median:7.1f} / {slowest:7.1f}")
        ok = all(by_backend[b][0] <= TARGET_MS for b in backends)
        if args.markdown:
            out.write(f"| {page} | " + " | ".join(cells) + f" | {'yes' if ok else 'NO'} |\n")
        else:
            out.write(f"{page:18}" + "".join(f"{c:>28}" for c in cells)
                      + f"   {'ok' if ok else 'OVER'}\n")
    print(out.getvalue(), end="")
    print(f"slowest median {worst:.1f} ms: {worst / TARGET_MS:.2f}x the {TARGET_MS:.0f} ms "
          f"target; load average {os.getloadavg()[0]:.2f}")
