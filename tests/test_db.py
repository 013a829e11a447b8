"""Engine set-up: SQLite's per-connection pragmas."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from painel.db import SQLITE_CACHE_MIB, create_engine
from painel.settings import load_settings
from webui import WEB_SQLITE_CACHE_MIB, create_app


def pragma(engine: sa.Engine, name: str) -> object:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_bulk_writers_get_the_large_page_cache_and_the_portal_a_small_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'painel.db'}"
    engine = create_engine(url)
    assert pragma(engine, "cache_size") == -1024 * SQLITE_CACHE_MIB == -65536
    assert pragma(engine, "journal_mode") == "wal" and pragma(engine, "foreign_keys") == 1
    engine.dispose()

    settings = load_settings(environ={}, overrides={"database_url": url, "var_dir": str(tmp_path / "var"),
                                                    "secret_key": "k"})
    app = create_app(settings)
    web_engine = app.extensions["painel_engine"]
    assert pragma(web_engine, "cache_size") == -1024 * WEB_SQLITE_CACHE_MIB
    assert WEB_SQLITE_CACHE_MIB < SQLITE_CACHE_MIB
    assert pragma(web_engine, "journal_mode") == "wal" and pragma(web_engine, "foreign_keys") == 1
    web_engine.dispose()
