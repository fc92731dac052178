"""Alembic migrations of the own database."""
