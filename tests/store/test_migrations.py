"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from connector.store import migrate
from connector.store.models import Base


def test_migrations_match_models(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ; generate a migration: {diff}"


def test_upgrade_creates_every_table_and_records_head(db):
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert migrate.current_revision(db) == migrate.head_revision()
    assert migrate.is_up_to_date(db)


def test_upgrade_twice_is_harmless(db):
    migrate.upgrade(db)
    assert migrate.is_up_to_date(db)
