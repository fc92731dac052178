"""The OS boundary of sandbox processes, tested with the RestrictedPython layer bypassed.

Each attack runs as plain Python inside a real sandbox process (``SandboxPool._run_raw``, a
hook only tests enable) and must be refused by the kernel. Ordinary jobs must still work.
"""

from __future__ import annotations

import http.server
import os
import sysconfig
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.settings import Settings
from worker.runtime import confinement
from worker.runtime.exceptions import SandboxError
from worker.runtime.isolation import Limits, close_default_pool, configure_sandboxes, run_isolated
from worker.runtime.pool import SandboxPool

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "sk-" + uuid.uuid4().hex
DB_PASSWORD = "pw" + uuid.uuid4().hex
DB_URL = f"postgresql+psycopg://syncstudio:{DB_PASSWORD}@127.0.0.1:5432/own"


def _require_landlock() -> None:
    if confinement.landlock_abi() < 1:
        message = "this kernel has no Landlock"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the confinement tests")
        pytest.skip(message)


@pytest.fixture(scope="module")
def service_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    (home / "secret.key").write_text("the-secret-key-file\n")
    (home / "syncstudio.sqlite3").write_bytes(b"SQLite format 3\0")
    return home


@pytest.fixture(scope="module")
def sandbox(service_home: Path) -> Iterator[SandboxPool]:
    """A pool that runs raw Python, under a template started with the service's secrets in
    its environment (as a worker's template is)."""
    _require_landlock()
    saved = dict(os.environ)
    os.environ.update(SYNCSTUDIO_HOME=str(service_home), SYNCSTUDIO_SECRET_KEY=SECRET_KEY,
                      SYNCSTUDIO_DATABASE_URL=DB_URL, PGPASSWORD=DB_PASSWORD)
    close_default_pool()  # the next template starts with this environment
    configure_sandboxes(Settings.from_env(os.environ))  # ... and the service's settings
    pool = SandboxPool(max_size=1)
    pool._raw = True
    try:
        pool._run_raw("result = 1")  # start the template and the process now
    finally:
        os.environ.clear()
        os.environ.update(saved)
    yield pool
    pool.close()
    close_default_pool()


def raw(pool: SandboxPool, source: str) -> dict[str, Any]:
    return pool._run_raw(textwrap.dedent(source))


def refused(pool: SandboxPool, source: str) -> dict[str, Any]:
    outcome = raw(pool, source)
    assert "error" in outcome, f"the sandbox was allowed to: {source.strip()}"
    assert outcome["error"] in ("PermissionError", "BlockingIOError", "OSError",
                                "RuntimeError", "OperationalError"), outcome
    return outcome


def test_raw_python_is_refused_by_an_ordinary_pool() -> None:
    with SandboxPool(max_size=1) as pool, pytest.raises(SandboxError, match="raw Python"):
        pool._run_raw("result = 1")


# -- files --------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["tmp", "site-packages", "home", "source", "dev-shm"])
def test_no_file_can_be_written(sandbox: SandboxPool, service_home: Path, where: str) -> None:
    folder = {"tmp": "/tmp", "site-packages": sysconfig.get_paths()["purelib"],
              "home": str(service_home), "source": str(ROOT), "dev-shm": "/dev/shm"}[where]
    target = os.path.join(folder, f"sandbox-{uuid.uuid4().hex}.pth")
    outcome = refused(sandbox, f"open({target!r}, 'w').write('import os')")
    assert outcome["errno"] == 13
    assert not os.path.exists(target)


def test_no_folder_link_or_rename(sandbox: SandboxPool, service_home: Path) -> None:
    refused(sandbox, f"import os; os.mkdir('/tmp/sandbox-{uuid.uuid4().hex}')")
    refused(sandbox, f"import os; os.symlink('/etc/passwd', '/tmp/sandbox-{uuid.uuid4().hex}')")
    refused(sandbox, f"import os; os.rename({str(service_home / 'secret.key')!r}, '/tmp/k')")
    assert (service_home / "secret.key").exists()


def test_the_secret_key_file_cannot_be_read(sandbox: SandboxPool, service_home: Path) -> None:
    outcome = refused(sandbox, f"result = open({str(service_home / 'secret.key')!r}).read()")
    assert outcome["errno"] == 13


def test_the_own_database_file_cannot_be_opened(sandbox: SandboxPool,
                                                service_home: Path) -> None:
    path = str(service_home / "syncstudio.sqlite3")
    refused(sandbox, f"result = open({path!r}, 'rb').read()")
    refused(sandbox, f"import sqlite3\nresult = sqlite3.connect({path!r}).execute("
                     "'select * from sqlite_master').fetchall()")


