"""``python -m bench.jobs``: job throughput, webhook requests/s, own database size, web RSS.

Everything runs against the real services of this machine (Redis, PostgreSQL) and real
``syncstudio`` processes on loopback; a fresh PostgreSQL database and a Redis database of their
own are used and dropped/emptied afterwards. Figures on a shared 2-core machine are noisy: the
load average is printed with them.

1. Jobs/s end to end through Redis: N jobs of a trivial handler are recorded, then dispatched;
   the time is from the first send until every row is ``done``, with 1 and then 2
   ``syncstudio worker`` processes.
2. Webhook requests/s: ``wrk`` (else a threaded Python client) against ``syncstudio web``
   (waitress) with a JSON webhook whose handler returns a small dict, for a fixed duration;
   the web process's peak RSS (and that of its sandbox processes) is sampled meanwhile.
3. Own database size per 100,000 finished jobs with two log lines each, inserted directly:
   the SQLite file's growth and PostgreSQL's ``pg_total_relation_size`` of ``job`` + ``log``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, func, insert, select, text

from connector import jobs
from connector.projects import ProjectImporter, parse
from connector.settings import Settings
from connector.store import migrate
from connector.store.crypto import SecretBox
from connector.store.db import Database
from connector.store.models import Job, Log, Project, Trigger

from .procs import CpuSampler, RssSampler, rss_kib

PG_ADMIN = os.environ.get("SYNCSTUDIO_BENCH_PG_ADMIN",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SYNCSTUDIO_BENCH_REDIS", "redis://127.0.0.1:6379/12")
# `syncstudio` with this interpreter, whatever the PATH holds.
CLI = [sys.executable, "-c",
       "import sys; from connector.cli import main; sys.argv[0] = 'syncstudio'; main()"]

PROJECT = """
name: Bench
tasks:
  - name: Trivial
    code: |
      def handle_button():
          return 1

      def handle_webhook(request):
          return {"ok": True}
    triggers:
      button: [{trigger_name: GO}]
      webhook: [{trigger_name: HOOK, type: json}]
