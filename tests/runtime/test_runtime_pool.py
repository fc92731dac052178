"""The sandbox pool: warm processes are reused, replaced when they misbehave, never leak."""

from __future__ import annotations

import os
import random
import signal
import textwrap
import threading
import time

import pytest

from tests.support import wait_until
from worker.runtime import SandboxError, SandboxLimitExceeded, UserError
from worker.runtime.isolation import Limits
from worker.runtime.pool import SandboxPool

LIMITS = Limits(cpu_seconds=1, memory_mb=200, wall_seconds=10)


class _CountingClient:
    """A client whose uid tells one instance from another (the child builds it)."""

    def __init__(self) -> None:
        self.uid = random.randrange(1, 10**9)


def counting_client() -> _CountingClient:
    return _CountingClient()


def other_client() -> _CountingClient:
    return _CountingClient()


def code(body: str) -> str:
    return "def handle_cron():\n" + textwrap.indent(textwrap.dedent(body), "    ")


@pytest.fixture
def pool():
    pool = SandboxPool(max_size=1, max_jobs=100)
    try:
        yield pool
    finally:
        pool.close()


def run(pool: SandboxPool, body: str, limits: Limits = LIMITS, **kwargs):
    kwargs.setdefault("connection", None)
    kwargs.setdefault("allowlist", ())
    return pool.run(limits=limits, task_code=code(body), handler="handle_cron", **kwargs)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def running(pid: int) -> bool:
    """Whether ``pid`` still runs: a killed process its parent has not reaped yet does not."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_one_process_serves_consecutive_jobs(pool: SandboxPool) -> None:
    results = [run(pool, f"return {i} * 2") for i in range(5)]
    assert results == [0, 2, 4, 6, 8]
    assert pool.started == 1
    assert len(pool.pids) == 1 and alive(pool.pids[0])


@pytest.mark.slow
def test_each_job_gets_its_own_cpu_and_memory_budget(pool: SandboxPool) -> None:
    # Three jobs busy for 0.6 s each: up to 1.8 s of CPU in one process, more than one job's
    # 1 s limit, which must therefore count from each job's start.
    burn = "t = time.time()\nwhile time.time() - t < 0.6:\n    pass\nreturn 1"
    assert [run(pool, burn) for _ in range(3)] == [1, 1, 1]
    # 150 MB three times against a 200 MB limit: the limit follows the process's size.
    grab = "s = 'x' * (150 * 1024 * 1024)\nreturn len(s) // (1024 * 1024)"
    assert [run(pool, grab) for _ in range(3)] == [150, 150, 150]
    assert pool.started == 1


@pytest.mark.slow
def test_cpu_limit_replaces_the_process_and_the_next_job_works(pool: SandboxPool) -> None:
    run(pool, "return 1")
    (first,) = pool.pids
    with pytest.raises(SandboxLimitExceeded, match="CPU time limit of 1 s"):
        run(pool, "while True:\n    pass")
    assert not alive(first)
    assert run(pool, "return 'next'") == "next"
    assert pool.pids != [first] and pool.started == 2


def test_memory_limit_replaces_the_process(pool: SandboxPool) -> None:
    run(pool, "return 1")
    (first,) = pool.pids
    with pytest.raises(SandboxLimitExceeded, match="memory limit of 200 MB"):
        run(pool, "return len('x' * (10 ** 10))")
    assert not alive(first)
    assert run(pool, "return 2") == 2


def test_wall_clock_limit_kills_the_process(pool: SandboxPool) -> None:
    logs: list[str] = []
    started = time.monotonic()
    with pytest.raises(SandboxLimitExceeded, match="wall-clock limit of 0.5 s"):
        run(pool, "log('going to sleep')\ntime.sleep(30)",
            limits=Limits(cpu_seconds=5, memory_mb=200, wall_seconds=0.5),
            log=lambda message, level: logs.append(message))
    assert time.monotonic() - started < 3
    assert logs == ["going to sleep"]
    assert pool.pids == [] and pool.retired == 1
    assert run(pool, "return 3") == 3


def test_a_process_that_died_while_idle_is_replaced(pool: SandboxPool) -> None:
    run(pool, "return 1")
    (first,) = pool.pids
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: not running(first), 5, "the idle process to die")
    assert run(pool, "return 2") == 2
    assert pool.pids != [first] and pool.started == 2


def test_a_process_killed_during_a_job_fails_that_job_only(pool: SandboxPool) -> None:
    run(pool, "return 1")
    (first,) = pool.pids
    timer = threading.Timer(0.3, os.kill, (first, signal.SIGKILL))
    timer.start()
    with pytest.raises(SandboxError, match="killed by the system"):
        run(pool, "time.sleep(5)")
    timer.join()
    assert run(pool, "return 2") == 2


def test_user_errors_keep_the_process(pool: SandboxPool) -> None:
    with pytest.raises(UserError, match="nope"):
        run(pool, "raise UserError('nope')")
    with pytest.raises(RecursionError):
        run(pool, "def f(n):\n    return f(n + 1)\nreturn f(0)")
    assert run(pool, "return 4") == 4
    assert pool.started == 1


def test_four_threads_share_a_smaller_pool() -> None:
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            results[n] = [run(pool, f"time.sleep(0.01)\nreturn {n * 100 + i}")
                          for i in range(10)]
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    with SandboxPool(max_size=2) as pool:
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        assert results == {n: [n * 100 + i for i in range(10)] for n in range(4)}
        assert pool.started == 2 and len(pool.pids) == 2


def test_process_is_retired_after_max_jobs() -> None:
    with SandboxPool(max_size=1, max_jobs=3) as pool:
        seen = []
        for i in range(7):
            assert run(pool, f"return {i}") == i
            seen.append(tuple(pool.pids))
        # Jobs 1-3 on a first process (retired after its third), 4-6 on a second, 7 on a third.
        assert seen[0] == seen[1] and seen[2] == () and seen[3] == seen[4] and seen[5] == ()
        assert len({seen[0], seen[3], seen[6]}) == 3
        assert pool.started == 3 and pool.retired == 2
        assert not alive(seen[0][0]) and not alive(seen[3][0])


@pytest.mark.slow
def test_process_is_retired_when_its_memory_grows() -> None:
    # Every distinct task source stays in the compiled-code cache (by design): 4 MB of it per
    # job grows the process until the 10 MB threshold retires it.
    with SandboxPool(max_size=1, max_rss_growth_mb=10) as pool:
        for i in range(8):
            big = f"{i}" * (4 * 1024 * 1024)
            assert run(pool, f"return len('{big}')") == len(big)
        assert pool.started >= 2


def test_protected_and_task_state_does_not_survive_the_job(pool: SandboxPool) -> None:
    protected = "_seen = []\ndef remember(value):\n    _seen.append(value)\n    return len(_seen)\n"
    task = ("class Box:\n    items = []\n"
            "def handle_cron():\n    Box.items.append(1)\n"
            "    return remember('x'), len(Box.items)\n")
    for _ in range(3):
        assert pool.run(connection=None, limits=LIMITS, protected_code=protected,
                        task_code=task, handler="handle_cron", allowlist=()) == (1, 1)
    assert pool.started == 1


def test_odoo_client_is_kept_per_connection_and_dropped_after_a_failure(
        pool: SandboxPool) -> None:
    first = run(pool, "return env.uid", connection=counting_client)
    assert run(pool, "return env.uid", connection=counting_client) == first
    with pytest.raises(UserError):
        run(pool, "raise UserError('broken?')", connection=counting_client)
    after_failure = run(pool, "return env.uid", connection=counting_client)
    assert after_failure != first
    assert pool.started == 1


def test_tenants_never_share_a_process(pool: SandboxPool) -> None:
    # Module state reachable from protected code (a class-level dict an operator granted by
    # name) stays with the tenant that changed it: another tenant gets a fresh process.
    protected = ("from xmlrpc.client import Marshaller as _Marshaller\n"
                 "def mark():\n    _Marshaller.dispatch['mark'] = 1\n    return look()\n"
                 "def look():\n    return 'mark' in _Marshaller.dispatch\n")
    mark = code("return mark()")
    look = code("return look()")
    common = dict(limits=LIMITS, protected_code=protected, handler="handle_cron",
                  allowlist=("xmlrpc.client:Marshaller",))
    assert pool.run(connection=counting_client, task_code=mark, **common) is True
    (first,) = pool.pids
    # Same tenant: same process, and it does see what its own earlier job did.
    assert pool.run(connection=counting_client, task_code=look, **common) is True
    assert pool.pids == [first]
    for other in (dict(connection=other_client), dict(connection=counting_client,
                                                      secrets={"KEY": "other"})):
        assert pool.run(task_code=look, **{**common, **other}) is False
        assert first not in pool.pids
    assert pool.started == 3


def test_close_kills_every_process() -> None:
    pool = SandboxPool(max_size=3)
    pool.warm_up(2)
    assert len(pool.pids) == 2
    outcome: list[BaseException] = []

    running = threading.Event()

    def sleeper() -> None:
        try:
            run(pool, "log('sleeping')\ntime.sleep(30)", log=lambda message, level: running.set())
        except BaseException as exc:  # noqa: BLE001 - checked below
            outcome.append(exc)

    thread = threading.Thread(target=sleeper)
    thread.start()
    wait_until(running.is_set, 5, "the sleeper's job to start on a warm process")
    pids = pool.pids
    assert len(pids) == 2
    pool.close()
    thread.join(5)
    assert not thread.is_alive()
    assert outcome and isinstance(outcome[0], SandboxError)
    assert not any(alive(pid) for pid in pids)  # killed and reaped: not even zombies
    with pytest.raises(SandboxError, match="closed"):
        run(pool, "return 1")
