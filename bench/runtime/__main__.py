"""Task runtime benchmark: ``python -m bench.runtime [--quick] [--jobs N]``; prints a table.

* Throughput: N trivial button jobs recorded in a PostgreSQL own database (SQLite when
  PostgreSQL is unreachable), dispatched to Redis (db 14) by this process's dispatcher and run
  by a ``syncstudio worker`` subprocess with isolation on.
* Memory: the worker's RSS (and the proportional set size of the worker, its sandbox template
  and sandbox processes together) after a warm-up batch and after N more jobs.
* Latency: the median added by isolation per job, ``run_isolated`` vs ``run_handler``.
* The per-job memory limit: how many search_read-like records a job can hold within it.

Targets are issue 4's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text

from connector import jobs
from connector.projects import ProjectImporter
from connector.settings import Settings
from connector.store import migrate
from connector.store.crypto import SecretBox
from connector.store.db import Database
from connector.store.models import Job, Trigger

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("SYNCSTUDIO_BENCH_PG_ADMIN",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SYNCSTUDIO_BENCH_REDIS", "redis://127.0.0.1:6379/14")
TRIVIAL = "def handle_button():\n    return 1\n"
DONE = ("done", "done_warnings")


# --------------------------------------------------------------------------------------------
# Own database and worker
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def own_database(home: Path) -> Iterator[tuple[str, str]]:
    """A fresh own database URL (PostgreSQL if reachable) and its kind."""
    name = f"syncstudio_bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - fall back to SQLite, say so
        print(f"PostgreSQL unreachable ({type(exc).__name__}); using SQLite", file=sys.stderr)
        yield f"sqlite:///{home / 'bench.sqlite3'}", "sqlite"
        return
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, "postgresql"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def record_jobs(db: Database, trigger_id: int, count: int) -> None:
    """``count`` pending button jobs."""
    with db.session() as session:
        trigger = session.get(Trigger, trigger_id)
        for _ in range(count):
            jobs.record_trigger_job(session, trigger)


def done_count(db: Database) -> tuple[int, int]:
    """(finished jobs, failed jobs)."""
    with db.session() as session:
        done = session.scalar(select(func.count()).select_from(Job).where(Job.state.in_(DONE)))
        failed = session.scalar(select(func.count()).select_from(Job).where(
            Job.state == "failed"))
        return int(done or 0), int(failed or 0)


def first_failure(db: Database) -> str:
    with db.session() as session:
        job = session.scalars(select(Job).where(Job.state == "failed").limit(1)).first()
        return f"job {job.id}: {job.error}" if job is not None else ""


def run_batch(service: Any, db: Database, trigger_id: int, count: int, already: int,
              timeout: float) -> float:
    """Record ``count`` jobs, dispatch them and wait until all are done; seconds taken."""
    record_jobs(db, trigger_id, count)
    stop = threading.Event()

    def dispatch() -> None:
        while not stop.is_set():
            if not service.dispatcher.run_once():
                stop.wait(0.05)

    started = time.monotonic()
    thread = threading.Thread(target=dispatch, daemon=True)
    thread.start()
    try:
        while True:
            done, failed = done_count(db)
            if failed:
                raise RuntimeError(f"{failed} job(s) failed, e.g. {first_failure(db)}")
            if done >= already + count:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"only {done - already} of {count} jobs done in {timeout} s")
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(5)


def descendants(pid: int) -> list[int]:
    """``pid``'s child processes, recursively."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and of its children it has reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def memory(pid: int) -> dict[str, float]:
    """The worker's RSS, the PSS of the worker with all its sandbox processes (MB), their CPU."""
    family = [pid, *descendants(pid)]
    return {"worker_rss": _status_kb(pid, "VmRSS") / 1024,
            "total_pss": sum(_pss_kb(p) for p in family) / 1024,
            "processes": len(family), "cpu": sum(_cpu_seconds(p) for p in family)}


