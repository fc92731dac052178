"""Commands that manage the own database, users, projects, connections and secrets."""

from __future__ import annotations

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
              help="Log in to the project's Odoo before saving; refuse the file if that fails.")
@one_line_errors
def project_import(file: str, check: bool) -> None:
    """Create or update a project from a YAML FILE."""
    from connector.connections import connection_params
    from connector.projects import ProjectImporter, load_file
    from connector.store.crypto import SecretBox

    data = load_file(file)
    settings = load_settings()
    box = SecretBox.from_settings(settings)
    with open_db(settings).session() as session:
        proj = ProjectImporter(session, box, check_code=code_check).import_data(data)
        tasks = len(proj.tasks)
        triggers = sum(len(t.triggers) for t in proj.tasks)
        name = proj.name
        if check and proj.connection is not None:
            # Inside the transaction: a wrong password or an unreachable Odoo saves nothing.
            info = probe_connection(connection_params(proj.connection, box))
    click.echo(f"project {name!r} imported: {tasks} task(s), {triggers} trigger(s)")
    if check and data.get("odoo"):
        click.echo(f"Odoo {info.get('server_version')} reached as {info.get('user')}")


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
