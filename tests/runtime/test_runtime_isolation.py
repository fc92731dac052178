"""Process isolation: limits end runaway code with a clear error; the parent keeps working."""

from __future__ import annotations

import textwrap
import time

import pytest

from connector.errors import CodeError
from worker.runtime import RetryableJobError, SandboxLimitExceeded, UserError
from worker.runtime.isolation import Limits, UserCodeError, run_isolated


class _TinyClient:
    uid = 2

    def fields_get(self, model, attributes=None):
        return {"name": {"type": "char"}}

    def read(self, model, ids, fields, context=None):
        return [{"id": i, "name": f"Partner {i}"} for i in ids]


def tiny_client() -> _TinyClient:
    """Picklable factory: the child builds its own client."""
    return _TinyClient()


LIMITS = Limits(cpu_seconds=1, memory_mb=200, wall_seconds=10)


def run(body: str, handler: str = "handle_cron", limits: Limits = LIMITS, **kwargs):
    code = "def handle_cron():\n" + textwrap.indent(textwrap.dedent(body), "    ")
    kwargs.setdefault("allowlist", ())
    return run_isolated(connection=tiny_client, limits=limits, task_code=code,
                        handler=handler, **kwargs)


def test_result_and_logs_come_back() -> None:
    logs, sent = [], []
    result = run("log('hi', LOG_WARNING)\nlog_transmission('peer', 'data')\n"
                 "return {'name': env['res.partner'].browse(7).name}",
                 log=lambda m, level: logs.append((level, m)),
                 log_transmission=lambda r, d: sent.append((r, d)))
    assert result == {"name": "Partner 7"}
    assert logs == [("warning", "hi")]
    assert sent == [("peer", "data")]


@pytest.mark.slow
def test_infinite_loop_hits_the_cpu_limit() -> None:
    started = time.monotonic()
    with pytest.raises(SandboxLimitExceeded, match="CPU time limit of 1 s") as info:
        run("while True:\n    pass")
    assert info.value.limit == "cpu"
    assert time.monotonic() - started < 8


@pytest.mark.slow
def test_huge_power_is_stopped() -> None:
    with pytest.raises(SandboxLimitExceeded) as info:
        run("return 10 ** 10 ** 10")
    assert info.value.limit in ("cpu", "memory")


def test_huge_string_hits_the_memory_limit() -> None:
    with pytest.raises(SandboxLimitExceeded, match="memory limit of 200 MB"):
        run("s = 'x' * (10 ** 10)\nreturn len(s)")


def test_deep_recursion_is_a_clear_error() -> None:
    with pytest.raises(RecursionError, match="maximum recursion depth") as info:
        run("def f(n):\n    return f(n + 1)\nreturn f(0)")
    assert "in f" in info.value.user_traceback


def test_sleeping_task_hits_the_wall_clock_limit() -> None:
    started = time.monotonic()
    with pytest.raises(SandboxLimitExceeded, match="wall-clock limit of 1 s"):
        run("time.sleep(30)", limits=Limits(cpu_seconds=5, memory_mb=200, wall_seconds=1))
    assert time.monotonic() - started < 5


@pytest.mark.slow
def test_parent_keeps_working_after_limits() -> None:
    with pytest.raises(SandboxLimitExceeded):
        run("while True:\n    pass")
    assert run("return 1 + 1") == 2


@pytest.mark.slow
def test_logs_before_a_kill_are_kept() -> None:
    logs = []
    with pytest.raises(SandboxLimitExceeded):
        run("log('starting')\nwhile True:\n    pass", log=lambda m, level: logs.append(m))
    assert logs == ["starting"]


def test_errors_keep_their_class_and_user_traceback() -> None:
    with pytest.raises(RetryableJobError, match="later"):
        run("raise RetryableJobError('later')")
    with pytest.raises(UserError) as info:
        run("raise UserError('token ' + secret_word())",
            protected_code="def secret_word():\n    return secrets.T\n",
            secrets={"T": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(info.value)
    assert "s3cr3t-value" not in info.value.user_traceback
    assert 'File "<task>", line 2, in handle_cron' in info.value.user_traceback


def test_user_defined_exception_class() -> None:
    code = "class Boom(Exception):\n    pass\ndef handle_cron():\n    raise Boom('bang')\n"
    with pytest.raises(UserCodeError, match="Boom: bang"):
        run_isolated(connection=tiny_client, limits=LIMITS, task_code=code,
                     handler="handle_cron", allowlist=())


def test_refused_code_is_a_code_error() -> None:
    with pytest.raises(CodeError) as info:
        run("return ().__class__")
    assert info.value.lineno == 2


def test_unpicklable_result_is_a_clear_error() -> None:
    with pytest.raises(Exception, match="cannot leave the sandbox"):
        run("return env['res.partner'].browse(1)")


def test_add_job_is_called_in_the_parent() -> None:
    queued = []

    def add_job(func_name, **options):
        return lambda *args, **kwargs: queued.append((func_name, options, args)) or 41

    assert run("return add_job('later', priority=3)(5) + 1", add_job=add_job) == 42
    assert queued == [("later", {"priority": 3}, (5,))]


def test_child_rebuilds_the_odoo_client_from_connection_parameters(simulator) -> None:
    connection = {"url": simulator.url, "database": "odootest", "login": "admin",
                  "password": "admin", "protocol": "jsonrpc"}
    code = "def handle_db(records):\n    return records.mapped('name'), env.user.login\n"
    simulator.reset_calls()
    names, login = run_isolated(connection=connection, limits=LIMITS, task_code=code,
                                handler="handle_db", records=("res.users", [2]), allowlist=())
    assert login == "admin" and len(names) == 1
    assert simulator.calls[("res.users", "read")] == 2  # name, then login: one read each
