"""Settings: typed values from SYNCSTUDIO_* variables, clear errors, secrets hidden."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from connector.errors import ConfigurationError
from connector.settings import Secret, Settings


def test_embedded_defaults(tmp_path):
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'syncstudio.sqlite3'}"
    assert settings.in_process
    assert settings.poll_interval == 1.0
    assert settings.retry_delays == (300.0, 900.0, 3600.0, 10800.0)
    assert settings.base_url == "http://127.0.0.1:8000"


def test_typed_values_are_read():
    settings = Settings.from_env({
        "SYNCSTUDIO_POLL_INTERVAL": "0.5", "SYNCSTUDIO_BATCH_SIZE": "50",
        "SYNCSTUDIO_RETRY_DELAYS": "0.1, 0.2", "SYNCSTUDIO_BROKER_URL": "redis://h:6379/0",
        "SYNCSTUDIO_IMPORT_ALLOWLIST": "requests,re",
    })
    assert settings.poll_interval == 0.5
    assert settings.batch_size == 50
    assert settings.retry_delays == (0.1, 0.2)
    assert not settings.in_process
    assert settings.import_allowlist == ("requests", "re")


@pytest.mark.parametrize("name,value,fragment", [
    ("POLL_INTERVAL", "fast", "SYNCSTUDIO_POLL_INTERVAL='fast' is not valid"),
    ("POLL_INTERVAL", "-1", "must be greater than 0"),
    ("BATCH_SIZE", "1.5", "SYNCSTUDIO_BATCH_SIZE"),
    ("DATABASE_URL", "mysql://x", "must start with sqlite:// or postgresql://"),
    ("BROKER_URL", "kafka://x", "must start with redis:// or amqp://"),
])
def test_bad_values_give_a_clear_error(name, value, fragment):
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({f"SYNCSTUDIO_{name}": value})
    assert fragment in str(info.value)


def test_secret_never_shows_itself():
    settings = Settings.from_env({"SYNCSTUDIO_SECRET_KEY": "hunter2"})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.secret_key)
    assert settings.secret_key.reveal() == "hunter2"
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


def test_child_environ_carries_the_connection_settings_to_another_process(tmp_path):
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(tmp_path)},
                                 database_url="postgresql+psycopg://u@h/db",
                                 broker_url="redis://h:6379/3", secret_key=key)
    environ = settings.child_environ({"PATH": "/bin", "SYNCSTUDIO_HOME": "/elsewhere"})
    assert environ["PATH"] == "/bin"
    again = Settings.from_env(environ)
    assert (again.home, again.database_url, again.broker_url, again.secret_key.reveal()) == (
        tmp_path, "postgresql+psycopg://u@h/db", "redis://h:6379/3", key)


def test_a_bad_value_names_the_variable_what_it_takes_and_the_default():
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"SYNCSTUDIO_WEBHOOK_QUEUE": "-3"})
    assert str(info.value) == (
        "SYNCSTUDIO_WEBHOOK_QUEUE='-3' is not valid: must be 0 or more. Set it to a whole "
        "number, 0 or more (default 32) or unset the environment variable.")


def test_every_setting_is_declared_once_with_its_variable_cast_and_sentence():
    declared = list(Settings.fields())
    assert len({item.env for item in declared}) == len(declared) > 40
    for item in declared:
        assert item.env == "SYNCSTUDIO_" + item.name.upper()
        assert item.doc and getattr(item.cast, "expects", None), item.name
        # The default is what an unset variable gives (home and database URL are resolved).
        if item.name not in ("home", "database_url", "base_url"):
            assert getattr(Settings.from_env({}), item.name) == item.default, item.name
    assert Settings.default("retry_delays") == (300.0, 900.0, 3600.0, 10800.0)
    with pytest.raises(KeyError):
        Settings.default("base_url_configured")  # derived, not read from a variable


def test_defaults_elsewhere_are_the_declared_ones():
    from worker.retries import DEFAULT_DELAYS
    from worker.runtime.isolation import Limits
    from worker.runtime.policy import default_allowlist
    from worker.runtime.pool import SandboxPool

    defaults = Settings.from_env({})
    assert defaults.retry_delays == DEFAULT_DELAYS
    assert Limits() == Limits.from_settings(defaults)
    assert default_allowlist() == defaults.import_allowlist
    pool = SandboxPool()
    assert (pool.max_size, pool.max_jobs, pool.max_rss_growth) == (
        defaults.worker_threads, defaults.sandbox_max_jobs,
        int(defaults.sandbox_max_rss_growth_mb * 1024 * 1024))


def test_the_settings_read_only_the_mapping_they_are_given(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNCSTUDIO_POLL_INTERVAL", "not a number")
    monkeypatch.setenv("SYNCSTUDIO_BATCH_SIZE", "7")
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(tmp_path)})
    assert (settings.poll_interval, settings.batch_size) == (1.0, 200)


# ------------------------------------------------------------------ nothing else reads it
ROOT = Path(__file__).resolve().parents[2]
# Modules below the command line that may touch the process environment, and why: none of
# them reads a setting of Sync Studio.
ENVIRONMENT_USERS = {
    # The sandbox's template process empties its own environment before anything is imported,
    # and keeps the certificate folders' variables readable in the sandboxes.
    "worker/runtime/confinement.py",
    # Task code's HTTP calls take requests' own CA-bundle variables, as requests would.
    "worker/runtime/facades/web.py",
    # prometheus_client's multiprocess folder, which the command line sets for the web
    # processes it forks and the library itself reads.
    "webui/metrics.py", "webui/server.py",
}


def _environment_uses(path: Path) -> list[int]:
    """Lines of ``path`` that name ``os.environ``, ``os.environb``, ``os.getenv`` or
    ``os.putenv``, or import them from ``os``."""
    names = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    attributes = [node.lineno for node in ast.walk(tree)
                  if isinstance(node, ast.Attribute) and node.attr in names
                  and isinstance(node.value, ast.Name) and node.value.id == "os"]
    imports = [node.lineno for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module == "os"
               and any(alias.name in names for alias in node.names)]
    return sorted(attributes + imports)


def test_no_module_below_the_command_line_reads_the_environment():
    found: dict[str, list[int]] = {}
    for package in ("connector", "worker", "webui"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith("connector/cli/") or relative in ENVIRONMENT_USERS:
                continue
            if lines := _environment_uses(path):
                found[relative] = lines
    assert not found, ("read the environment below the command line (take Settings or a "
                       f"mapping from the caller instead): {found}")
    stale = sorted(name for name in ENVIRONMENT_USERS if not _environment_uses(ROOT / name))
    assert not stale, f"no longer use the environment, drop them from the list: {stale}"
    # The check sees what it looks for: the command line itself reads it.
    assert _environment_uses(ROOT / "connector" / "cli" / "base.py")
