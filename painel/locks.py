"""A named job lock that works the same on SQLite and PostgreSQL.

It is a row in ``job_locks``: taking it is an INSERT that the primary key lets only
one run win. A lock left by a process that died on this host is taken over.
"""
from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from datetime import datetime, timezone

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from painel.errors import LockedError
from painel.models import JobLock


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _is_stale(holder: str) -> bool:
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextlib.contextmanager
def job_lock(engine: Engine, name: str) -> Iterator[None]:
    """Hold the lock ``name`` for the block; raise ``LockedError`` if another run has it."""
    table = JobLock.__table__
    me = _holder()
    for _attempt in range(2):
        try:
            with engine.begin() as conn:
                conn.execute(insert(table).values(name=name, holder=me, acquired_at=datetime.now(timezone.utc)))
            break
        except IntegrityError:
            with engine.begin() as conn:
                row = conn.execute(select(table.c.holder, table.c.acquired_at).where(table.c.name == name)).first()
                if row is None:  # released since our INSERT failed: try again
                    continue
                if _is_stale(row.holder):
                    conn.execute(delete(table).where(table.c.name == name, table.c.holder == row.holder))
                    continue
            raise LockedError(
                f"outra execução de '{name}' está em andamento "
                f"({row.holder} desde {row.acquired_at:%d/%m/%Y %H:%M} UTC)"
            ) from None
    else:  # pragma: no cover - lost a race twice
        raise LockedError(f"outra execução de '{name}' está em andamento")
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(delete(table).where(table.c.name == name, table.c.holder == me))
