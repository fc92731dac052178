"""Settings: typed values from SYNCSTUDIO_* variables, clear errors, secrets hidden."""

from __future__ import annotations

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