def bench_worker(jobs_count: int, warmup: int, threads: int, isolation: bool = True
                 ) -> dict[str, Any]:
    """Throughput and memory of a ``syncstudio worker`` subprocess over Redis."""
    import redis

    from worker.service import Service

    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        home = Path(tmp)
        with own_database(home) as (url, kind):
            env = {**os.environ, "SYNCSTUDIO_HOME": str(home), "SYNCSTUDIO_DATABASE_URL": url,
                   "SYNCSTUDIO_BROKER_URL": REDIS_URL,
                   "SYNCSTUDIO_ISOLATION": "1" if isolation else "0",
                   "SYNCSTUDIO_WORKER_THREADS": str(threads), "SYNCSTUDIO_LOG_LEVEL": "WARNING"}
            settings = Settings.from_env({k: v for k, v in env.items()
                                          if k.startswith("SYNCSTUDIO_")})
            db = Database(url)
            migrate.upgrade(db)
            with db.session() as session:
                ProjectImporter(session, SecretBox.from_settings(settings), environ={}
                                ).import_data({"name": "Bench", "tasks": [
                                    {"name": "Trivial", "code": TRIVIAL,
                                     "triggers": {"button": [{"trigger_name": "RUN"}]}}]})
                trigger_id = session.scalar(select(Trigger.id))
            service = Service(settings, db)  # this process only dispatches (Redis actor)
            log = open(home / "worker.log", "w")  # noqa: SIM115 - closed below
            # `syncstudio worker`, from this checkout (the installed script may point elsewhere).
            worker = subprocess.Popen(
                [sys.executable, "-c", "from connector.cli import main; main()", "worker",
                 "--threads", str(threads)],
                env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT, stdout=log,
                stderr=subprocess.STDOUT)
            try:
                run_batch(service, db, trigger_id, warmup, 0, timeout=300)
                time.sleep(1.0)
                warm = memory(worker.pid)
                seconds = run_batch(service, db, trigger_id, jobs_count, warmup,
                                    timeout=max(300, jobs_count / 20))
                time.sleep(1.0)
                after = memory(worker.pid)
                family = descendants(worker.pid)
            except Exception:
                log.flush()
                print((home / "worker.log").read_text()[-3000:], file=sys.stderr)
                raise
            finally:
                worker.send_signal(signal.SIGINT)  # Ctrl-C: the worker's clean shutdown
                try:
                    worker.wait(15)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
                log.close()
                service.broker.close()
                db.dispose()
                broker.flushdb()
                broker.close()
            deadline = time.monotonic() + 5
            while any(_alive(p) for p in family) and time.monotonic() < deadline:
                time.sleep(0.1)
            leftovers = [p for p in family if _alive(p)]
    return {"kind": kind, "rate": jobs_count / seconds, "seconds": seconds, "warm": warm,
            "cpu_ms": (after["cpu"] - warm["cpu"]) / jobs_count * 1000,
            "after": after, "leftovers": leftovers}


# --------------------------------------------------------------------------------------------
# In this process: latency and the memory limit
# --------------------------------------------------------------------------------------------