def test_the_runtime_can_still_read_what_it_needs(sandbox: SandboxPool) -> None:
    outcome = raw(sandbox, """
        import ssl, json, email.mime.text, zoneinfo, os
        ctx = ssl.create_default_context()
        tz = zoneinfo.ZoneInfo('Europe/Brussels')
        result = len(ctx.get_ca_certs()) >= 0 and str(tz) + ' ' + str(os.path.exists('/etc/hosts'))
    """)
    assert outcome == {"result": "Europe/Brussels True"}


# -- processes ----------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", [
    "import os; os.fork()",
    "import os; os.execv('/bin/true', ['true'])",
    "import os; os.posix_spawn('/bin/true', ['true'], {})",
    "import subprocess; subprocess.run(['/bin/true'])",
    "import os; os.system('true') == 0 or (_ for _ in ()).throw(OSError('no shell'))",
    "import threading; t = threading.Thread(target=print); t.start()",
])
def test_no_new_process_or_program(sandbox: SandboxPool, attempt: str) -> None:
    refused(sandbox, attempt)


def test_the_worker_process_is_out_of_reach(sandbox: SandboxPool) -> None:
    worker = os.getpid()
    refused(sandbox, f"result = open('/proc/{worker}/environ', 'rb').read()")
    refused(sandbox, f"result = open('/proc/{worker}/mem', 'rb').read(1)")
    refused(sandbox, f"import os; os.kill({worker}, 0)")
    refused(sandbox, "import os; result = open(f'/proc/{os.getppid()}/environ', 'rb').read()")
    outcome = raw(sandbox, f"""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        result = (libc.ptrace(16, {worker}, 0, 0), ctypes.get_errno())  # PTRACE_ATTACH
    """)
    assert outcome["result"] == repr((-1, 1))


def test_no_tcp_server_can_be_started(sandbox: SandboxPool) -> None:
    refused(sandbox, "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()")


@pytest.mark.parametrize("path", ["/var/run/postgresql/.s.PGSQL.5432", "/var/run/docker.sock",
                                  "/run/redis/redis-server.sock"])
def test_no_local_service_is_reached_by_unix_socket(sandbox: SandboxPool, path: str) -> None:
    # Whether or not the service listens here: the socket cannot even be made.
    outcome = refused(sandbox, f"import socket; socket.socket(socket.AF_UNIX).connect({path!r})")
    assert outcome["errno"] == 1
    refused(sandbox, "import socket; socket.socketpair()")


def test_names_still_resolve_and_tcp_clients_connect(sandbox: SandboxPool) -> None:
    outcome = raw(sandbox, """
        import socket
        listed = socket.getaddrinfo('localhost', 80, type=socket.SOCK_STREAM)
        result = bool(listed)
    """)
    assert outcome == {"result": True}


# -- identity and configuration -------------------------------------------------------------


def test_no_privilege_is_left(sandbox: SandboxPool) -> None:
    outcome = raw(sandbox, """
        status = dict(line.split(':', 1) for line in open('/proc/self/status'))
        result = ' '.join(status[k].strip() for k in ('Uid', 'CapEff', 'CapBnd', 'NoNewPrivs',
                                                      'Seccomp'))
    """)
    uid, *_, cap_eff, cap_bnd, no_new_privs, seccomp = outcome["result"].split()
    assert cap_eff == "0000000000000000" and no_new_privs == "1" and seccomp == "2"
    if os.geteuid() == 0:
        plan = confinement.plan("nobody")
        assert uid == str(plan.uid if plan.uid is not None else 0)
        assert cap_bnd == "0000000000000000" or plan.uid is not None


def test_the_service_configuration_is_not_in_the_sandbox(sandbox: SandboxPool) -> None:
    outcome = raw(sandbox, """
        import os, sys, ctypes
        fields = open('/proc/self/stat', 'rb').read().rsplit(b')', 1)[1].split()
        start, end = int(fields[47]), int(fields[48])
        block = ctypes.string_at(start, end - start)
        from connector.settings import Settings
        settings = Settings.from_env(os.environ)
        import multiprocessing
        result = repr((sorted(k for k in os.environ if k.startswith(('SYNCSTUDIO', 'PG'))),
                       block, sys.argv, settings.secret_key.reveal(), settings.database_url,
                       multiprocessing.current_process().authkey))
    """)
    assert "result" in outcome, outcome
    text = outcome["result"]
    assert text.startswith("([], ")
    import multiprocessing

    for value in (SECRET_KEY, DB_PASSWORD, "syncstudio:pw",
                  repr(multiprocessing.current_process().authkey)):
        assert value not in text
    refused(sandbox, "result = open('/proc/self/environ', 'rb').read()")


def test_the_worker_never_unpickles_code_from_a_sandbox(sandbox: SandboxPool,
                                                        tmp_path: Path) -> None:
    marker = tmp_path / "ran-in-the-worker"
    source = f"""
        import gc, os, pickle
        from multiprocessing.connection import Connection

        class Evil:
            def __reduce__(self):
                return (os.system, ('touch {marker}',))

        conn = next(o for o in gc.get_objects() if isinstance(o, Connection))
        conn.send_bytes(pickle.dumps(('log', Evil(), 'info')))
    """
    with pytest.raises(Exception, match="cannot leave the sandbox"):
        raw(sandbox, source)
    assert not marker.exists()


