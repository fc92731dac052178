"""The built-in Odoo simulator and the demo."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import threading
from pathlib import Path

import click
from sqlalchemy import select

from connector.cli.base import (
    code_check,
    main,
    one_line_errors,
    open_db,
    require_free_port,
    serve_web,
    setup_logging,
    stop_on_sigterm,
)
from connector.errors import ConfigurationError
from connector.settings import Settings


# --------------------------------------------------------------------------- simulator, demo
@main.command("odoo-sim")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8069, show_default=True, type=int)
@click.option("--database", default="odootest", show_default=True)
@click.option("--auditlog/--no-auditlog", default=False, help="Install the OCA auditlog models.")
@click.option("--path", default=None, help="SQLite file of the simulator (default: temporary).")
@click.option("--login-cost", default=0.5, show_default=True, type=click.FloatRange(min=0),
              help="Seconds one login costs, as on a real Odoo 17 (0 for fast tests).")
@click.option("--latency", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds every RPC request is delayed.")
@one_line_errors
def odoo_sim(host: str, port: int, database: str, auditlog: bool, path: str | None,
             login_cost: float, latency: float) -> None:
    """Run the built-in Odoo 17 RPC simulator (admin/admin) for tests and demos."""
    from connector.simulator import OdooSimulator

    require_free_port(host, port)
    sim = OdooSimulator(database=database, path=path, auditlog=auditlog, demo=True,
                        login_cost=login_cost, latency=latency)
    sim.start(host=host, port=port)
    click.echo(f"Odoo simulator at {sim.url} database {database!r}, login admin/admin")
    stop = threading.Event()
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    sim.stop()


#: Seconds a login costs on the demo's simulators (a real Odoo 17: about 0.5 s).
DEMO_LOGIN_COST = 0.1

#: Settings the demo never takes from the environment: it runs on its own home, database,
#: key and in-process broker, so it cannot touch the user's installation.
HERMETIC = ("HOME", "DATABASE_URL", "BROKER_URL", "SECRET_KEY", "BASE_URL", "WEBHOOK_BASE_URL")


def demo_settings(home: Path, host: str, port: int) -> Settings:
    """Settings of a demo in ``home``: the user's tuning variables, never their data."""
    environ = {name: value for name, value in os.environ.items()
               if name.startswith("SYNCSTUDIO_")
               and name.removeprefix("SYNCSTUDIO_") not in HERMETIC}
    environ["SYNCSTUDIO_HOME"] = str(home)
    try:
        settings = Settings.from_env(environ)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    return dataclasses.replace(settings, web_host=host, web_port=port,
                               base_url=f"http://{host}:{port}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--home", "home_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Keep the demo's data here (default: a temporary directory, "
                                 "removed when the demo stops).")
@one_line_errors
def demo(host: str, port: int, home_dir: Path | None) -> None:
    """The whole service with two built-in Odoo simulators and two demo projects.

    Starts an Odoo 17 simulator with demo data (the project's Odoo) and a second one (the
    external Odoo of "Odoo2odoo"), imports "Demo Telegram support" and "Demo Odoo2odoo", then
    runs web, poller and workers in this process. Needs no external service, and never uses
    the installation of SYNCSTUDIO_HOME: its database, logins and key live in a home of its own.
    """
    require_free_port(host, port)
    home = home_dir or Path(tempfile.mkdtemp(prefix="syncstudio-demo-"))
    try:
        home.mkdir(parents=True, exist_ok=True)
        _run_demo(demo_settings(home, host, port), host, port)
    finally:
        if home_dir is None:
            shutil.rmtree(home, ignore_errors=True)


def _run_demo(settings: Settings, host: str, port: int) -> None:
    import secrets as pysecrets

    from werkzeug.security import generate_password_hash

    from connector.demo import PROJECTS, project_text
    from connector.projects import ProjectImporter, parse
    from connector.simulator import OdooSimulator
    from connector.store.crypto import SecretBox
    from connector.store.models import DashboardUser, Trigger
    from worker.service import Service

    setup_logging(settings)
    # A login costs more than a call, as on a real Odoo, but less than a real one's 0.5 s:
    # the Odoo2odoo project's protected code logs into the external Odoo on every call.
    odoo = OdooSimulator(database="demo", demo=True, login_cost=DEMO_LOGIN_COST).start(
        host="127.0.0.1", port=0)
    remote = OdooSimulator(database="remote", demo=True, login_cost=DEMO_LOGIN_COST).start(
        host="127.0.0.1", port=0)
    service = None
    try:
        db = open_db(settings)
        box = SecretBox.from_settings(settings)
        values = {"ODOO_URL": odoo.url, "ODOO_DB": odoo.database, "REMOTE_URL": remote.url,
                  "REMOTE_DB": remote.database}
        environ = {"SYNCSTUDIO_DEMO_ODOO_PASSWORD": "admin",
                   "SYNCSTUDIO_DEMO_REMOTE_LOGIN": "admin",
                   "SYNCSTUDIO_DEMO_REMOTE_PASSWORD": "admin"}
        password = pysecrets.token_urlsafe(9)
        with db.session() as session:
            for name in PROJECTS:
                ProjectImporter(session, box, check_code=code_check, environ=environ).import_data(
                    parse(project_text(name, values), source=name))
            user = session.scalar(select(DashboardUser).where(DashboardUser.login == "admin"))
            if user is None:
                user = DashboardUser(login="admin", role="manager")
                session.add(user)
            user.password_hash = generate_password_hash(password)
            hooks = {t.trigger_name: t.token for t in session.scalars(
                select(Trigger).where(Trigger.kind == "webhook"))}
        service = Service(settings, db)
        stop_on_sigterm(service)
        service.start_worker()
        service.start_poller()
        base = f"http://{host}:{port}"
        click.echo(f"Demo data in {settings.home} (the demo's own home)")
        click.echo(f"Odoo (simulator): {odoo.url} database {odoo.database!r}, login admin/admin")
        click.echo(f"External Odoo of Odoo2odoo (simulator): {remote.url} database "
                   f"{remote.database!r}, login admin/admin")
        click.echo(f"Telegram webhook: {base}/webhooks/{hooks.get('TELEGRAM_UPDATE')}")
        click.echo(f"Login: admin / {password} (manager)")
        serve_web(settings, db, host, port)
    finally:
        if service is not None:
            service.stop()
        remote.stop()
        odoo.stop()
