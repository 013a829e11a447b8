"""Bulk writes of CDR rows and quarantine entries, per database engine.

The ingester owns the transaction; these functions only run statements on the
connection they are given. Uniqueness (a leg's UUID, a quarantined record's
fingerprint) is enforced by the database, so a re-run or a resumed run can never
store anything twice.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.engine import Connection

try:  # only the PostgreSQL path needs it
    from psycopg import errors as psycopg_errors
except ImportError:  # pragma: no cover
    psycopg_errors = None  # type: ignore[assignment]

from cdr_ingest.attribution import CallRow

CDR_COLUMNS = (
    "uuid", "leg", "role", "call_uuid", "bleg_uuid", "circuit_id", "did", "direction", "rule",
    "action", "attributed_by", "caller_raw", "destination_raw", "number_e164", "category",
    "start_utc", "answer_utc", "end_utc", "duration", "billsec", "hangup_cause",
    "billable_seconds", "amount", "plan_version_id", "band", "bill_month", "source",
    "source_ref", "raw", "ingested_at", "rated_at",
)

QUARANTINE_COLUMNS = (
    "fingerprint", "uuid", "reason", "detail", "source", "source_ref", "template", "raw",
    "created_at", "retries",
)


def _ts(value: datetime | None, sqlite: bool) -> Any:
    """A UTC datetime as a bound parameter (see ``painel.types.UtcDateTime``)."""
    if value is None:
        return None
    if value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    if sqlite:
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value.replace(tzinfo=None)


_HMS = [f"{h:02d}:{m:02d}:{sec:02d}" for h in range(24) for m in range(60) for sec in range(60)]
_DAYS: dict[int, str] = {}


def _sqlite_text(value: datetime | None) -> str | None:
    """UTC datetime -> 'YYYY-MM-DD HH:MM:SS' (the SQLite form), from lookup tables: this runs
    three times per CDR, and strftime would be most of the row's formatting cost."""
    if value is None:
        return None
    days, sec = divmod(int(value.timestamp()), 86_400)
    prefix = _DAYS.get(days)
    if prefix is None:
        if len(_DAYS) > 100_000:
            _DAYS.clear()
        prefix = _DAYS[days] = datetime.fromtimestamp(days * 86_400, timezone.utc).strftime("%Y-%m-%d ")
    return prefix + _HMS[sec]


def cdr_tuple(row: CallRow, source: str, source_ref: str, now: Any, sqlite: bool) -> tuple[Any, ...]:
    """One ``cdrs`` row in CDR_COLUMNS order; ``now`` is already in database form (``_ts``)."""
    if sqlite:
        start, answer, end = _sqlite_text(row.start_utc), _sqlite_text(row.answer_utc), _sqlite_text(row.end_utc)
    else:
        start, answer, end = _ts(row.start_utc, False), _ts(row.answer_utc, False), _ts(row.end_utc, False)
    return (
        row.uuid, row.leg, row.role, row.call_uuid, row.bleg_uuid, row.circuit_id, row.did,
        row.direction, row.rule, row.action, row.attributed_by, row.caller_raw[:64],
        row.destination_raw[:64], row.number_e164, row.category, start, answer, end,
        row.duration, row.billsec, row.hangup_cause[:40], row.billable_seconds, int(row.amount * 100),
        row.plan_version_id, row.band, row.bill_month, source, source_ref[:255], row.raw, now,
        now if row.role == "call" else None,
    )


_LINKED_VALUES = {
    "role": "linked", "circuit_id": None, "did": None, "direction": None, "rule": None, "action": None,
    "attributed_by": None, "number_e164": None, "category": None, "billable_seconds": 0, "amount": 0,
    "plan_version_id": None, "band": None, "bill_month": None, "rated_at": None, "leg": "b",
}
_LINKED_POSITIONS = [(CDR_COLUMNS.index(c), v) for c, v in _LINKED_VALUES.items()]
_CALL_UUID = CDR_COLUMNS.index("call_uuid")


def as_linked(row: tuple[Any, ...], a_leg_uuid: str) -> tuple[Any, ...]:
    """The same leg as a b-leg linked to ``a_leg_uuid``: stored, never billed."""
    values = list(row)
    for i, v in _LINKED_POSITIONS:
        values[i] = v
    values[_CALL_UUID] = a_leg_uuid
    return tuple(values)


_SQLITE_INSERT = "INSERT OR IGNORE INTO cdrs ({}) VALUES ({})".format(
    ", ".join(CDR_COLUMNS), ", ".join("?" * len(CDR_COLUMNS)))


