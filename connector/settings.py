"""Settings, read once from ``SYNCSTUDIO_*`` environment variables.

Each setting is declared once, below, as a field of :class:`Settings`: its default, the cast that
reads its variable and the sentence that documents it (the configuration guide's table is checked
against these declarations). Every default is embedded, so ``syncstudio run`` works on a bare
machine: a SQLite file and the secret key live under ``SYNCSTUDIO_HOME`` (``./var``), and with no
broker configured the workers run inside the same process.

Only the command line reads the process environment, once, and hands the resulting
:class:`Settings` to what it starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from connector.errors import ConfigurationError

PREFIX = "SYNCSTUDIO_"
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


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


def expects(text: str) -> Callable[[F], F]:
    """Name, for error messages, what a cast accepts (``a number greater than 0``)."""

    def mark(cast: F) -> F:
        cast.expects = text  # type: ignore[attr-defined]
        return cast

    return mark


@expects("1/0, true/false, yes/no or on/off")
def cast_bool(value: str) -> bool:
    """Read ``1/0``, ``true/false``, ``yes/no``, ``on/off``."""
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


@expects("a number greater than 0")
def cast_positive_float(value: str) -> float:
    """A float above zero."""
    number = float(value)
    if number <= 0:
        raise ValueError("must be greater than 0")
    return number


@expects("a whole number greater than 0")
def cast_positive_int(value: str) -> int:
    """An int above zero."""
    number = int(value)
    if number <= 0:
        raise ValueError("must be greater than 0")
    return number


@expects("a whole number, 0 or more")
def cast_non_negative_int(value: str) -> int:
    """An int of 0 or more."""
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


@expects("comma-separated seconds, e.g. 300,900,3600,10800")
def cast_delays(value: str) -> tuple[float, ...]:
    """A comma-separated list of delays in seconds, e.g. ``300,900,3600,10800``."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    delays = tuple(float(p) for p in parts)
    if any(d < 0 for d in delays):
        raise ValueError("delays must be 0 or more seconds")
    return delays


@expects("comma-separated module names")
def cast_names(value: str) -> tuple[str, ...]:
    """A comma-separated list of names (module names for the import allow-list)."""
    return tuple(p.strip() for p in value.split(",") if p.strip())


@expects("a directory")
def cast_path(value: str) -> Path:
    """A path, ``~`` expanded and made absolute."""
    return Path(value).expanduser().resolve()


@expects("a log level")
def cast_level(value: str) -> str:
    """A log level name, upper case (``debug`` reads as ``DEBUG``)."""
    return value.strip().upper()


@expects("a URL")
def cast_origin(value: str) -> str:
    """A URL without its trailing slash."""
    return value.rstrip("/")


@expects("text")
def cast_text(value: str) -> str:
    """Any text, as it is."""
    return value


@expects("text")
def cast_secret(value: str) -> Secret:
    """Text kept out of ``repr`` (a key, a token)."""
    return Secret(value)


@dataclasses.dataclass(frozen=True)
class Setting:
    """How one field of :class:`Settings` is read and documented."""

    name: str  #: the field's name
    cast: Callable[[str], Any]
    doc: str  #: the guide's sentence (Markdown)
    shown: str | None  #: the guide's default cell when the value alone would not say it
    default: Any

    @property
    def env(self) -> str:
        """The environment variable, e.g. ``SYNCSTUDIO_POLL_INTERVAL``."""
        return PREFIX + self.name.upper()

    @property
    def shown_default(self) -> str:
        """The default as the guide's table shows it."""
        if self.shown is not None:
            return self.shown
        return f"`{format_value(self.default)}`"

    def read(self, environ: Mapping[str, str]) -> Any:
        """This setting's value in ``environ`` (its default when unset or empty)."""
        raw = environ.get(self.env)
        if raw is None or raw == "":
            return self.default
        try:
            return self.cast(raw)
        except (ValueError, TypeError) as exc:
            what = getattr(self.cast, "expects", "a valid value")
            raise ConfigurationError(
                f"{self.env}={raw!r} is not valid: {exc}. Set it to {what} (default "
                f"{format_value(self.default) or 'empty'}) or unset the environment "
                "variable.") from None


