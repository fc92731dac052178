"""The project file as typed models: one definition for the importer, the exporter, the
dashboard's forms and the published JSON Schema.

Checks that need nothing but the file live here (types, allowed values, domains parsed with the
poller's parser); :mod:`connector.schema.checks` adds those across objects and against Odoo.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError, core_schema

from connector.detection import domain as domains
from connector.detection.timed import UNITS as TIMED_UNITS
from connector.odoo.factory import PROTOCOLS
from connector.schedule import INTERVAL_UNITS
from connector.store.models import DB_CONDITIONS

WEBHOOK_TYPES = ("json", "form")
DELAY_UNITS = tuple(TIMED_UNITS)
WHEN = ("after", "before")
TRIGGER_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
NAME_LENGTH = 200  # the width of the name columns (PostgreSQL refuses longer values)


@dataclass(frozen=True)
class OneOf:
    """Annotation: the value is one of ``values`` (an enumeration kept where its meaning is)."""

    values: tuple[str, ...]

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.literal_schema(list(self.values))


def _trigger_name(value: str) -> str:
    if not TRIGGER_NAME_RE.match(value) or len(value) > NAME_LENGTH:
        raise PydanticCustomError(
            "trigger_name", "'{name}' must be an identifier of at most {n} characters such as "
            "ON_PARTNER_CREATED", {"name": value, "n": NAME_LENGTH})
    return value


def _text_key(value: str) -> str:
    # Task code reads texts as ``texts.KEY``: the key must be an attribute name.
    if not TRIGGER_NAME_RE.match(value) or value.startswith("_") or len(value) > NAME_LENGTH:
        raise PydanticCustomError(
            "text_key", "text key '{name}' must be a name such as WELCOME_MESSAGE (letters, "
            "digits, _; not starting with _ or a digit)", {"name": value})
    return value


def _domain(value: Any) -> str | None:
    """Domains are kept as Odoo's text notation, parsed by the poller's own parser."""
    if value is None or value == "" or value == []:
        return None
    text = value if isinstance(value, str) else repr(value)
    try:
        domains.parse(text)
    except domains.DomainError as exc:
        raise PydanticCustomError("domain", "not a valid domain: {problem}",
                                  {"problem": str(exc)}) from None
    return None if text.strip() == "[]" else text


def _json_value(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        # YAML has types JSON lacks (dates, sets): the handler receives JSON's.
        raise PydanticCustomError(
            "json_only", "only JSON's types (text, numbers, lists, mappings, true/false, null); "
                         "quote dates as text") from None
    return value


def _secrets(value: Any) -> Any:
    """A list of names is the usual form; a mapping gives names their ``${ENV}`` source."""
    if value is None:
        return {}
    if isinstance(value, list):
        if not all(isinstance(name, str) for name in value):
            raise PydanticCustomError("secret_names", "must be a list of names or a mapping "
                                      "NAME: ${ENV_NAME}")
        return dict.fromkeys(value)
    if isinstance(value, dict):
        for name, source in value.items():
            if source is not None and not (isinstance(source, str) and ENV_RE.match(source)):
                raise PydanticCustomError(
                    "secret_value", "{name}: secret values never live in the file; write "
                    "{env} or set it with `syncstudio secret set`",
                    {"name": name, "env": "'${ENV_NAME}'"})
        return value
    raise PydanticCustomError("secret_names",
                              "must be a list of names or a mapping NAME: ${ENV_NAME}")


Name = Annotated[str, Field(min_length=1, max_length=NAME_LENGTH)]
TriggerName = Annotated[str, AfterValidator(_trigger_name)]
TextKey = Annotated[str, AfterValidator(_text_key)]
Domain = Annotated[str | None, BeforeValidator(_domain), WithJsonSchema(
    {"anyOf": [{"type": "string"}, {"type": "array"}, {"type": "null"}],
     "description": "An Odoo domain, e.g. \"[('is_company', '=', False)]\""})]
Positive = Annotated[int, Field(gt=0)]
EnvRef = Annotated[str, Field(pattern=ENV_RE.pattern)]
SecretMap = Annotated[dict[str, EnvRef | None], BeforeValidator(_secrets), WithJsonSchema(
    {"anyOf": [{"type": "array", "items": {"type": "string"}},
               {"type": "object", "additionalProperties": {
                   "anyOf": [{"type": "string", "pattern": ENV_RE.pattern}, {"type": "null"}]}}],
     "description": "Secret names; a mapping takes the value from ${ENV_NAME} at import"})]
ButtonData = Annotated[Any, AfterValidator(_json_value)]


class Spec(BaseModel):
    """Strict: YAML's types as they are (no '5' for 5), and unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class CronTrigger(Spec):
    """Runs every ``interval`` ``interval_unit``."""

    trigger_name: TriggerName
    active: bool = True
    interval: Positive = 1
    interval_unit: Annotated[str, OneOf(tuple(INTERVAL_UNITS))] = "days"
    scheduler_user: str | None = None