def insert_cdrs(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert rows, skipping UUIDs already stored; returns how many were new."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        return _insert_cdrs_pg(conn, rows)
    dbapi = conn.connection.dbapi_connection
    cur = dbapi.cursor()  # type: ignore[union-attr]
    try:
        before = dbapi.total_changes  # type: ignore[union-attr]
        cur.executemany(_SQLITE_INSERT, rows)
        return dbapi.total_changes - before  # type: ignore[union-attr]
    finally:
        cur.close()


def _insert_cdrs_pg(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """COPY straight into ``cdrs`` the rows whose UUIDs are not stored yet.

    Checking first and copying directly writes each row once; should another ingester
    store one of the UUIDs in between, the unique key refuses the COPY and the batch goes
    through a staging table with ON CONFLICT DO NOTHING instead.
    """
    cols = ", ".join(CDR_COLUMNS)
    dbapi = conn.connection.dbapi_connection
    with dbapi.cursor() as cur:  # type: ignore[union-attr]
        cur.execute("SELECT uuid FROM cdrs WHERE uuid = ANY(%s)", ([r[0] for r in rows],))
        stored = {r[0] for r in cur.fetchall()}
        fresh: list[tuple[Any, ...]] = []
        seen: set[str] = set()
        for row in rows:
            if row[0] not in stored and row[0] not in seen:
                seen.add(row[0])
                fresh.append(row)
        if not fresh:
            return 0
        cur.execute("SAVEPOINT painel_copy")
        try:
            with cur.copy(f"COPY cdrs ({cols}) FROM STDIN") as copy:
                for row in fresh:
                    copy.write_row(row)
        except psycopg_errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT painel_copy")
        else:
            cur.execute("RELEASE SAVEPOINT painel_copy")
            return len(fresh)
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS cdrs_stage AS SELECT {cols} FROM cdrs WITH NO DATA")
        cur.execute("TRUNCATE cdrs_stage")
        with cur.copy(f"COPY cdrs_stage ({cols}) FROM STDIN") as copy:
            for row in fresh:
                copy.write_row(row)
        cur.execute(f"INSERT INTO cdrs ({cols}) SELECT {cols} FROM cdrs_stage ON CONFLICT (uuid) DO NOTHING")
        return cur.rowcount


def insert_quarantine(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert quarantine entries, skipping fingerprints already there; returns new ones."""
    if not rows:
        return 0
    cols = ", ".join(QUARANTINE_COLUMNS)
    dbapi = conn.connection.dbapi_connection
    cur = dbapi.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.name == "postgresql":
            marks = ", ".join(["%s"] * len(QUARANTINE_COLUMNS))
            cur.executemany(
                f"INSERT INTO cdr_quarantine ({cols}) VALUES ({marks}) ON CONFLICT (fingerprint) DO NOTHING",
                rows,
            )
            return max(cur.rowcount, 0)
        marks = ", ".join("?" * len(QUARANTINE_COLUMNS))
        before = dbapi.total_changes  # type: ignore[union-attr]
        cur.executemany(f"INSERT OR IGNORE INTO cdr_quarantine ({cols}) VALUES ({marks})", rows)
        return dbapi.total_changes - before  # type: ignore[union-attr]
    finally:
        cur.close()


def _param(conn: Connection) -> str:
    return "%s" if conn.dialect.name == "postgresql" else "?"


def referenced_b_legs(conn: Connection, uuids: Iterable[str]) -> dict[str, str]:
    """Which of ``uuids`` some stored a-leg names as its ``bleg_uuid``: b-leg -> a-leg."""
    out: dict[str, str] = {}
    uuids = list(uuids)
    p = _param(conn)
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for i in range(0, len(uuids), 500):
            chunk = uuids[i : i + 500]
            cur.execute(
                f"SELECT bleg_uuid, uuid FROM cdrs WHERE bleg_uuid IS NOT NULL AND bleg_uuid IN ({', '.join([p] * len(chunk))})", chunk
            )
            out.update((r[0], r[1]) for r in cur.fetchall())
    finally:
        cur.close()
    return out


def link_b_legs(conn: Connection, pairs: Sequence[tuple[str, str]]) -> int:
    """Turn legs stored earlier as calls (without painel_*) into linked legs of their a-leg.

    ``pairs`` are (a_leg_uuid, b_leg_uuid). A leg that carries painel_* (a forwarded
    b-leg) or that is already on an invoice is never touched.
    """
    if not pairs:
        return 0
    p = _param(conn)
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.executemany(
            f"UPDATE cdrs SET role = 'linked', call_uuid = {p}, circuit_id = NULL, direction = NULL, "
            f"category = NULL, billable_seconds = 0, amount = 0, plan_version_id = NULL, band = NULL, "
            f"bill_month = NULL, leg = 'b' "
            f"WHERE uuid = {p} AND role = 'call' AND attributed_by <> 'painel' AND invoice_id IS NULL",
            list(pairs),
        )
        n = max(cur.rowcount, 0)
        # legs stored before their a-leg told us whose they are (linked b-legs, forwarded legs)
        cur.executemany(f"UPDATE cdrs SET call_uuid = {p} WHERE uuid = {p} AND call_uuid = uuid", list(pairs))
        return n
    finally:
        cur.close()


def resolve_quarantine(conn: Connection, uuids: Iterable[str], now: datetime) -> None:
    """Mark quarantine entries of legs that are now stored as resolved."""
    uuids = list(uuids)
    if not uuids:
        return
    sqlite = conn.dialect.name != "postgresql"
    p = _param(conn)
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.executemany(
            f"UPDATE cdr_quarantine SET resolved_at = {p} WHERE uuid = {p} AND resolved_at IS NULL",
            [(_ts(now, sqlite), u) for u in uuids],
        )
    finally:
        cur.close()
