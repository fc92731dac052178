"""The project file: typed models, a bounded YAML loader, and checks that name the fix."""

from connector.schema.checks import (
    db_triggers,
    odoo_problems,
    project_problems,
    validate_project,
    validate_trigger,
)
from connector.schema.errors import Problem, SchemaError, format_path, raise_problems
from connector.schema.loader import Loaded, load, safe_load
from connector.schema.models import (
    DELAY_UNITS,
    ENV_RE,
    INTERVAL_UNITS,
    TRIGGER_MODELS,
    TRIGGER_NAME_RE,
    WEBHOOK_TYPES,
    WHEN,
    ProjectSpec,
)


def json_schema() -> dict[str, object]:
    """The JSON Schema of a project file (for editors: ``syncstudio project schema``)."""
    schema = ProjectSpec.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


__all__ = ["DELAY_UNITS", "ENV_RE", "INTERVAL_UNITS", "TRIGGER_MODELS", "TRIGGER_NAME_RE",
           "WEBHOOK_TYPES", "WHEN", "Loaded", "Problem", "ProjectSpec", "SchemaError",
           "db_triggers", "format_path", "json_schema", "load", "odoo_problems",
           "project_problems", "raise_problems", "safe_load", "validate_project",
           "validate_trigger"]
