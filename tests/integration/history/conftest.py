"""The history store's fixtures: every test runs on a SQLite file and on a real PostgreSQL
server (one per test session, a fresh database per test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.postgres import PostgresServer, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty history store: a SQLite file, or a database on the test server."""
    if request.param == "sqlite":
        return str(tmp_path / "history.db")
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()
