"""Opening the history database: its URL (SQLite file or PostgreSQL server), the engine set up
for several writers at once (SQLite: WAL, a busy timeout and BEGIN IMMEDIATE for writes), the
Alembic migration to the newest schema revision, and database errors translated to StoreError.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from llmbench.errors import StoreError

HEAD_REVISION = "0002"
MIGRATIONS = "llmbench.store.db:migrations"
BUSY_TIMEOUT_S = 120.0  # a second writer waits this long for the first (a large import)
# Serializes migrations of one PostgreSQL database (two runs recording into a new store at once).
PG_MIGRATION_LOCK = 0x6C6C6D62  # "llmb"
_WRITE = "llmbench_write"


def default_store_path() -> Path:
    return Path.home() / ".llmbench" / "history.db"


def store_url(text_: str) -> URL:
    """`default` (~/.llmbench/history.db), a file path, `sqlite:///PATH` or
    `postgresql://user@host/db` (driven by psycopg 3) as a SQLAlchemy URL."""
    value = text_.strip()
    if value == "default":
        value = str(default_store_path())
    if "://" not in value:
        return URL.create("sqlite", database=str(Path(value).expanduser()))
    try:
        url = make_url(value)
        url.port  # noqa: B018 - a port that is not a number raises here, not at connect
    except (ArgumentError, ValueError):
        raise StoreError(
            f"{value.split('://')[0]}://...: not a database URL",
            hint="give a file path, sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
        ) from None
    backend = url.get_backend_name()
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and url.database and not (url.host or url.username or url.port):
        return url.set(database=str(Path(url.database).expanduser()))
    raise StoreError(
        f"{backend}://...: not a history store",
        hint="give a file path, sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
    )


_SECRET_PARAMETER = re.compile(r"pass|secret|token|key", re.IGNORECASE)


def shown(url: URL) -> str:
    """The URL as messages show it: never the password, in its place or as a parameter."""
    hidden = {k: "***" for k in url.query if _SECRET_PARAMETER.search(k)}
    text_ = url.update_query_dict(hidden).render_as_string(hide_password=True)
    return text_.replace("%2A%2A%2A", "***")


def _sqlite_engine(url: URL) -> Engine:
    path = Path(url.database or "")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {path.parent}: {exc.strerror or exc}") from exc
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun below, not by the driver, so a write can take the lock at once.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the one writer
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint, safe in WAL
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # A write transaction takes the write lock at BEGIN, waiting up to the busy timeout: a
        # deferred one that read first could be refused at once when another writer committed.
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    try:
        return create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"a PostgreSQL store needs psycopg 3 ({exc.name} is not installed)",
            hint="pip install 'llmbench[postgres]'",
        ) from None


@contextlib.contextmanager
def translated(url: URL) -> Iterator[None]:
    """The one boundary where database errors become StoreError (the URL without password,
    the driver's first line, never the statement's parameters)."""
    try:
        yield
    except SQLAlchemyError as exc:
        origin = getattr(exc, "orig", None) or exc
        first = str(origin).strip().splitlines()[0] if str(origin).strip() else type(exc).__name__
        raise StoreError(
            f"history store {shown(url)}: {first}",
            hint="check that the database is reachable and writable (docs/history.md)",
        ) from exc


class HistoryStore:
    """One history database, migrated to the newest revision when opened."""

    def __init__(self, url: URL, *, migrate_to: str | None = "head") -> None:
        self.url = url
        self.engine = _engine(url)
        if migrate_to is not None:
            self.migrate(migrate_to)

    @classmethod
    def open(cls, text_: str) -> HistoryStore:
        return cls(store_url(text_))

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed at the end, rolled back on any error. On SQLite it
        waits (busy timeout) for another writer rather than failing."""
        with translated(self.url), self.engine.connect() as connection:
            connection.execution_options(**{_WRITE: True})
            with connection.begin():
                yield connection

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with translated(self.url), self.engine.connect() as connection, connection.begin():
            yield connection

    def migrate(self, revision: str = "head") -> None:
        """Brings the schema to `revision` in one write transaction (two processes opening a
        new store at once: the second waits, then finds it migrated)."""
        from alembic import command
        from alembic.config import Config

        with self.write() as connection:
            if not self.is_sqlite:
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": PG_MIGRATION_LOCK})  # fmt: skip
            config = Config()
            config.set_main_option("script_location", MIGRATIONS)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def revision(self) -> str | None:
        """The schema revision the database is at (None: not a history store yet)."""
        from alembic.runtime.migration import MigrationContext

        with self.read() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
