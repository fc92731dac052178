"""The reference deployment, built and run for real: the Docker image of ``docker/`` runs the
migration, a web container, two worker replicas and a poller against the machine's PostgreSQL
and Redis, and one DB trigger and one webhook go end to end through them.

Containers use host networking only, so everything they reach is on loopback. Without a Docker
engine (or debootstrap, which builds the base image where no registry is reachable) the test is
skipped on a laptop and fails under CI, like every test of a real service.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.request
import uuid
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from connector.cli import main
from connector.simulator.testing import running_simulator
from connector.store.models import Trigger
from tests.support import require_service, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
BASE_TAG = "syncstudio-base:bookworm"
IMAGE = "syncstudio:ci"

PROJECT = """
name: Containers {marker}
odoo: {{url: "{url}", database: {database}, login: admin, password: "${{ODOO_PASSWORD}}",
       protocol: jsonrpc}}
params: {{TAG: "docker-{marker}"}}
tasks:
  - name: Tag partners
    code: |
      def handle_db(records):
          records.write({{"ref": params.TAG}})
    triggers:
      db:
        - {{trigger_name: ON_CREATED, model: res.partner, condition: create,
           domain: "[('name', 'like', '{marker}')]"}}
  - name: Echo
    code: |
      def handle_webhook(httprequest):
          return {{"echo": httprequest.get_json()["ping"], "tag": params.TAG}}
    triggers:
      webhook: [{{trigger_name: ECHO, type: json}}]
