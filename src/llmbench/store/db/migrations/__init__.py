"""Alembic migrations of the history database (`versions/`, one file per schema revision)."""