# -- ordinary jobs under confinement --------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        body = b'{"pong": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ping"
    server.shutdown()
    server.server_close()


def test_protected_code_still_reaches_the_network(http_url: str) -> None:
    _require_landlock()
    protected = ("import requests as _requests\n"
                 "def fetch(url):\n"
                 "    return _requests.get(url, timeout=5).json()\n")
    task = ("def handle_cron():\n"
            "    stamp = datetime.datetime(2024, 5, 1, 12, 30).isoformat(' ', 'minutes')\n"
            "    return {'pong': fetch(params.URL)['pong'], 'when': stamp,\n"
            "            'json': json.dumps({'a': [1, 2]})}\n")
    result = run_isolated(connection=None, limits=Limits(wall_seconds=20), task_code=task,
                          handler="handle_cron", protected_code=protected,
                          params={"URL": http_url}, allowlist=("requests",))
    assert result == {"pong": True, "when": "2024-05-01 12:30", "json": '{"a": [1, 2]}'}


class _Store:
    """A link store that records what the sandbox asked (a stand-in for the worker's)."""

    project_id = 1

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def set_external_link(self, relation: str, refs: Any, **options: Any) -> list[dict]:
        self.calls.append(("set_external_link", (relation, refs)))
        return [{"id": 7, "relation": relation, "model": None, "system1": "github",
                 "ref1": "1", "system2": "trello", "ref2": "ab", "sync_date": None}]

    def search(self, relation: str, refs: Any, model: Any = None) -> list[dict]:
        self.calls.append(("search", (relation, refs)))
        raise ValueError("no such relation")


def test_links_are_served_by_the_worker() -> None:
    store = _Store()
    task = ("def handle_cron():\n"
            "    link = set_link('rel', {'github': 1, 'trello': 'ab'})\n"
            "    try:\n"
            "        search_links('other', {'github': [1, 2]})\n"
            "    except ValueError as exc:\n"
            "        return [link.get('trello'), len(link), str(exc)]\n")
    result = run_isolated(connection=None, task_code=task, handler="handle_cron",
                          link_store=store, allowlist=())
    assert result == ["ab", 1, "no such relation"]
    assert store.calls == [("set_external_link", ("rel", {"github": "1", "trello": "ab"})),
                           ("search", ("other", {"github": ["1", "2"]}))]


# -- the plan -------------------------------------------------------------------------------


def test_a_user_who_cannot_read_the_runtime_is_not_switched_to(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    (closed / "lib").mkdir(parents=True)
    closed.chmod(0o700)
    nobody = (65534, 65534)
    assert not confinement._readable_by(str(closed / "lib"), *nobody)
    assert confinement._readable_by("/usr/share", *nobody)
    if os.geteuid() == 0:
        plan = confinement.plan("nobody")
        runtime_readable = all(confinement._readable_by(p, *nobody)
                               for p in (os.path.dirname(os.__file__), confinement.__file__))
        assert (plan.uid == 65534) == runtime_readable
        assert plan.drop_capabilities
        assert runtime_readable or any("cannot read" in w for w in plan.warnings)


def test_a_folder_holding_a_private_path_is_readable_only_around_it(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    (root / "var").mkdir(parents=True)
    (root / "var" / "secret.key").write_text("k")
    (root / "var" / "notes.txt").write_text("n")
    (root / "pkg").mkdir()
    (root / "README").write_text("r")
    around = confinement._around(str(root), [str(root / "var" / "secret.key")])
    assert sorted(around) == sorted(str(p) for p in (root / "pkg", root / "README",
                                                      root / "var" / "notes.txt"))
    plan = confinement.plan(None, [os.path.join(str(ROOT), "var", "secret.key")])
    assert str(ROOT) not in plan.reads
    assert str(ROOT / "tests") in plan.reads and str(ROOT / "worker") in plan.reads


def test_without_landlock_the_plan_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confinement, "landlock_abi", lambda: 0)
    plan = confinement.plan(None)
    assert plan.landlock == 0
    assert any("Landlock is not available" in warning for warning in plan.warnings)


def test_sandboxes_cannot_reach_each_other() -> None:
    _require_landlock()
    with SandboxPool(max_size=2) as pool:
        pool._raw = True
        pool.warm_up(2)
        pids = pool.pids
        assert len(pids) == 2
        find_other = f"import os\nother = [p for p in {pids!r} if p != os.getpid()][0]\n"
        refused(pool, find_other + "os.kill(other, 0)")
        refused(pool, find_other + "result = open(f'/proc/{other}/environ', 'rb').read()")
        refused(pool, find_other + "result = open(f'/proc/{other}/mem', 'rb').read(1)")