class DbTrigger(Spec):
    """Runs when records of ``model`` are created, updated, deleted or a date passes."""

    trigger_name: TriggerName
    active: bool = True
    model: Name
    condition: Annotated[str, OneOf(DB_CONDITIONS)]
    domain: Domain = None
    before_domain: Domain = None
    watched_fields: list[str] = []
    date_field: str | None = None
    delay: Annotated[int, Field(ge=0)] = 0
    delay_unit: Annotated[str, OneOf(DELAY_UNITS)] = "days"
    when: Annotated[str, OneOf(WHEN)] = "after"


class WebhookTrigger(Spec):
    """Runs when its URL is called; ``type`` is the body's content type."""

    trigger_name: TriggerName
    active: bool = True
    type: Annotated[str, OneOf(WEBHOOK_TYPES)] = "json"


class ButtonTrigger(Spec):
    """Runs when clicked; ``data`` (any JSON value) is passed to ``handle_button(data)``."""

    trigger_name: TriggerName
    active: bool = True
    data: ButtonData = None


class Triggers(Spec):
    """A task's triggers by kind."""

    cron: list[CronTrigger] = []
    db: list[DbTrigger] = []
    webhook: list[WebhookTrigger] = []
    button: list[ButtonTrigger] = []

    def all(self) -> list[tuple[str, AnyTrigger]]:
        """(kind, trigger) pairs in file order, kind by kind."""
        return [(kind, item) for kind in TRIGGER_MODELS for item in getattr(self, kind)]


AnyTrigger = CronTrigger | DbTrigger | WebhookTrigger | ButtonTrigger
TRIGGER_MODELS: dict[str, type[Spec]] = {"cron": CronTrigger, "db": DbTrigger,
                                          "webhook": WebhookTrigger, "button": ButtonTrigger}


class TaskSpec(Spec):
    """Code defining handle_db/handle_cron/handle_webhook/handle_button, and its triggers."""

    name: Name
    active: bool = True
    code: str = ""
    triggers: Triggers = Triggers()


class OdooSpec(Spec):
    """The project's Odoo; ``password`` is best ``${ENV_NAME}``, read once at import."""

    url: Annotated[str, Field(min_length=1)]
    database: Annotated[str, Field(min_length=1)]
    login: Annotated[str, Field(min_length=1)]
    password: str | None = None
    protocol: Annotated[str, OneOf(tuple(PROTOCOLS))] = "jsonrpc"
    timeout: Annotated[float, Field(gt=0)] = 30.0


class Limits(Spec):
    """Per-job limits of the project's sandbox (defaults: the operator's settings)."""

    cpu_seconds: Annotated[float, Field(gt=0)] | None = None
    memory_mb: Annotated[int, Field(gt=0)] | None = None
    wall_seconds: Annotated[float, Field(gt=0)] | None = None


ParamValue = str | int | float | bool | None | list[Any] | dict[str, Any]


class ProjectSpec(Spec):
    """A Sync Studio project file."""

    model_config = ConfigDict(title="Sync Studio project", extra="forbid", strict=True)

    name: Name
    active: bool = True
    odoo: OdooSpec | None = None
    limits: Limits = Limits()
    params: dict[str, ParamValue] = {}
    #: Multi-line texts (message templates …), read by task code as ``texts.KEY``.
    texts: dict[TextKey, str] = {}
    secrets: SecretMap = {}
    protected_code: str = ""
    common_code: str = ""
    tasks: list[TaskSpec] = []
