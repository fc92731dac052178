"""The ``syncstudio`` command line: the composition root that wires connector, worker and webui.

One module per area registers its commands on :data:`main`.
"""

from connector.cli import admin, demo, jobs, processes  # noqa: F401 - they register commands
from connector.cli.base import main

__all__ = ["main"]
