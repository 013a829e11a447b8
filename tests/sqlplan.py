"""The query plan of a SQLAlchemy statement, on SQLite and PostgreSQL (index tests).

On PostgreSQL a test table is tiny, so a sequential scan would always be cheapest: the
plan is asked with sequential scans disabled, and an index must still serve.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable


class Explain(Executable, ClauseElement):
    inherit_cache = False

    def __init__(self, statement: Any, prefix: str) -> None:
        self.statement, self.prefix = statement, prefix


@compiles(Explain)
def _explain(element, compiler, **kw):  # type: ignore[no-untyped-def]
    return element.prefix + " " + compiler.process(element.statement, **kw)


def query_plan(engine: Engine, statement: Any, params: dict[str, Any] | None = None) -> str:
    """The engine's plan for ``statement``, its lines joined by " | "."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(Explain(statement, "EXPLAIN QUERY PLAN"), params or {})
            return " | ".join(str(row[-1]) for row in rows)
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        return " | ".join(str(row[0]) for row in conn.execute(Explain(statement, "EXPLAIN"), params or {}))


def index_columns(engine: Engine, table: str, index: str) -> tuple[str, ...]:
    """The columns of ``index`` on ``table`` as the migrated database has them."""
    from sqlalchemy import inspect

    return tuple(next(ix["column_names"] for ix in inspect(engine).get_indexes(table) if ix["name"] == index))


def columns_read(statement: Any, table: Any) -> set[str]:
    """The names of ``table``'s columns a statement names anywhere (select list, WHERE, GROUP BY)."""
    from sqlalchemy import Column
    from sqlalchemy.sql import visitors

    return {element.name for element in visitors.iterate(statement)
            if isinstance(element, Column) and element.table is table}
