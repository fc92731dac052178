"""Commands that manage the own database, users, projects, connections and secrets."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
from sqlalchemy import select

from connector.cli.base import (
    code_check,
    find_project,
    load_settings,
    main,
    one_line_errors,
    open_db,
    probe_connection,
)
from connector.errors import ConfigurationError
from connector.store.db import Database


# --------------------------------------------------------------------------- database
@main.group()
def db() -> None:
    """The own database."""


@db.command("upgrade")
@one_line_errors
def db_upgrade() -> None:
    """Apply the Alembic migrations to SYNCSTUDIO_DATABASE_URL."""
    from connector.store import migrate

    settings = load_settings()
    database = Database(settings.database_url)
    migrate.upgrade(database)
    click.echo(f"database at revision {migrate.current_revision(database)}")


# --------------------------------------------------------------------------- users
@main.group()
def user() -> None:
    """Dashboard users."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["manager", "developer", "user"]), default="user",
              show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              envvar="SYNCSTUDIO_NEW_USER_PASSWORD", help="Asked for when not given.")
@one_line_errors
def user_add(name: str, role: str, password: str) -> None:
    """Add a dashboard user (or change an existing user's role and password)."""
    from werkzeug.security import generate_password_hash

    from connector.store.models import DashboardUser

    if len(password) < 8:
        raise ConfigurationError("the password must have at least 8 characters")
    settings = load_settings()
    with open_db(settings).session() as session:
        row = session.scalar(select(DashboardUser).where(DashboardUser.login == name))
        if row is None:
            row = DashboardUser(login=name)
            session.add(row)
        row.role = role
        row.password_hash = generate_password_hash(password)
    click.echo(f"user {name} ({role}) saved")


# --------------------------------------------------------------------------- projects
@main.group()
def project() -> None:
    """Projects as YAML files."""


@project.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--check/--no-check", default=True, show_default=True,
              help="Check the triggers against the project's Odoo (models, fields) and log in "
                   "before saving; --no-check skips only what needs Odoo.")
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option("--prune", is_flag=True,
              help="Delete tasks, triggers, params and secrets the file no longer has.")
@one_line_errors
def project_import(file: str, check: bool, dry_run: bool, prune: bool) -> None:
    """Create or update a project from a YAML FILE (prints the plan it applies)."""
    from connector.projects import ProjectImporter, load_file, validate
    from connector.store.crypto import SecretBox

    data = load_file(file)
    spec = validate(data)
    settings = load_settings()
    box = SecretBox.from_settings(settings)
    with open_db(settings).session() as session:
        importer = ProjectImporter(session, box, check_code=code_check, environ=os.environ)
        plan = importer.plan(spec, prune=prune)
        info = check_against_odoo(session, box, spec, data.loaded) if check else None
        if dry_run:
            click.echo(plan.render())
            click.echo(f"dry run, nothing written: {plan.summary()}")
            return
        proj = importer.apply(spec, prune=prune)
        totals = (f"it has {len(proj.tasks)} task(s), "
                  f"{sum(len(t.triggers) for t in proj.tasks)} trigger(s)")
    click.echo(plan.render())
    click.echo(f"imported {plan.summary()}; {totals}")
    if info is not None:
        click.echo(f"Odoo {info.get('server_version')} reached as {info.get('user')}")


def check_against_odoo(session: Any, box: Any, spec: Any, loaded: Any) -> dict[str, Any] | None:
    """Log in to the project's Odoo and check its DB triggers there (None: no Odoo to check)."""
    from connector.connections import connection_params
    from connector.odoo import make_client
    from connector.projects import env_value
    from connector.schema import db_triggers, odoo_problems, raise_problems
    from connector.store.models import Project

    if spec.odoo is not None:
        odoo = spec.odoo
        params = {"url": odoo.url, "database": odoo.database, "login": odoo.login,
                  "password": env_value(odoo.password, "odoo.password", os.environ) or "",
                  "protocol": odoo.protocol, "timeout": odoo.timeout}
    else:
        row = session.scalar(select(Project).where(Project.name == spec.name))
        if row is None or row.connection is None:
            return None
        params = connection_params(row.connection, box)
    client = make_client(**params)
    try:
        info = client.test_connection()
        raise_problems(odoo_problems(client, db_triggers(spec)), loaded)
    finally:
        client.close()
    return info