"""


# --------------------------------------------------------------------------- set-up
@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    name = f"syncstudio_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        database = Database(url)
        migrate.upgrade(database)
        database.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()  # this benchmark's database only
    client.close()


def import_project(settings: Settings, db: Database, text: str = PROJECT,
                   environ: dict[str, str] | None = None) -> None:
    with db.session() as session:
        ProjectImporter(session, SecretBox.from_settings(settings),
                        environ=environ or {}).import_data(parse(text))


def env_of(settings: Settings) -> dict[str, str]:
    return {**settings.child_environ(os.environ), "SYNCSTUDIO_LOG_LEVEL": "WARNING"}


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench/jobs: timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)
    return value


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------- 1. jobs/s
def jobs_per_second(settings: Settings, db: Database, workers: int, count: int,
                    log_dir: Path, run: int = 0,
                    trigger_name: str = "GO") -> tuple[float, int, dict[str, float]]:
    """Record ``count`` jobs, start ``workers`` processes, dispatch.

    Returns (jobs/s, jobs done, cores busy by process group during the run).
    """
    from worker.actors import declare_actors
    from worker.broker import make_broker
    from worker.dispatch import Dispatcher
    from worker.executor import WorkerContext

    flush_redis()
    with db.session() as session:
        trigger = session.scalar(select(Trigger).where(Trigger.trigger_name == trigger_name))
        ids = [jobs.record_trigger_job(session, trigger).id for _ in range(count)]
    log_path = log_dir / f"{trigger_name}-workers-{workers}-run{run}.log"
    processes = []
    with log_path.open("ab") as out:
        for _ in range(workers):
            processes.append(subprocess.Popen([*CLI, "worker"], env=env_of(settings),
                                              stdout=out, stderr=subprocess.STDOUT))
    broker = make_broker(settings)
    dispatcher = Dispatcher(db, declare_actors(broker, WorkerContext.from_settings(settings, db)))
    try:
        wait_for(lambda: log_path.read_text().count("worker consuming") == workers, 60,
                 f"{workers} worker(s) to start (see {log_path})")
        cpu = CpuSampler(process.pid for process in processes)
        cpu.start()
        started = time.perf_counter()
        while dispatcher.run_once():  # due_jobs sends at most 500 per call
            pass

        def done() -> int:
            # A range, not IN (thousands of ids): the bench must not eat the CPU it measures.
            with db.session() as session:
                return int(session.scalar(select(func.count()).select_from(Job).where(
                    Job.id.between(ids[0], ids[-1]),
                    Job.state.in_(("done", "done_warnings", "failed")))) or 0)

        deadline = started + max(120.0, count / 5)
        finished = 0
        while (finished := done()) < count and time.perf_counter() < deadline:
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        used = cpu.stop()
    finally:
        for process in processes:
            stop(process)
        broker.close()
    return finished / elapsed, finished, {group: used[group] / elapsed for group in used}


# --------------------------------------------------------------------------- 2. webhook
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_with_wrk(url: str, seconds: int, connections: int) -> tuple[float, int, int, str]:
    """(requests/s, requests, non-2xx/3xx or socket errors, tool) measured by wrk."""
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text('wrq = nil\nwrk.method = "POST"\nwrk.body = \'{"n": 1}\'\n'
                      'wrk.headers["Content-Type"] = "application/json"\n')
    result = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout",
                             "5s", "-s", str(script), url], capture_output=True, text=True,
                            timeout=seconds + 60, check=True)
    out = result.stdout
    rate = requests = errors = 0
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Requests/sec:"):
            rate = float(line.split()[1])
        elif "requests in" in line:
            requests = int(line.split()[0])
        elif line.startswith("Non-2xx or 3xx responses:"):
            errors += int(line.split()[-1])
        elif line.startswith("Socket errors:"):
            errors += sum(int(part.split()[-1]) for part in line.split(":", 1)[1].split(","))
    return rate, requests, errors, f"wrk -t2 -c{connections} -d{seconds}s"


def load_with_threads(url: str, seconds: int, connections: int) -> tuple[float, int, int, str]:
    """The fallback when wrk is missing: ``connections`` threads posting in a loop."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    counts = [0] * connections
    errors = [0] * connections
    deadline = time.perf_counter() + seconds

    def client(slot: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        while time.perf_counter() < deadline:
            try:
                conn.request("POST", parts.path, body=b'{"n": 1}',
                             headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                counts[slot] += 1
                errors[slot] += response.status >= 400
            except OSError:
                errors[slot] += 1
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = sum(counts)
    return (total / (time.perf_counter() - started), total, sum(errors),
            f"Python threads x{connections}, {seconds}s")


def webhook_rate(settings: Settings, db: Database, seconds: int, connections: int,
                 log_dir: Path) -> dict[str, Any]:
    """Requests/s and peak RSS of ``syncstudio web`` under load."""
    with db.session() as session:
        token = session.scalar(select(Trigger.token).where(Trigger.trigger_name == "HOOK"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/{token}"
    log_path = log_dir / "web.log"
    with log_path.open("ab") as out:
        web = subprocess.Popen([*CLI, "web", "--port", str(port)], env=env_of(settings),
                               stdout=out, stderr=subprocess.STDOUT)
    sampler = RssSampler(web.pid)
    try:
        def answers() -> bool:
            try:
                request = urllib.request.Request(url, data=b'{"n": 0}', method="POST",
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=5) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_for(answers, 60, f"syncstudio web on port {port} (see {log_path})")
        idle = rss_kib(web.pid)
        sampler.start()
        load = load_with_wrk if shutil.which("wrk") else load_with_threads
        # The load tool counts as "other": it shares the machine with the server it measures.
        cpu = CpuSampler([web.pid], names=("web", "web children"), me="bench")
        cpu.start()
        started = time.perf_counter()
        rate, requests, errors, tool = load(url, seconds, connections)
        used = cpu.stop()
        cores = {group: used[group] / (time.perf_counter() - started) for group in used}
        sampler.halt.set()
        sampler.join()
    finally:
        sampler.halt.set()
        stop(web)
    return {"rate": rate, "requests": requests, "errors": errors, "tool": tool, "cores": cores,
            "rss_idle": idle, "rss_peak": sampler.peak_main,
            "rss_children": sampler.peak_children}


# --------------------------------------------------------------------------- 3. size
JOBS_PER_SIZE = 100_000


def job_rows(project_id: int, task_id: int, trigger_id: int, start: int,
             count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Finished DB-trigger jobs with a typical payload and two log lines each."""
    now = dt.datetime(2026, 11, 1)
    rows, logs = [], []
    for i in range(start, start + count):
        at = now + dt.timedelta(seconds=i)
        rows.append(dict(
            id=i, project_id=project_id, task_id=task_id, trigger_id=trigger_id,
            function="handle_db", args_json=json.dumps(["res.partner", [i, i + 1]]),
            kwargs_json="{}", description="ON_PARTNER_CREATED", state="done", attempts=1,
            priority=10, created_at=at, enqueued_at=at, started_at=at,
            finished_at=at + dt.timedelta(milliseconds=40), result_json=None))
        for message in (f"tagging 2 partner(s): Partner {i}, Partner {i + 1}",
                        f"res.partner({i}, {i + 1}) written: ref=seen"):
            logs.append(dict(job_id=i, project_id=project_id, task_id=task_id,
                             trigger_id=trigger_id, created_at=at, level="info", type="server",
                             message=message))
    return rows, logs


def fill(db: Database) -> None:
    """Insert ``JOBS_PER_SIZE`` finished jobs and their logs, in batches."""
    with db.session() as session:
        project_id, task_id, trigger_id = session.execute(
            select(Project.id, Trigger.task_id, Trigger.id).join(Trigger)
            .where(Trigger.trigger_name == "GO")).one()
        first = int(session.scalar(select(func.max(Job.id))) or 0) + 1
    batch = 10_000
    for start in range(first, first + JOBS_PER_SIZE, batch):
        rows, logs = job_rows(project_id, task_id, trigger_id, start, batch)
        with db.session() as session:
            session.execute(insert(Job), rows)
            session.execute(insert(Log), logs)


def sqlite_size(home: Path) -> tuple[float, float]:
    """(MiB per 100,000 jobs, seconds to insert them) in a fresh SQLite file."""
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home / "sqlite")})
    db = Database(settings.database_url)
    migrate.upgrade(db)
    import_project(settings, db)
    path = Path(settings.database_url.split("///", 1)[1])

    def size() -> int:
        with db.engine.connect() as conn:  # fold the WAL into the file before measuring
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return path.stat().st_size

    return growth(db, size)


def postgres_size(url: str) -> tuple[float, float]:
    """(MiB per 100,000 jobs, seconds to insert them) in PostgreSQL: job + log with indexes."""
    db = Database(url)

    def size() -> int:
        with db.engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT pg_total_relation_size('job') + pg_total_relation_size('log')")).scalar())

    return growth(db, size)


def growth(db: Database, size: Callable[[], int]) -> tuple[float, float]:
    """Fill ``db`` with ``JOBS_PER_SIZE`` jobs: (MiB it grew by, seconds it took)."""
    before = size()
    started = time.perf_counter()
    fill(db)
    elapsed = time.perf_counter() - started
    grown = size() - before
    db.dispose()
    return grown / 2**20, elapsed


# --------------------------------------------------------------------------- report
def isolation_mode(settings: Settings) -> str:
    if not getattr(settings, "isolation", False):
        return "in the worker process (SYNCSTUDIO_ISOLATION off)"
    pool = Path(__file__).resolve().parents[2] / "worker" / "runtime" / "pool.py"
    return ("in sandbox processes (SYNCSTUDIO_ISOLATION on, "
            + ("long-lived pool: worker/runtime/pool.py)" if pool.exists()
               else "one process per job)"))


def pipeline_rows(args: argparse.Namespace, settings: Settings, db: Database, home: Path,
                  rows: list[tuple[str, str, str, str]], notes: list[str]) -> None:
    """Trivial jobs with 1 and 2 workers, then the webhook load: rows and notes added."""
    # Runs alternate (1, 2, 1, 2, ...) so that the machine's drift hits both alike; the
    # median of each is reported.
    runs: dict[int, list[tuple[float, dict[str, float]]]] = {1: [], 2: []}
    for run in range(args.repeat):
        for workers in (1, 2):
            rate, finished, cores = jobs_per_second(settings, db, workers, args.jobs, home,
                                                    run)
            runs[workers].append((rate, cores))
            if finished < args.jobs:
                notes.append(f"{workers} worker(s), run {run + 1}: only {finished}/"
                             f"{args.jobs} jobs finished before the deadline")
            print(f"  {workers} worker process(es): {rate:.1f} jobs/s; cores busy: "
                  + ", ".join(f"{group} {used:.2f}" for group, used in cores.items())
                  + f" (total {sum(cores.values()):.2f})", flush=True)
    rates = {workers: statistics.median(rate for rate, _ in done)
             for workers, done in runs.items()}
    gain = rates[2] / rates[1] - 1 if rates[1] else 0.0
    busy_1 = statistics.median(sum(cores.values()) - cores["other"] for _, cores in runs[1])
    rows.append(("jobs/s through Redis, 1 worker process (median)", f"{rates[1]:.1f}", "",
                 ""))
    rows.append(("jobs/s through Redis, 2 worker processes (median)", f"{rates[2]:.1f}",
                 "", ""))
    rows.append(("gain of the 2nd worker process", f"{gain:+.0%}", ">= +70%",
                 "pass" if gain >= 0.70 else "FAIL"))
    # What the first worker left free bounds what a second can add on this machine.
    cpus = os.cpu_count() or 1
    rows.append((f"cores busy with 1 worker (of {cpus}), its whole pipeline",
                 f"{busy_1:.2f}", "", ""))
    rows.append(("  so the 2nd worker can add at most", f"{cpus / busy_1 - 1:+.0%}", "",
                 ""))

    web = webhook_rate(settings, db, args.seconds, args.connections, home)
    rows.append((f"webhook requests/s ({web['tool']})", f"{web['rate']:.0f}", ">= 300",
                 "pass" if web["rate"] >= 300 and not web["errors"] else "FAIL"))
    print("  webhook load: cores busy: " + ", ".join(
        f"{group} {used:.2f}" for group, used in web["cores"].items())
        + " (web children: its worker processes and their sandbox processes; other: the "
        "load tool)", flush=True)
    if web["errors"]:
        notes.append(f"webhook: {web['errors']} of {web['requests']} requests failed")
    rows.append(("web process RSS idle -> peak under load",
                 f"{web['rss_idle'] / 1024:.0f} -> {web['rss_peak'] / 1024:.0f} MiB", "", ""))
    rows.append(("  + its sandbox processes, peak",
                 f"{web['rss_children'] / 1024:.0f} MiB", "", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs", description=__doc__.split(
        "\n\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per throughput run")
    parser.add_argument("--seconds", type=int, default=10, help="webhook load duration")
    parser.add_argument("--connections", type=int, default=16, help="webhook load connections")
    parser.add_argument("--repeat", type=int, default=3,
                        help="throughput runs per number of workers (the median is reported)")
    parser.add_argument("--skip-size", action="store_true", help="skip the 100,000-job sizes")
    parser.add_argument("--skip-scale", action="store_true",
                        help="skip the scale-out runs (one 20 ms Odoo call per job)")
    parser.add_argument("--only-scale", action="store_true",
                        help="run the scale-out rows alone")
    args = parser.parse_args(argv)

    rows: list[tuple[str, str, str, str]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp, postgres_database() as url:
        home = Path(tmp)
        # The environment's other SYNCSTUDIO_* settings (e.g. ISOLATION) apply here as they do
        # in the worker and web processes, which inherit it.
        settings = Settings.from_env({**os.environ, "SYNCSTUDIO_HOME": str(home)},
                                     database_url=url,
                                     broker_url=REDIS_URL,
                                     secret_key=Fernet.generate_key().decode())
        db = Database(url)
        import_project(settings, db)
        mode = isolation_mode(settings)
        print(f"task code runs {mode}; load average {os.getloadavg()[0]:.2f} at start",
              flush=True)

        if not args.skip_scale:
            from bench.jobs import scale

            rows.extend(scale.scale_out(sys.modules[__name__], settings, db, args.jobs, home,
                                        args.repeat))
        if not args.only_scale:
            pipeline_rows(args, settings, db, home, rows, notes)
        db.dispose()

        if not args.skip_size and not args.only_scale:
            lite, lite_s = sqlite_size(home)
            pg, pg_s = postgres_size(url)
            rows.append(("SQLite growth per 100,000 jobs + 200,000 log lines",
                         f"{lite:.1f} MiB", "", f"({lite_s:.0f}s to insert)"))
            rows.append(("PostgreSQL job+log per 100,000 jobs + 200,000 log lines",
                         f"{pg:.1f} MiB", "", f"({pg_s:.0f}s to insert)"))
        flush_redis()

    width = max(len(row[0]) for row in rows)
    print()
    print(f"{'measure'.ljust(width)}  {'figure':>16}  {'target':>8}  result")
    print("-" * (width + 38))
    for name, figure, target, result in rows:
        print(f"{name.ljust(width)}  {figure:>16}  {target:>8}  {result}")
    print(f"\ntask code: {mode}; load average {os.getloadavg()[0]:.2f} at the end; "
          f"jobs per run {args.jobs}")
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
