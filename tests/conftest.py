"""Shared fixtures: settings in a temporary home, the own database on SQLite and PostgreSQL,
real Redis, and the Odoo simulator.

A test whose real service is missing is skipped on a developer's machine but fails when ``CI``
is set (:func:`tests.support.require_service`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.settings import Settings
from connector.simulator.testing import simulator_fixture
from connector.store import migrate
from connector.store.db import Database
from tests.support import delete_keys, require_service

PG_ADMIN_URL = os.environ.get("SYNCSTUDIO_TEST_PG_ADMIN",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SYNCSTUDIO_TEST_REDIS", "redis://127.0.0.1:6379/13")
#: The prefix of every Redis key this test session's brokers write: two sessions sharing one
#: Redis database never consume each other's messages, and each deletes only its own keys.
REDIS_NAMESPACE = f"syncstudio-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh data directory."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def settings(home: Path) -> Settings:
    """Settings on the embedded defaults, in a temporary home, with millisecond retries."""
    return Settings.from_env({"SYNCSTUDIO_HOME": str(home)}, retry_delays=(0.05, 0.05, 0.05, 0.05),
                             poll_interval=0.2)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The admin URL of the real PostgreSQL server."""
    from sqlalchemy import create_engine, text

    def check() -> None:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()

    require_service("PostgreSQL", check)
    yield PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A URL of a brand-new PostgreSQL database, dropped after the test."""
    from sqlalchemy import create_engine, text

    name = f"syncstudio_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield pg_server.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A broker URL of the real Redis in this session's namespace, whose keys are deleted
    before and after the test."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    require_service("Redis", client.ping)
    delete_keys(client, REDIS_NAMESPACE)
    yield f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}namespace={REDIS_NAMESPACE}"
    delete_keys(client, REDIS_NAMESPACE)
    client.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, home: Path) -> str:
    """The own database's URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{home / 'syncstudio.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated own database (SQLite and PostgreSQL)."""
    database = Database(db_url)
    migrate.upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(settings: Settings) -> Iterator[Database]:
    """A migrated SQLite own database, for tests where the engine does not matter."""
    database = Database(settings.database_url)
    migrate.upgrade(database)
    yield database
    database.dispose()


#: A running Odoo simulator with demo data shared by the session (admin/admin on
#: ``odoo_sim.database``).
odoo_sim = simulator_fixture(scope="session", name="odoo_sim")
#: A second Odoo, empty, standing for the external Odoo of Odoo2odoo (one per test).
remote_odoo = simulator_fixture(scope="function", name="remote_odoo", database="remote",
                                demo=False)


#: Markers that follow from the fixtures a test uses, so ``-m "not postgres"`` and the like
#: select by the services a test really needs.
SERVICE_MARKERS = {"pg_server": "postgres", "pg_url": "postgres", "redis_url": "redis"}


#: Tests that need the simulator's test controls (its clock, taking it down, its call counts):
#: they cannot run against a real Odoo.
SIMULATOR_FIXTURES = {"sim", "own_sim", "audit_sim"}
#: Files whose tests take about a second or more each, measured with ``--durations=0``: a
#: headless browser, a fresh dashboard app with its own database and users per test, real
#: logins at Odoo's cost, pollers and workers started and waited for.
SLOW_FILES = {
    "tests/dashboard/test_browser.py", "tests/dashboard/test_browser_editing.py",
    "tests/dashboard/test_browser_pages.py", "tests/dashboard/test_editing.py",
    "tests/dashboard/test_pages.py", "tests/dashboard/test_roles.py",
    "tests/dashboard/test_project_files.py", "tests/dashboard/test_jobs_page.py",
    "tests/dashboard/test_role_matrix.py", "tests/dashboard/test_sessions.py",
    "tests/dashboard/test_home.py", "tests/dashboard/test_names_and_logs.py",
    "tests/dashboard/test_connections.py", "tests/jobs/test_requeue.py",
    "tests/detection/test_detection.py", "tests/detection/test_auditlog_path.py",
    "tests/detection/test_isolation.py", "tests/odoo/test_login_cost.py",
    "tests/runtime/test_login_reuse.py", "tests/runtime/test_sandbox_setup.py",
    "tests/test_poller.py", "tests/test_seed_examples.py", "tests/client/test_reconnect.py",
    "tests/test_executor.py", "tests/runtime/test_task_links.py", "tests/core/test_projects.py",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the real services its fixtures need, and the slow files' tests slow."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & SIMULATOR_FIXTURES:
            item.add_marker("simulator_only")
        if item.nodeid.split("::", 1)[0] in SLOW_FILES:
            item.add_marker("slow")
        if "db_url" in names and "[postgresql]" in item.nodeid:
            item.add_marker("postgres")
        for fixture, marker in SERVICE_MARKERS.items():
            if fixture in names:
                item.add_marker(marker)
