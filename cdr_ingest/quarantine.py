"""Listing and retrying quarantined CDRs."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cdr_ingest.parse_json import parse_json_cdr
from cdr_ingest.parse_xml import parse_xml_cdr
from cdr_ingest.pipeline import Ingester, Item
from cdr_ingest.records import CdrRecord
from painel.errors import CdrParseError, ConfigError
from painel.models import QuarantinedCdr
from painel.settings import Settings


def list_quarantine(session: Session, *, reason: str | None = None, include_resolved: bool = False,
                    limit: int = 50) -> tuple[list[QuarantinedCdr], dict[str, int]]:
    """Entries (newest first) and the count of unresolved entries per reason."""
    stmt = select(QuarantinedCdr).order_by(QuarantinedCdr.id.desc()).limit(limit)
    if reason:
        stmt = stmt.where(QuarantinedCdr.reason == reason)
    if not include_resolved:
        stmt = stmt.where(QuarantinedCdr.resolved_at.is_(None))
    counts = dict(session.execute(
        select(QuarantinedCdr.reason, func.count()).where(QuarantinedCdr.resolved_at.is_(None))
        .group_by(QuarantinedCdr.reason)).all())
    return list(session.scalars(stmt)), counts


@dataclass
class RetryResult:
    resolved: int = 0
    still: int = 0

    def summary(self) -> str:
        return f"resolvidos={self.resolved} ainda_em_quarentena={self.still}"


def retry(engine: Engine, settings: Settings, *, reason: str | None = None, entry_id: int | None = None,
          batch: int = 1000) -> RetryResult:
    """Parse and rate each unresolved entry again with today's circuits and plans.

    ``reason`` limits the run to the entries of that reason, ``entry_id`` to that one entry.
    """
    ingester = Ingester(engine, settings)
    result = RetryResult()
    last_id = 0
    while True:
        with Session(engine) as session:
            stmt = (select(QuarantinedCdr).where(QuarantinedCdr.resolved_at.is_(None), QuarantinedCdr.id > last_id)
                    .order_by(QuarantinedCdr.id).limit(batch))
            if reason:
                stmt = stmt.where(QuarantinedCdr.reason == reason)
            if entry_id is not None:
                stmt = stmt.where(QuarantinedCdr.id == entry_id)
            entries = list(session.scalars(stmt))
        if not entries:
            break
        last_id = entries[-1].id
        now = datetime.now(timezone.utc)
        with engine.begin() as conn:
            for q in entries:
                item = _reparse(ingester, q)
                outcomes: list = []
                ingester.process(conn, [item], outcomes=outcomes)
                outcome = outcomes[0]
                table = QuarantinedCdr.__table__
                if outcome is None:  # stored (or already stored)
                    conn.execute(update(table).where(table.c.id == q.id).values(
                        resolved_at=now, retries=q.retries + 1, last_retry_at=now))
                    result.resolved += 1
                else:
                    conn.execute(update(table).where(table.c.id == q.id).values(
                        reason=outcome.reason, detail=outcome.detail, retries=q.retries + 1, last_retry_at=now))
                    result.still += 1
    return result


def _reparse(ingester: Ingester, q: QuarantinedCdr) -> Item:
    parsed: CdrRecord | CdrParseError
    try:
        if q.source == "csv":
            if not q.template:
                raise CdrParseError("linha CSV sem modelo conhecido")
            parser = ingester.csv_parser(q.template)
            parsed = parser.parse_row(parser.split_line(q.raw), q.raw)
        elif q.source == "xml":
            parsed = parse_xml_cdr(q.raw)
        else:
            parsed = parse_json_cdr(q.raw)
    except CdrParseError as exc:
        parsed = exc
    except ConfigError as exc:
        parsed = CdrParseError(exc.message)
    return Item(q.raw, parsed, q.source, q.source_ref, q.template)