"""


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          check=False)


def _engine() -> None:
    if shutil.which("docker") is None or shutil.which("dockerd") is None:
        raise RuntimeError("docker.io is not installed (apt-get install docker.io)")
    started = _run("bash", "docker/engine.sh", timeout=60)
    if started.returncode:
        raise RuntimeError(started.stderr.strip() or "dockerd did not start")


@pytest.fixture(scope="module")
def image() -> str:
    """The image built from ``docker/Dockerfile`` on a locally made Debian base."""
    require_service("Docker engine", _engine)
    require_service("debootstrap", lambda: shutil.which("debootstrap") or _missing("debootstrap"))
    base = _run("bash", "docker/base-image.sh", BASE_TAG, timeout=900)
    assert base.returncode == 0, base.stderr
    built = _run("docker", "build", "--network", "host", "--build-arg", f"BASE={BASE_TAG}",
                 "-f", "docker/Dockerfile", "-t", IMAGE, ".", timeout=900)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return IMAGE


def _missing(what: str) -> None:
    raise RuntimeError(f"{what} is not installed (apt-get install {what})")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def containers() -> Iterator[list[str]]:
    """Names of the containers a test started; removed afterwards, logs printed on failure."""
    names: list[str] = []
    yield names
    for name in names:
        logs = _run("docker", "logs", "--tail", "40", name, timeout=30)
        print(f"--- {name}\n{logs.stdout}{logs.stderr}")
        _run("docker", "rm", "-f", name, timeout=60)


def test_image_runs_as_an_unprivileged_user_and_is_small(image: str) -> None:
    user = _run("docker", "run", "--rm", "--network", "host", image, "id", "-u")
    assert user.returncode == 0 and user.stdout.strip() != "0"
    size = int(_run("docker", "image", "inspect", "-f", "{{.Size}}", image).stdout)
    print(f"image size: {size / 1e6:.0f} MB")
    assert size < 400e6
    health = _run("docker", "image", "inspect", "-f", "{{json .Config.Healthcheck}}", image)
    assert "healthcheck.py" in health.stdout


def test_compose_file_is_valid() -> None:
    if shutil.which("docker-compose") is None:
        require_service("docker-compose", lambda: _missing("docker-compose"))
    env = {**os.environ, "SYNCSTUDIO_SECRET_KEY": Fernet.generate_key().decode()}
    checked = subprocess.run(["docker-compose", "-f", "docker/compose.yml", "config"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stderr
    assert "service_completed_successfully" in checked.stdout
    assert checked.stdout.count("service_healthy") >= 6
    assert "SYNCSTUDIO_BASE_URL" in checked.stdout


@pytest.mark.timeout(900)
def test_web_workers_and_poller_containers_run_a_db_trigger_and_a_webhook(
        image: str, pg_url: str, redis_url: str, containers: list[str], tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    port = _free_port()
    run_id = uuid.uuid4().hex[:8]
    env = {"SYNCSTUDIO_DATABASE_URL": pg_url, "SYNCSTUDIO_BROKER_URL": redis_url,
           "SYNCSTUDIO_SECRET_KEY": key, "SYNCSTUDIO_WEB_PORT": str(port),
           "SYNCSTUDIO_BASE_URL": f"http://127.0.0.1:{port}", "SYNCSTUDIO_POLL_INTERVAL": "0.5",
           "SYNCSTUDIO_WEB_PROCESSES": "1"}
    flags = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]

    def container(role: str, *command: str, detach: bool = True,
                  extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        name = f"syncstudio-ci-{run_id}-{role}"
        containers.append(name)
        mode = ("-d",) if detach else ()
        return _run("docker", "run", *mode, "--name", name, "--network", "host", *flags,
                    *extra, image, *command, timeout=300)

    migrated = container("migrate", "syncstudio", "db", "upgrade", detach=False)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    with running_simulator() as sim:
        marker = uuid.uuid4().hex[:8]
        path = tmp_path / "project.yml"
        path.write_text(PROJECT.format(marker=marker, url=sim.url, database=sim.database))
        imported = CliRunner().invoke(
            main, ["project", "import", str(path)],
            env={"SYNCSTUDIO_DATABASE_URL": pg_url, "SYNCSTUDIO_SECRET_KEY": key,
                 "SYNCSTUDIO_HOME": str(tmp_path / "home"), "ODOO_PASSWORD": "admin"})
        assert imported.exit_code == 0, imported.output

        quick_health = ("--health-interval", "1s", "--health-start-period", "1s")
        assert container("web", "syncstudio", "web", extra=quick_health).returncode == 0
        for replica in (1, 2):
            started = container(f"worker{replica}", "syncstudio", "worker",
                                extra=("-e", "SYNCSTUDIO_HEALTHCHECK=db", *quick_health))
            assert started.returncode == 0, started.stderr
        assert container("poller", "syncstudio", "poller",
                         extra=("-e", "SYNCSTUDIO_HEALTHCHECK=db")).returncode == 0

        def healthy(name: str) -> bool:
            # Checked every second from the first second: on a busy machine a process still
            # starting fails three checks and is "unhealthy" until it answers. One that
            # stopped is not coming back.
            state = _run("docker", "inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}",
                         name, timeout=30)
            status, _, health = state.stdout.strip().partition(" ")
            assert status == "running", _run("docker", "logs", name).stderr[-2000:]
            return health == "healthy"

        wait_until(lambda: healthy(containers[1]), 120, "the web container to be healthy",
                   interval=0.5)
        wait_until(lambda: healthy(containers[2]), 120, "a worker container to be healthy",
                   interval=0.5)

        # A DB trigger: the poller container sees the partner, a worker container tags it.
        rpc = xmlrpc.client.ServerProxy(f"{sim.url}/xmlrpc/2/object", allow_none=True)
        [partner] = rpc.execute_kw(sim.database, 2, "admin", "res.partner", "create",
                                   [[{"name": f"Dock {marker}"}]])

        def ref() -> str | bool:
            [row] = rpc.execute_kw(sim.database, 2, "admin", "res.partner", "read",
                                   [[partner], ["ref"]])
            return bool(row["ref"] == f"docker-{marker}")

        wait_until(ref, 120, "the partner to be tagged through the containers", interval=0.3)

        # A webhook: the web container runs the handler and answers with its return value.
        engine = create_engine(pg_url)
        with Session(engine) as session:
            token = session.scalars(select(Trigger.token)
                                    .where(Trigger.trigger_name == "ECHO")).one()
            workers = session.execute(text("SELECT count(*) FROM job WHERE state = 'done'"))
            assert workers.scalar_one() >= 1
        engine.dispose()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/{token}",
                                         data=json.dumps({"ping": marker}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
            assert json.loads(answer.read()) == {"echo": marker, "tag": f"docker-{marker}"}
