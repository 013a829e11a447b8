"""Database engine, sessions and migrations.

SQLite (a file under var/) is the embedded default; PostgreSQL is the production
engine. Both are configured here so the rest of the code does not care which runs.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from painel.errors import DatabaseError
from painel.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: WAL pages between automatic checkpoints (SQLite's default is 1000)
SQLITE_AUTOCHECKPOINT = 4096  # pages of 16 KiB: 64 MiB


#: SQLite's page cache of each connection, MiB, for engines that write in bulk (the ingester,
#: the month close): random UUID inserts touch index pages all over the file
SQLITE_CACHE_MIB = 64


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, cache_mib: int = SQLITE_CACHE_MIB) -> None:
    cur = dbapi_connection.cursor()
    # 16 KiB pages (for a new file; an existing one keeps its size): CDR rows are ~700
    # bytes, and larger pages mean fewer page headers, splits and WAL frames per row
    # (a million-row ingest measured 10 % faster than with 4 KiB).
    cur.execute("PRAGMA page_size=16384")
    # WAL: readers (the portal) never block the ingester; NORMAL is durable at checkpoints
    # and safe against application crashes, which is what SIGKILL tests exercise.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    # the page cache is per connection, and the operating system caches the file once for all
    cur.execute(f"PRAGMA cache_size={-1024 * cache_mib}")
    # checkpoint every 64 MiB of WAL, not 4 MiB: consecutive batches rewrite the same index
    # pages, and each checkpoint copies (and fsyncs) them once
    cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT}")
    cur.close()


def sql_literals(values: Iterable[str]) -> list[Any]:
    """Fixed words (states, directions, rules) as SQL string literals, for ``IN`` lists.

    Bound values in an ``IN`` are rendered again on every execution; literals keep the
    statement's text as it is, so SQLAlchemy compiles it once and the database can match it
    against a partial index's condition. Only for words the code itself names, never input.
    """
    return [sa.literal_column("'" + v.replace("'", "''") + "'") for v in values]


def create_engine(url: str | Settings, *, sqlite_cache_mib: int = SQLITE_CACHE_MIB, **kwargs: Any) -> Engine:
    """Engine for a URL (or the settings' URL), creating the SQLite directory if needed.

    ``sqlite_cache_mib``: SQLite's page cache per pooled connection. The default suits bulk
    writers; a server with many connections that each read a few pages (the portal's
    threads) should ask for less, or every connection ends up holding its own copy of the
    hot part of the file.
    """
    if isinstance(url, Settings):
        url = url.database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, **kwargs)

        def pragmas(dbapi_connection: Any, record: Any) -> None:
            _sqlite_pragmas(dbapi_connection, record, sqlite_cache_mib)

        event.listen(engine, "connect", pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg")
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error, database errors translated."""
    session = factory()
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        raise DatabaseError(f"falha no banco de dados: {exc.orig}") from exc
    except SQLAlchemyError:
        session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply Alembic migrations up to ``revision``."""
    from alembic import command

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise DatabaseError(f"não foi possível migrar o banco de dados: {exc.orig}") from exc
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
