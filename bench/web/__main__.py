"""``python -m bench.web [pages|webhooks] [options]``: the dashboard's benchmarks.

``pages`` (the default): server time per dashboard page with 100,000 jobs and 1,000,000 log
lines, on SQLite and PostgreSQL (see :mod:`bench.web.pages`). ``webhooks``: /health and the
login page while webhook handlers are busy (see :mod:`bench.web.webhooks`).
"""

from __future__ import annotations

import sys

from bench.web import pages, webhooks


def main() -> None:
    """Dispatch to the chosen benchmark."""
    argv = sys.argv[1:]
    if argv and argv[0] == "webhooks":
        webhooks.main(argv[1:])
    else:
        pages.main(argv[1:] if argv and argv[0] == "pages" else argv)


if __name__ == "__main__":
    main()
