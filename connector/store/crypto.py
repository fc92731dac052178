"""Encryption of secrets at rest (Fernet: AES-128-CBC with an HMAC, from ``cryptography``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from connector.errors import ConfigurationError, SecretKeyError
from connector.settings import Settings

KEY_FILE = "secret.key"


def _parse_keys(text: str) -> list[bytes]:
    keys = [part.strip().encode() for part in text.replace("\n", ",").split(",") if part.strip()]
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigurationError(
                "SYNCSTUDIO_SECRET_KEY is not a valid key: each comma-separated key must be 32 "
                "url-safe base64-encoded bytes (make one with `python -c 'from "
                "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
            ) from None
    if not keys:
        raise ConfigurationError("SYNCSTUDIO_SECRET_KEY holds no key")
    return keys


def load_keys(settings: Settings) -> list[bytes]:
    """The keys of this installation, the one that encrypts first.

    ``SYNCSTUDIO_SECRET_KEY`` may hold several comma-separated keys while a key is rotated:
    every key decrypts, the first encrypts. Without it, the data directory's key file is used,
    created on first use.
    """
    if settings.secret_key:
        return _parse_keys(settings.secret_key.reveal())
    path = Path(settings.home) / KEY_FILE
    if path.exists():
        return _parse_keys(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # Created with 0600 from the start so the key is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return [key]


def load_or_create_key(settings: Settings) -> bytes:
    """The key that encrypts (the first of :func:`load_keys`)."""
    return load_keys(settings)[0]


class SecretBox:
    """Encrypts secret values with the first key and decrypts them with any."""

    def __init__(self, key: bytes | Sequence[bytes]) -> None:
        keys = [key] if isinstance(key, bytes) else list(key)
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """A box with the keys of these settings (creating the key file if needed)."""
        return cls(load_keys(settings))

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the first key (it may have been made with any)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "a stored secret cannot be decrypted with any configured key: keep the old key "
                "in SYNCSTUDIO_SECRET_KEY (after the new one) until `syncstudio secret rotate` "
                "has run"
            ) from None

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
