"""The history database: runs, studies and one compact row per request, kept in SQLite (one
file) or PostgreSQL (a team's shared history) through SQLAlchemy Core, its schema versioned by
Alembic migrations (docs/history.md). The results directories stay the source of truth.
"""
