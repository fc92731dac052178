"""Settings, read once from ``SYNCSTUDIO_*`` environment variables.

Every setting has a typed cast and an embedded default, so ``syncstudio run`` works on a bare
machine: a SQLite file and the secret key live under ``SYNCSTUDIO_HOME`` (``./var``), and with no
broker configured the workers run inside the same process.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from connector.errors import ConfigurationError

PREFIX = "SYNCSTUDIO_"
T = TypeVar("T")


class Secret:
    """A string that does not show itself in ``repr``/``str``, so it cannot leak into logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def reveal(self) -> str:
        """Return the real value; call it only where the value is used, never to print it."""
        return self._value


def cast_bool(value: str) -> bool:
    """Read ``1/0``, ``true/false``, ``yes/no``, ``on/off``."""
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def cast_positive_float(value: str) -> float:
    """A float above zero."""
    number = float(value)
    if number <= 0:
        raise ValueError("must be greater than 0")
    return number


def cast_positive_int(value: str) -> int:
    """An int above zero."""
    number = int(value)
    if number <= 0:
        raise ValueError("must be greater than 0")
    return number


def cast_non_negative_int(value: str) -> int:
    """An int of 0 or more."""
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


def cast_delays(value: str) -> tuple[float, ...]:
    """A comma-separated list of delays in seconds, e.g. ``300,900,3600,10800``."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    delays = tuple(float(p) for p in parts)
    if any(d < 0 for d in delays):
        raise ValueError("delays must be 0 or more seconds")
    return delays


def cast_names(value: str) -> tuple[str, ...]:
    """A comma-separated list of names (module names for the import allow-list)."""
    return tuple(p.strip() for p in value.split(",") if p.strip())


def _read(env: Mapping[str, str], name: str, cast: Callable[[str], T], default: T) -> T:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return cast(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"{PREFIX}{name}={raw!r} is not valid: {exc}. Fix or unset the environment variable."
        ) from None


@dataclasses.dataclass(frozen=True)
class Settings:
    """All settings of one Sync Studio process. Build with :meth:`from_env`."""

    home: Path
    database_url: str
    broker_url: str
    secret_key: Secret
    poll_interval: float = 1.0
    lookback: float = 600.0
    deletion_interval: float = 60.0
    batch_size: int = 200
    retry_delays: tuple[float, ...] = (300.0, 900.0, 3600.0, 10800.0)
    requeue_after: float = 300.0
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    base_url: str = ""
    #: True when SYNCSTUDIO_BASE_URL (or an override) names the public URL explicitly.
    base_url_configured: bool = False
    webhook_max_body: int = 1024 * 1024
    import_allowlist: tuple[str, ...] = ("requests", "xmlrpc.client", "hashlib", "hmac", "base64",
                                         "re", "math")
    isolation: bool = True
    job_cpu_seconds: float = 60.0
    job_memory_mb: int = 256
    job_wall_seconds: float = 300.0
    job_max_subjobs: int = 1_000
    job_tree_max_jobs: int = 1_000
    job_max_depth: int = 10
    job_max_log_bytes: int = 1_000_000
    log_line_max_chars: int = 16_000
    job_max_result_bytes: int = 1_000_000
    job_max_args_bytes: int = 100_000
    dispatch_project_inflight: int = 100
    sandbox_max_jobs: int = 500
    web_sandboxes: int = 2
    sandbox_max_rss_growth_mb: float = 64.0
    sandbox_user: str = "nobody"
    odoo_timeout: float = 30.0
    worker_threads: int = 4
    retention_days: int = 30
    log_level: str = "INFO"
    webhook_base_url: str = ""
    cookie_secure: bool | None = None
    login_rate_limit: str = "20/minute"
    login_max_failures: int = 5
    login_lockout_seconds: float = 900.0
    webhook_threads: int = 8
    webhook_queue: int = 32
    webhook_timeout: float = 30.0
    metrics_token: Secret = dataclasses.field(default_factory=lambda: Secret(""))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``); keywords override them."""
        env = os.environ if environ is None else environ
        home = Path(_read(env, "HOME", str, "var")).expanduser().resolve()
        default_db = f"sqlite:///{home / 'syncstudio.sqlite3'}"
        values: dict[str, Any] = {
            "home": home,
            "database_url": _read(env, "DATABASE_URL", str, default_db),
            "broker_url": _read(env, "BROKER_URL", str, ""),
            "secret_key": Secret(_read(env, "SECRET_KEY", str, "")),
            "poll_interval": _read(env, "POLL_INTERVAL", cast_positive_float, 1.0),
            "lookback": _read(env, "LOOKBACK", cast_positive_float, 600.0),
            "deletion_interval": _read(env, "DELETION_INTERVAL", cast_positive_float, 60.0),
            "batch_size": _read(env, "BATCH_SIZE", cast_positive_int, 200),
            "retry_delays": _read(env, "RETRY_DELAYS", cast_delays,
                                  cls.__dataclass_fields__["retry_delays"].default),
            "requeue_after": _read(env, "REQUEUE_AFTER", cast_positive_float, 300.0),
            "web_host": _read(env, "WEB_HOST", str, "127.0.0.1"),
            "web_port": _read(env, "WEB_PORT", cast_non_negative_int, 8000),
            "base_url": _read(env, "BASE_URL", str, ""),
            "webhook_max_body": _read(env, "WEBHOOK_MAX_BODY", cast_positive_int, 1024 * 1024),
            "import_allowlist": _read(env, "IMPORT_ALLOWLIST", cast_names,
                                      cls.__dataclass_fields__["import_allowlist"].default),
            "isolation": _read(env, "ISOLATION", cast_bool, True),
            "job_cpu_seconds": _read(env, "JOB_CPU_SECONDS", cast_positive_float, 60.0),
            "job_memory_mb": _read(env, "JOB_MEMORY_MB", cast_positive_int, 256),
            "job_wall_seconds": _read(env, "JOB_WALL_SECONDS", cast_positive_float, 300.0),
            "web_sandboxes": _read(env, "WEB_SANDBOXES", cast_positive_int, 2),
            "sandbox_max_jobs": _read(env, "SANDBOX_MAX_JOBS", cast_positive_int, 500),
            "sandbox_max_rss_growth_mb": _read(env, "SANDBOX_MAX_RSS_GROWTH_MB",
                                               cast_positive_float, 64.0),
            "sandbox_user": _read(env, "SANDBOX_USER", str, "nobody"),
            "job_max_subjobs": _read(env, "JOB_MAX_SUBJOBS", cast_positive_int, 1_000),
            "job_tree_max_jobs": _read(env, "JOB_TREE_MAX_JOBS", cast_positive_int, 1_000),
            "job_max_depth": _read(env, "JOB_MAX_DEPTH", cast_positive_int, 10),
            "job_max_log_bytes": _read(env, "JOB_MAX_LOG_BYTES", cast_positive_int, 1_000_000),
            "log_line_max_chars": _read(env, "LOG_LINE_MAX_CHARS", cast_positive_int, 16_000),
            "job_max_result_bytes": _read(env, "JOB_MAX_RESULT_BYTES", cast_positive_int,
                                          1_000_000),
            "job_max_args_bytes": _read(env, "JOB_MAX_ARGS_BYTES", cast_positive_int, 100_000),
            "dispatch_project_inflight": _read(env, "DISPATCH_PROJECT_INFLIGHT",
                                               cast_positive_int, 100),
            "odoo_timeout": _read(env, "ODOO_TIMEOUT", cast_positive_float, 30.0),
            "worker_threads": _read(env, "WORKER_THREADS", cast_positive_int, 4),
            "retention_days": _read(env, "RETENTION_DAYS", cast_positive_int, 30),
            "log_level": _read(env, "LOG_LEVEL", str, "INFO").upper(),
            "webhook_base_url": _read(env, "WEBHOOK_BASE_URL", str, "").rstrip("/"),
            "cookie_secure": _read(env, "COOKIE_SECURE", cast_bool, None),
            "login_rate_limit": _read(env, "LOGIN_RATE_LIMIT", str, "20/minute"),
            "login_max_failures": _read(env, "LOGIN_MAX_FAILURES", cast_positive_int, 5),
            "login_lockout_seconds": _read(env, "LOGIN_LOCKOUT_SECONDS", cast_positive_float,
                                           900.0),
            "webhook_threads": _read(env, "WEBHOOK_THREADS", cast_positive_int, 8),
            "webhook_queue": _read(env, "WEBHOOK_QUEUE", cast_non_negative_int, 32),
            "webhook_timeout": _read(env, "WEBHOOK_TIMEOUT", cast_positive_float, 30.0),
            "metrics_token": Secret(_read(env, "METRICS_TOKEN", str, "")),
        }
        for key, value in overrides.items():
            if key not in values:
                raise ConfigurationError(f"unknown setting {key!r}")
            if key in ("secret_key", "metrics_token") and isinstance(value, str):
                value = Secret(value)
            values[key] = value
        values["base_url_configured"] = bool(values["base_url"])
        if not values["base_url"]:
            values["base_url"] = f"http://{values['web_host']}:{values['web_port']}"
        if not str(values["database_url"]).startswith(("sqlite", "postgresql")):
            raise ConfigurationError(
                f"{PREFIX}DATABASE_URL must start with sqlite:// or postgresql://, "
                f"got {values['database_url'].split(':', 1)[0]!r}"
            )
        if values["broker_url"] and not str(values["broker_url"]).startswith(
            ("redis://", "rediss://", "amqp://", "amqps://")
        ):
            raise ConfigurationError(
                f"{PREFIX}BROKER_URL must start with redis:// or amqp:// (or be empty for "
                "in-process workers)"
            )
        return cls(**values)

    @property
    def in_process(self) -> bool:
        """True when no broker is configured and workers run inside this process."""
        return not self.broker_url

    @property
    def secure_cookies(self) -> bool:
        """``Secure`` session cookies: as set, else when the dashboard's URL is https."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.base_url.startswith("https://")

    @property
    def started_after(self) -> float:
        """Seconds after which a started job counts as abandoned by a dead worker: past the
        wall-clock limit (and a minute's grace), a run cannot still be going."""
        return max(self.requeue_after, self.job_wall_seconds + 60)

    def child_environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (e.g. ``os.environ``) with the variables that make another ``syncstudio``
        process use this home, own database, broker and secret key."""
        return {**(base or {}), f"{PREFIX}HOME": str(self.home),
                f"{PREFIX}DATABASE_URL": self.database_url,
                f"{PREFIX}BROKER_URL": self.broker_url,
                f"{PREFIX}SECRET_KEY": self.secret_key.reveal()}
