"""Encryption of secrets at rest (Fernet: AES-128-CBC with an HMAC, from ``cryptography``)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from connector.errors import ConfigurationError, SecretKeyError
from connector.settings import Settings

KEY_FILE = "secret.key"


def load_or_create_key(settings: Settings) -> bytes:
    """The configured key, else the key file under the data directory, created on first use."""
    if settings.secret_key:
        key = settings.secret_key.reveal().encode()
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigurationError(
                "SYNCSTUDIO_SECRET_KEY is not a valid key: it must be 32 url-safe base64-encoded "
                "bytes (make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from None
        return key
    path = Path(settings.home) / KEY_FILE
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # Created with 0600 from the start so the key is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


class SecretBox:
    """Encrypts and decrypts secret values with one key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """A box with the key of these settings (creating the key file if needed)."""
        return cls(load_or_create_key(settings))

    def encrypt(self, value: str) -> str:
        """Encrypt a secret value for storage."""
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Decrypt a stored value; a wrong key gives a clear error, never the ciphertext."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "a stored secret cannot be decrypted with the configured key: was "
                "SYNCSTUDIO_SECRET_KEY or the data directory's secret.key changed?"
            ) from None

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"
