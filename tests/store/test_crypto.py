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
