"""Secrets are encrypted at rest with a key from settings or the data directory."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet

from connector.errors import ConfigurationError, SecretKeyError
from connector.settings import Settings
from connector.store.crypto import SecretBox


def test_key_file_created_once_private_and_reused(settings):
    box = SecretBox.from_settings(settings)
    token = box.encrypt("s3cret")
    key_file = settings.home / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "s3cret" not in token
    assert SecretBox.from_settings(settings).decrypt(token) == "s3cret"


def test_configured_key_wins_and_wrong_key_is_a_clear_error(home):
    key = Fernet.generate_key().decode()
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home), "SYNCSTUDIO_SECRET_KEY": key})
    token = SecretBox.from_settings(settings).encrypt("value")
    assert not (home / "secret.key").exists()
    other = SecretBox(Fernet.generate_key())
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        other.decrypt(token)


def test_invalid_configured_key_is_refused(home):
    settings = Settings.from_env({"SYNCSTUDIO_HOME": str(home), "SYNCSTUDIO_SECRET_KEY": "short"})
    with pytest.raises(ConfigurationError, match="not a valid key"):
        SecretBox.from_settings(settings)
    assert "short" not in repr(settings)


def test_key_rotation_re_encrypts_everything_with_the_new_key(tmp_path):
    """Old key → "new,old" → `syncstudio secret rotate` → "new" alone decrypts every value."""
    from click.testing import CliRunner
    from sqlalchemy import select

    from connector.cli import main
    from connector.store.db import Database
    from connector.store.models import OdooConnection, Project, ProjectSecret

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    env = {"SYNCSTUDIO_HOME": str(tmp_path), "SYNCSTUDIO_SECRET_KEY": old}
    (tmp_path / "p.yml").write_text(
        'name: Rot\nodoo: {url: "http://127.0.0.1:9", database: x, login: a, password: pw-one,'
        ' protocol: jsonrpc}\nsecrets: [TOKEN]\n')
    runner = CliRunner()
    assert runner.invoke(main, ["project", "import", "--no-check", str(tmp_path / "p.yml")],
                         env=env).exit_code == 0
    assert runner.invoke(main, ["secret", "set", "Rot", "TOKEN"], env=env,
                         input="tok-two").exit_code == 0

    both = {**env, "SYNCSTUDIO_SECRET_KEY": f"{new},{old}"}
    rotated = runner.invoke(main, ["secret", "rotate"], env=both)
    assert rotated.exit_code == 0, rotated.output
    assert "re-encrypted 2 value(s)" in rotated.output

    box = SecretBox(new.encode())
    with Database(f"sqlite:///{tmp_path / 'syncstudio.sqlite3'}").session() as session:
        assert session.scalar(select(Project.name)) == "Rot"
        secret = session.scalars(select(ProjectSecret)).one()
        connection = session.scalars(select(OdooConnection)).one()
        assert box.decrypt(secret.value_enc) == "tok-two"
        assert box.decrypt(connection.password_enc) == "pw-one"
        with pytest.raises(SecretKeyError):
            SecretBox(old.encode()).decrypt(secret.value_enc)
    # Without the old key, a value it alone encrypted is a clear error, never a crash.
    with pytest.raises(SecretKeyError, match="keep the old key"):
        box.rotate(SecretBox(old.encode()).encrypt("x"))