def format_value(value: Any) -> str:
    """A value as one would write it in the environment (``300,900``, ``1``, ``0.5``)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(format_value(item) for item in value)
    if isinstance(value, Secret) or value is None:
        return ""
    return str(value)


def setting(default: Any, cast: Callable[[str], Any], doc: str, *,
            shown: str | None = None) -> Any:
    """Declare a field of :class:`Settings` read from ``SYNCSTUDIO_<FIELD NAME>``."""
    return dataclasses.field(default=default,
                             metadata={"setting": (cast, doc, shown)})


def derived(default: Any) -> Any:
    """Declare a field computed from other settings, not read from a variable."""
    return dataclasses.field(default=default, metadata={"derived": True})


@dataclasses.dataclass(frozen=True)
class Settings:
    """All settings of one Sync Studio process. Build with :meth:`from_env`."""

    home: Path = setting(
        Path("var"), cast_path,
        "data directory: the SQLite file and the generated `secret.key`; must be writable",
        shown="`./var`")
    database_url: str = setting(
        "", cast_text,
        "the own database; `postgresql+psycopg://user:password@host/db` in production",
        shown="`sqlite:///$SYNCSTUDIO_HOME/syncstudio.sqlite3`")
    broker_url: str = setting(
        "", cast_text,
        "`redis://host:6379/0` (optional `?namespace=`, `socket_timeout=`, "
        "`socket_connect_timeout=`) or `amqp://user:password@host:5672/`",
        shown="empty: in-process workers")
    secret_key: Secret = setting(
        Secret(""), cast_secret,
        "Fernet key(s) encrypting secrets and Odoo passwords; comma-separated, the first "
        "encrypts, all decrypt (see [rotation](scale.md#rotating-the-key))",
        shown="generated into `$SYNCSTUDIO_HOME/secret.key`")
    poll_interval: float = setting(
        1.0, cast_positive_float,
        "seconds between poll cycles (also how often cron triggers are checked)")
    lookback: float = setting(
        600.0, cast_positive_float, "seconds of look-back on `write_date` for late commits")
    deletion_interval: float = setting(
        60.0, cast_positive_float,
        "seconds between id-set comparisons that find deletions (without auditlog)")
    batch_size: int = setting(
        200, cast_positive_int, "most records handed to one `handle_db(records)`")
    retry_delays: tuple[float, ...] = setting(
        (300.0, 900.0, 3600.0, 10800.0), cast_delays,
        "seconds between tries after `RetryableJobError`; their number is the number of "
        "retries")
    requeue_after: float = setting(
        300.0, cast_positive_float,
        "seconds after which a job whose broker message was lost is sent again")
    web_host: str = setting(
        "127.0.0.1", cast_text,
        "address the web process listens on (`0.0.0.0` for every interface; the Docker image "
        "sets it)")
    web_port: int = setting(8000, cast_non_negative_int, "port the web process listens on")
    web_sandboxes: int = setting(
        2, cast_positive_int,
        "sandbox processes per web process, for webhook and button handlers")
    base_url: str = setting(
        "", cast_text,
        "public URL of webhooks, e.g. `https://sync.example.com` (see [the public base "
        "URL](scale.md#the-public-base-url))",
        shown="the address the web process recorded")
    #: True when SYNCSTUDIO_BASE_URL (or an override) names the public URL explicitly.
    base_url_configured: bool = derived(False)
    webhook_base_url: str = setting(
        "", cast_origin,
        "a separate public origin for webhook URLs, e.g. `https://hooks.example.com`; the "
        "dashboard answers 404 under that host",
        shown="empty: webhooks under the base URL")
    webhook_threads: int = setting(
        8, cast_positive_int, "webhook handlers running at once per web process")
    webhook_queue: int = setting(
        32, cast_non_negative_int,
        "webhook calls that may wait for a handler; beyond that `503` with `Retry-After`")
    webhook_timeout: float = setting(
        30.0, cast_positive_float,
        "seconds a webhook caller waits for its handler before `504`")
    cookie_secure: bool | None = setting(
        None, cast_bool, "`Secure` flag of the dashboard's session cookie",
        shown="on when the base URL is https")
    login_rate_limit: str = setting(
        "20/minute", cast_text, "login attempts per client address (429 beyond)")
    login_max_failures: int = setting(
        5, cast_positive_int, "wrong passwords in a row that lock a login")
    login_lockout_seconds: float = setting(
        900.0, cast_positive_float, "how long a locked login stays locked")
    metrics_token: Secret = setting(
        Secret(""), cast_secret,
        "when set, `/metrics` needs `Authorization: Bearer TOKEN` and `/health` tells only "
        "\"ok\" without it",
        shown="empty: open")
    webhook_max_body: int = setting(
        1024 * 1024, cast_positive_int, "largest webhook body in bytes; larger ones get 413")
    import_allowlist: tuple[str, ...] = setting(
        ("requests", "xmlrpc.client", "hashlib", "hmac", "base64", "re", "math"), cast_names,
        "modules protected code may import")
    isolation: bool = setting(
        True, cast_bool,
        "run user code in separate sandbox processes; `0` runs it inside the worker (faster, "
        "loses the process boundary: for tests and benchmarks only)")
    job_cpu_seconds: float = setting(
        60.0, cast_positive_float,
        "CPU seconds one job may use (per project: `limits.cpu_seconds`)")
    job_memory_mb: int = setting(
        256, cast_positive_int,
        "address space in MB one job may add (per project: `limits.memory_mb`)")
    job_wall_seconds: float = setting(
        300.0, cast_positive_float,
        "wall-clock seconds one job may take (per project: `limits.wall_seconds`)")
    job_max_subjobs: int = setting(
        1_000, cast_positive_int, "most sub-jobs one job may add with `add_job`")
    job_tree_max_jobs: int = setting(
        1_000, cast_positive_int, "most jobs in one tree: a root job and all its descendants")
    job_max_depth: int = setting(
        10, cast_positive_int, "deepest sub-job (a root job's sub-jobs are at depth 1)")
    job_max_log_bytes: int = setting(
        1_000_000, cast_positive_int,
        "log bytes one job may write; then one \"log truncated\" line and no more")
    log_line_max_chars: int = setting(
        16_000, cast_positive_int, "longest log line; longer ones are cut")
    job_max_result_bytes: int = setting(
        1_000_000, cast_positive_int,
        "largest job result (as JSON); a larger one fails the job")
    job_max_args_bytes: int = setting(
        100_000, cast_positive_int, "largest arguments of one sub-job (as JSON)")
    dispatch_project_inflight: int = setting(
        100, cast_positive_int,
        "most queued-or-running jobs per project, so one project's flood cannot starve "
        "another")
    sandbox_user: str = setting(
        "nobody", cast_text,
        "user sandbox processes switch to when the service runs as root (kept root without "
        "capabilities when that user cannot read the Python installation)")
    sandbox_max_jobs: int = setting(
        500, cast_positive_int,
        "jobs a sandbox process serves before it is replaced by a fresh one")
    sandbox_max_rss_growth_mb: float = setting(
        64.0, cast_positive_float,
        "a sandbox process whose resident memory grew more than this since its first job is "
        "replaced")
    worker_threads: int = setting(
        4, cast_positive_int,
        "threads per worker process (and sandbox processes per worker)")
    retention_days: int = setting(
        30, cast_positive_int, "finished jobs and their logs older than this are pruned")
    log_level: str = setting(
        "INFO", cast_level,
        "the processes' own log level (`DEBUG`, `INFO`, `WARNING`, `ERROR`)")

    @classmethod
    def fields(cls) -> Iterator[Setting]:
        """Every setting read from the environment, in the guide's order."""
        for field in dataclasses.fields(cls):
            if "setting" in field.metadata:
                cast, doc, shown = field.metadata["setting"]
                yield Setting(field.name, cast, doc, shown, field.default)

    @classmethod
    def default(cls, name: str) -> Any:
        """The embedded default of setting ``name`` (for code that must not read settings,
        e.g. a sandbox process, and for the defaults of other classes' arguments)."""
        for item in cls.fields():
            if item.name == name:
                return item.default
        raise KeyError(name)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Read settings from ``environ`` (the command line passes ``os.environ``);
        keywords override them."""
        values: dict[str, Any] = {item.name: item.read(environ) for item in cls.fields()}
        home = values["home"] = cast_path(str(values["home"]))
        if not values["database_url"]:
            values["database_url"] = f"sqlite:///{home / 'syncstudio.sqlite3'}"
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

    @property
    def private_paths(self) -> tuple[str, ...]:
        """What no sandbox may read: the service's home and its own SQLite database file."""
        paths = [str(self.home)]
        if self.database_url.startswith("sqlite:///"):
            paths.append(self.database_url[len("sqlite:///"):].split("?", 1)[0])
        return tuple(paths)

    def child_environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (e.g. ``os.environ``) with the variables that make another ``syncstudio``
        process use this home, own database, broker and secret key."""
        return {**(base or {}), f"{PREFIX}HOME": str(self.home),
                f"{PREFIX}DATABASE_URL": self.database_url,
                f"{PREFIX}BROKER_URL": self.broker_url,
                f"{PREFIX}SECRET_KEY": self.secret_key.reveal()}


def markdown_rows() -> list[str]:
    """The rows of the guide's settings table (docs/configuration.md), one per setting."""
    return [f"| `{item.env}` | {item.shown_default} | {item.doc} |" for item in Settings.fields()]


if __name__ == "__main__":
    print("\n".join(markdown_rows()))