def bench_latency(samples: int) -> dict[str, float]:
    """Median and p95 of one trivial job, isolated and in-process (ms)."""
    from worker.runtime import run_handler, run_isolated

    kwargs = dict(task_code=TRIVIAL, handler="handle_button", allowlist=())
    for _ in range(20):  # warm: template started, a process forked, code compiled
        run_isolated(connection=None, **kwargs)
        run_handler(client=None, **kwargs)
    isolated, direct = [], []
    for _ in range(samples):  # interleaved, so background load hits both alike
        started = time.perf_counter()
        run_isolated(connection=None, **kwargs)
        isolated.append(time.perf_counter() - started)
        started = time.perf_counter()
        run_handler(client=None, **kwargs)
        direct.append(time.perf_counter() - started)

    def pct(values: list[float], p: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    return {"isolated_p50": pct(isolated, 50), "isolated_p95": pct(isolated, 95),
            "direct_p50": pct(direct, 50), "added_p50": statistics.median(
                [a - b for a, b in zip(isolated, direct, strict=True)]) * 1000}


RECORDS = """
def handle_cron():
    rows = [{'id': i, 'name': 'Partner %d' % i, 'email': 'partner%d@example.com' % i,
             'active': True, 'write_date': '2024-01-01 00:00:%02d' % (i % 60)}
            for i in range(COUNT)]
    return len(rows)
"""


def bench_memory_limit(memory_mb: int) -> dict[str, Any]:
    """The largest list of 5-field records (as ``search_read`` returns) a job can build."""
    from worker.runtime import Limits, SandboxLimitExceeded
    from worker.runtime.pool import SandboxPool

    limits = Limits(cpu_seconds=60, memory_mb=memory_mb, wall_seconds=120)
    fits = 0
    with SandboxPool(max_size=1) as pool:
        for count in (50_000, 100_000, 200_000, 400_000, 800_000, 1_600_000):
            try:
                pool.run(connection=None, limits=limits, handler="handle_cron", allowlist=(),
                         task_code=RECORDS.replace("COUNT", str(count)))
            except SandboxLimitExceeded:
                break
            fits = count
        pool.run(connection=None, limits=limits, handler="handle_cron", allowlist=(),
                 task_code=RECORDS.replace("COUNT", "1"))
        (pid,) = pool.pids
        sandbox = {"rss": _status_kb(pid, "VmRSS") / 1024, "pss": _pss_kb(pid) / 1024,
                   "vm": _status_kb(pid, "VmSize") / 1024}
    return {"fits": fits, "sandbox": sandbox}


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.runtime")
    parser.add_argument("--quick", action="store_true", help="2,000 jobs instead of 10,000")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=4)
    options = parser.parse_args()
    jobs_count = options.jobs or (2_000 if options.quick else 10_000)
    warmup = 500 if options.quick else 1_000

    latency = bench_latency(300 if options.quick else 1_000)
    limit = bench_memory_limit(Settings.__dataclass_fields__["job_memory_mb"].default)
    worker = bench_worker(jobs_count, warmup, options.threads)
    plain = bench_worker(max(1_000, jobs_count // 5), 200, options.threads, isolation=False)

    warm, after = worker["warm"], worker["after"]
    growth = (after["worker_rss"] - warm["worker_rss"]) / warm["worker_rss"] * 100
    total_growth = (after["total_pss"] - warm["total_pss"]) / warm["total_pss"] * 100
    rows = [
        (f"trivial jobs/s through Redis, isolation on ({jobs_count:,} jobs, "
         f"{options.threads} threads, {worker['kind']})",
         f"{worker['rate']:.0f}/s ({worker['seconds']:.1f} s)", ">= 200/s",
         worker["rate"] >= 200),
        (f"  same pipeline, isolation off ({max(1_000, jobs_count // 5):,} jobs)",
         f"{plain['rate']:.0f}/s", "", None),
        ("  CPU per job, worker + its processes: isolation on / off",
         f"{worker['cpu_ms']:.2f} / {plain['cpu_ms']:.2f} ms", "", None),
        ("added latency of isolation per job (median)",
         f"{latency['added_p50']:.2f} ms", "<= 5 ms", latency["added_p50"] <= 5),
        ("  one trivial job isolated, median / p95",
         f"{latency['isolated_p50']:.2f} / {latency['isolated_p95']:.2f} ms", "", None),
        ("  one trivial job in-process, median", f"{latency['direct_p50']:.2f} ms", "", None),
        (f"worker RSS after {warmup:,} warm-up jobs", f"{warm['worker_rss']:.1f} MB", "", None),
        (f"worker RSS after {jobs_count:,} more jobs", f"{after['worker_rss']:.1f} MB",
         "", None),
        ("worker RSS growth after warm-up", f"{growth:+.1f} %", "<= 10 %", growth <= 10),
        (f"PSS worker + template + sandboxes ({warm['processes']} -> "
         f"{after['processes']} processes)",
         f"{warm['total_pss']:.1f} -> {after['total_pss']:.1f} MB ({total_growth:+.1f} %)",
         "<= 10 %", total_growth <= 10),
        ("worker's processes left after it stopped", str(len(worker["leftovers"])), "0",
         not worker["leftovers"]),
        ("default per-job memory limit", "256 MB (address space above the process size)",
         "", None),
        ("  5-field records a job can hold within it",
         f"{limit['fits']:,} (next doubling refused)", "", None),
        ("  one idle sandbox process: RSS / PSS / VmSize",
         f"{limit['sandbox']['rss']:.0f} / {limit['sandbox']['pss']:.0f} / "
         f"{limit['sandbox']['vm']:.0f} MB", "", None),
    ]
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"{'measure':<{width}}  {'value':<{value_width}}  {'target':<9}  result")
    print("-" * (width + value_width + 24))
    for name, value, target, ok in rows:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{name:<{width}}  {value:<{value_width}}  {target:<9}  {verdict}")


if __name__ == "__main__":
    main()
