"""Setting the sandboxes up: nothing happens at import, the settings decide how sandboxes are
confined, a replaced template process ends once its sandboxes have, a fork starts afresh."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from connector.settings import Settings
from worker.runtime import confinement, isolation
from worker.runtime.pool import SandboxPool
from worker.runtime.protocol import Limits
from worker.runtime.template import Templates

ROOT = Path(__file__).resolve().parents[2]
LIMITS = Limits(cpu_seconds=5, memory_mb=200, wall_seconds=20)
TASK = "def handle_cron():\n    return 'ran'\n"


def run(pool: SandboxPool) -> str:
    return pool.run(connection=None, limits=LIMITS, task_code=TASK, handler="handle_cron",
                    allowlist=())


def test_importing_the_runtime_starts_nothing_and_registers_nothing() -> None:
    # Exit and fork handlers registered while the runtime is imported are recorded by owner:
    # libraries may register theirs, the product none.
    script = (
        "import atexit, os, multiprocessing, threading\n"
        "seen = []\n"
        "def record(real):\n"
        "    def wrapper(*args, **kwargs):\n"
        "        for func in (*args, *kwargs.values()):\n"
        "            seen.append(getattr(func, '__module__', '') or '')\n"
        "        return real(*args, **kwargs)\n"
        "    return wrapper\n"
        "atexit.register = record(atexit.register)\n"
        "os.register_at_fork = record(os.register_at_fork)\n"
        "threads = threading.active_count()\n"
        "import worker.runtime, worker.runtime.isolation, worker.runtime.pool\n"
        "import worker.runtime.template, worker.runtime.child, worker.runtime.policy\n"
        "ours = [m for m in seen if m.startswith(('worker', 'connector', 'webui'))]\n"
        "assert not ours, ours\n"
        "assert threading.active_count() == threads\n"
        "assert multiprocessing.active_children() == []\n"
        "import worker.runtime.isolation as isolation\n"
        "isolation.default_pool()\n"
        "print('quiet until used:', sorted(set(m for m in seen if m.startswith('worker'))))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            check=False)
    assert result.stdout.strip() == (
        "quiet until used: ['worker.runtime.isolation']"), result.stderr


def test_a_reconfigured_template_is_replaced_and_ends_with_its_last_sandbox(
        tmp_path: Path) -> None:
    templates = Templates(user=None)
    pool = SandboxPool(max_size=1, templates=templates)
    try:
        assert run(pool) == "ran"
        first = templates.get()
        assert first.alive and first.live == 1
        templates.configure(user=None, private=(str(tmp_path),))
        second = templates.get()
        assert second is not first and second.private == (str(tmp_path),)
        assert first.alive  # its sandbox still serves the pool
        pool.close()
        assert first.live == 0
        assert templates.get() is second
        assert not first.alive  # closed by that look-up, its last sandbox gone
    finally:
        pool.close()
        templates.close()
    assert not second.alive


def test_the_settings_decide_what_a_sandbox_may_not_read() -> None:
    if confinement.landlock_abi() < 1:
        if os.environ.get("CI"):
            pytest.fail("this kernel has no Landlock; CI must run the confinement tests")
        pytest.skip("this kernel has no Landlock")
    # Inside the checkout, which sandboxes may read (they import from it), as ./var is.
    home = ROOT / f".sandbox-setup-{uuid.uuid4().hex}"
    home.mkdir()
    key = home / "secret.key"
    key.write_text("the key")
    source = f"result = open({str(key)!r}).read()"
    configured, unconfigured = Templates(), Templates()
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home)})
    configured.configure(user=settings.sandbox_user, private=settings.private_paths)
    pools = [SandboxPool(max_size=1, templates=configured),
             SandboxPool(max_size=1, templates=unconfigured)]
    try:
        for pool in pools:
            pool._raw = True
        assert pools[0]._run_raw(source).get("error") == "PermissionError"
        assert pools[1]._run_raw(source) == {"result": "the key"}
    finally:
        for pool in pools:
            pool.close()
        configured.close()
        unconfigured.close()
        shutil.rmtree(home)


def test_configure_sandboxes_sizes_a_new_default_pool_and_keeps_a_fork_apart(
        tmp_path: Path) -> None:
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(tmp_path)}, worker_threads=3,
                                 sandbox_max_jobs=7)
    isolation.close_default_pool()
    try:
        pool = isolation.configure_sandboxes(settings)
        assert isolation.default_pool() is pool
        assert (pool.max_size, pool.max_jobs) == (3, 7)
        assert isolation.run_isolated(connection=None, limits=LIMITS, task_code=TASK,
                                      handler="handle_cron", allowlist=()) == "ran"
        assert len(pool.pids) == 1
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # a fork must not drive the parent's sandboxes
            code = 0 if isolation.default_pool() is not pool and \
                not isolation.default_pool().pids else 1
            os.write(write, b"%d" % code)
            os._exit(0)
        os.close(write)
        answer = os.read(read, 8)
        os.waitpid(child, 0)
        os.close(read)
        assert answer == b"0"
        assert len(pool.pids) == 1  # still the parent's
    finally:
        isolation.close_default_pool()
