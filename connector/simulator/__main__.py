"""``python -m connector.simulator --port 8069``: run an Odoo 17 simulator."""

from __future__ import annotations

import argparse
import signal
import sys

from . import serve
from .cpu import DEFAULT_LOGIN_COST
from .protocol_json2 import ADMIN_API_KEY


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m connector.simulator",
                                     description="Run an Odoo 17 RPC simulator.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8069, help="TCP port (default 8069)")
    parser.add_argument("--database", default="odootest", help="database name")
    parser.add_argument("--path", default=None,
                        help="SQLite file to keep the data in (default: a temporary file)")
    parser.add_argument("--auditlog", action="store_true",
                        help="install the OCA auditlog models (no rule is subscribed)")
    parser.add_argument("--audit-model", action="append", default=[], metavar="MODEL",
                        help="with --auditlog: subscribe a full rule on MODEL (repeatable)")
    parser.add_argument("--no-demo", dest="demo", action="store_false",
                        help="load base data only, no demo partners")
    parser.add_argument("--login-cost", type=float, default=DEFAULT_LOGIN_COST, metavar="SECONDS",
                        help="what one password check (a login) costs, as on a real Odoo 17 "
                             f"(default {DEFAULT_LOGIN_COST}; 0 for fast tests)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                        help="delay every RPC request by this much (default 0)")
    args = parser.parse_args(argv)
    if args.login_cost < 0 or args.latency < 0:
        parser.error("--login-cost and --latency are seconds, 0 or more")
    # SIGTERM (as sent by process managers and tests) stops cleanly, removing temp files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Odoo simulator on http://{args.host}:{args.port} database={args.database} "
          f"login=admin password=admin (JSON-2 API key {ADMIN_API_KEY})", file=sys.stderr,
          flush=True)
    if args.audit_model and not args.auditlog:
        parser.error("--audit-model needs --auditlog")
    serve(args.host, args.port, args.database, args.auditlog, args.demo, args.path,
          audit_models=args.audit_model, login_cost=args.login_cost, latency=args.latency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