@main.group()
def connection() -> None:
    """Odoo connections."""


@connection.command("test")
@click.argument("project_name", metavar="PROJECT")
@one_line_errors
def connection_test(project_name: str) -> None:
    """Log in to the Odoo of PROJECT and print the server version and the user."""
    from connector.connections import connection_params
    from connector.store.crypto import SecretBox

    settings = load_settings()
    box = SecretBox.from_settings(settings)
    with open_db(settings).session() as session:
        proj = find_project(session, project_name)
        if proj.connection is None:
            raise ConfigurationError(f"project {project_name!r} has no Odoo connection")
        params = connection_params(proj.connection, box)
    info = probe_connection(params)
    click.echo(f"OK: Odoo {info.get('server_version')} at {params['url']}, database "
               f"{params['database']}, user {info.get('user')} (uid {info.get('uid')})")


@project.command("export")
@click.argument("name")
@click.option("-o", "--output", type=click.File("w"), default="-", help="File (default stdout).")
@one_line_errors
def project_export(name: str, output: Any) -> None:
    """Write project NAME as YAML (secret names only, never values)."""
    from connector.projects import dump_yaml, export_project

    settings = load_settings()
    with open_db(settings).session() as session:
        proj = find_project(session, name)
        output.write(dump_yaml(export_project(proj)))


@project.command("schema")
@one_line_errors
def project_schema() -> None:
    """Print the JSON Schema of project files (for editors' YAML validation)."""
    from connector.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@main.group()
def secret() -> None:
    """Project secrets (values are encrypted at rest)."""


@secret.command("set")
@click.argument("project_name", metavar="PROJECT")
@click.argument("name")
@one_line_errors
def secret_set(project_name: str, name: str) -> None:
    """Set secret NAME of PROJECT to the value read from standard input."""
    from connector.store.crypto import SecretBox
    from connector.store.models import ProjectSecret

    value = sys.stdin.read().rstrip("\n")
    if not value:
        raise ConfigurationError("no value on standard input (pipe it in: "
                                 "`printf %s \"$VALUE\" | syncstudio secret set P NAME`)")
    settings = load_settings()
    box = SecretBox.from_settings(settings)
    with open_db(settings).session() as session:
        proj = find_project(session, project_name)
        row = next((s for s in proj.secrets if s.key == name), None)
        if row is None:
            row = ProjectSecret(key=name)
            proj.secrets.append(row)
        row.value_enc = box.encrypt(value)
    click.echo(f"secret {name} of {project_name!r} set")


@secret.command("rotate")
@one_line_errors
def secret_rotate() -> None:
    """Re-encrypt every stored secret and Odoo password with the first key of
    SYNCSTUDIO_SECRET_KEY (the others may be removed afterwards)."""
    from sqlalchemy import select

    from connector.store.crypto import SecretBox
    from connector.store.models import OdooConnection, ProjectSecret

    settings = load_settings()
    box = SecretBox.from_settings(settings)
    count = 0
    with open_db(settings).session() as session:
        for secret_row in session.scalars(select(ProjectSecret)
                                          .where(ProjectSecret.value_enc.is_not(None))):
            secret_row.value_enc = box.rotate(secret_row.value_enc or "")
            count += 1
        for connection in session.scalars(select(OdooConnection)
                                          .where(OdooConnection.password_enc.is_not(None))):
            connection.password_enc = box.rotate(connection.password_enc or "")
            count += 1
    click.echo(f"re-encrypted {count} value(s) with the first key; the other keys of "
               "SYNCSTUDIO_SECRET_KEY can now be removed")
