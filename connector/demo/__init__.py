"""The demo projects of the seeds, re-written for the external design.

The YAML files are templates: ``@ODOO_URL@``-style placeholders name the demo's Odoo servers
(simulators started by ``syncstudio demo``); passwords come from the environment mapping given
to the importer, as in any project file.
"""

from __future__ import annotations

from importlib import resources

PROJECTS = ("telegram.yml", "odoo2odoo.yml")


def project_text(name: str, values: dict[str, str]) -> str:
    """The YAML of demo project ``name`` with its ``@PLACEHOLDERS@`` filled from ``values``."""
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text
