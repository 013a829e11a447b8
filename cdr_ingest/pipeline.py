"""The ingestion pipeline: parsed legs in, rated rows (or quarantine entries) out.

Each batch is one transaction: its rows, its quarantine entries and the file's
progress marker commit together, so a run killed at any point resumes exactly where
the last commit left it, and the database's unique keys make a repeated input a no-op.
"""
from __future__ import annotations

import collections
import contextlib
import gc
import hashlib
import itertools
import logging
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cdr_ingest import store
from cdr_ingest.attribution import CallRow, Quarantine, attribute
from cdr_ingest.parse_csv import CsvCdrParser, split_line
from cdr_ingest.parse_json import parse_json_cdr
from cdr_ingest.parse_xml import parse_xml_cdr
from cdr_ingest.records import CdrRecord
from cdr_ingest.templates import detect_template, load_csv_templates
from painel.catalog import Catalog, load_catalog
from painel.errors import CdrParseError, ConfigError, DatabaseError, InputError
from painel.models import IngestedFile
from painel.settings import Settings

log = logging.getLogger("painel.cdr")

Progress = Callable[[int], None]


@dataclass(slots=True)
class Item:
    """One input record on its way in: the raw text and what parsing made of it."""

    raw: str
    parsed: CdrRecord | CdrParseError
    source: str  # json | xml | csv
    source_ref: str
    template: str | None = None


@dataclass(slots=True)
class IngestStats:
    rated: int = 0
    duplicate: int = 0
    quarantined: int = 0
    #: of the rated: legs linked to their call (b-legs, never billed)
    linked: int = 0
    skipped_files: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: "IngestStats") -> None:
        self.rated += other.rated
        self.duplicate += other.duplicate
        self.quarantined += other.quarantined
        self.linked += other.linked
        self.skipped_files += other.skipped_files
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v

    @property
    def total(self) -> int:
        return self.rated + self.duplicate + self.quarantined

    def summary(self) -> str:
        """The machine-readable closing line of ``painel cdr ingest``."""
        return f"rated={self.rated} duplicate={self.duplicate} quarantined={self.quarantined}"


def fingerprint(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def storable_raw(raw: str) -> str:
    """``raw`` as a quarantine entry can keep it: PostgreSQL's text has no NUL, so a NUL (a
    damaged file, a garbage POST) becomes U+FFFD, as undecodable bytes already do."""
    return raw.replace("\x00", "\ufffd") if "\x00" in raw else raw


def _db_error(exc: Exception) -> DatabaseError:
    orig = getattr(exc, "orig", exc)
    return DatabaseError(f"falha no banco de dados: {orig}")


@dataclass(slots=True)
class Prepared:
    """A batch attributed and rated, ready to be written (built without the database)."""

    rows: list[tuple[Any, ...]]
    quarantine: list[tuple[Any, ...]]
    reasons: dict[str, int]
    #: indexes into ``rows`` of calls attributed without painel_* (maybe b-legs of stored a-legs)
    fallback: list[int]
    #: (a-leg, b-leg) for b-legs outside this batch that stored rows may have to link
    pairs: list[tuple[str, str]]
    linked: int
    outcomes: list[Any]


def prepare(items: Sequence[Item], catalog: Catalog, sqlite: bool, *, want_outcomes: bool = False) -> Prepared:
    """Attribute and rate a batch: pure CPU work, so it can run in a worker process."""
    now_db = store._ts(datetime.now(timezone.utc), sqlite)
    records = [it.parsed for it in items if isinstance(it.parsed, CdrRecord)]
    # legs an a-leg of this batch names as its b-leg
    known_b: dict[str, str] = {r.bleg_uuid: r.uuid for r in records if r.bleg_uuid}
    batch_uuids = {r.uuid for r in records}
    rows: list[tuple[Any, ...]] = []
    quarantine: list[tuple[Any, ...]] = []
    reasons: dict[str, int] = {}
    fallback: list[int] = []
    pairs: list[tuple[str, str]] = []
    outcomes: list[Any] = []
    linked = 0
    for it in items:
        parsed = it.parsed
        if isinstance(parsed, CdrParseError):
            outcome: CallRow | Quarantine = Quarantine("malformed", parsed.message)
            uuid = None
        else:
            outcome = attribute(parsed, catalog, known_b)
            uuid = parsed.uuid
        if want_outcomes:
            outcomes.append(outcome if isinstance(outcome, Quarantine) else None)
        if isinstance(outcome, Quarantine):
            quarantine.append((fingerprint(it.raw), uuid, outcome.reason, outcome.detail, it.source,
                               it.source_ref[:255], it.template, storable_raw(it.raw), now_db, 0))
            reasons[outcome.reason] = reasons.get(outcome.reason, 0) + 1
            continue
        if outcome.role == "linked":
            linked += 1
        else:
            if outcome.attributed_by != "painel" and outcome.leg != "b":
                fallback.append(len(rows))
            if outcome.bleg_uuid and outcome.bleg_uuid not in batch_uuids:
                pairs.append((outcome.uuid, outcome.bleg_uuid))
        rows.append(store.cdr_tuple(outcome, it.source, it.source_ref, now_db, sqlite))
    return Prepared(rows, quarantine, reasons, fallback, pairs, linked, outcomes)


class Ingester:
    """Parses, attributes, rates and stores CDRs; one instance per process."""

    def __init__(
        self, engine: Engine, settings: Settings, *, catalog: Catalog | None = None,
        catalog_ttl: float | None = None,
    ) -> None:
        self.engine = engine
        #: seconds a catalog is trusted in a long-running receiver; None = for the whole run
        self.catalog_ttl = catalog_ttl
        self._catalog_loaded_at = 0.0
        self.settings = settings
        self.sqlite = engine.dialect.name == "sqlite"
        # the bulk path runs on raw driver cursors, whose errors are not SQLAlchemy's
        driver_error = getattr(getattr(engine.dialect, "loaded_dbapi", None), "Error", None)
        self.db_errors: tuple[type[BaseException], ...] = (SQLAlchemyError,) + (
            (driver_error,) if isinstance(driver_error, type) else ())
        self._catalog = catalog
        self._templates: dict[str, list[str]] | None = None
        self._parsers: dict[str, CsvCdrParser] = {}
        self._unresolved_quarantine: bool | None = None

    # ------------------------------------------------------------------ set-up
    @property
    def catalog(self) -> Catalog:
        if self._catalog is None or (
            self.catalog_ttl is not None and time.monotonic() - self._catalog_loaded_at > self.catalog_ttl
        ):
            self.refresh_catalog()
        assert self._catalog is not None
        return self._catalog

    def refresh_catalog(self) -> None:
        try:
            with Session(self.engine) as session:
                self._catalog = load_catalog(session)
            self._catalog_loaded_at = time.monotonic()
            # asked again with the catalog: a long-running receiver sees new quarantine entries
            self._unresolved_quarantine = None
        except self.db_errors as exc:
            raise _db_error(exc) from exc

    @property
    def templates(self) -> dict[str, list[str]]:
        if self._templates is None:
            self._templates = load_csv_templates(self.settings.cdr_csv_config)
        return self._templates

    def csv_parser(self, template: str) -> CsvCdrParser:
        parser = self._parsers.get(template)
        if parser is None:
            if template not in self.templates:
                raise ConfigError(
                    f"modelo CSV {template!r} não existe em {self.settings.cdr_csv_config} "
                    f"(disponíveis: {', '.join(sorted(self.templates))})"
                )
            parser = CsvCdrParser(self.templates[template], switch_tz=self.settings.switch_timezone)
            self._parsers[template] = parser
        return parser

    # ------------------------------------------------------------------ core
    def process(self, conn: Connection, items: Sequence[Item], outcomes: list | None = None) -> IngestStats:
        """Attribute, rate and store one batch on ``conn`` (the caller commits).

        ``outcomes``, when given, receives per item ``None`` (stored) or its ``Quarantine``.
        """
        prep = prepare(items, self.catalog, self.sqlite, want_outcomes=outcomes is not None)
        stats = self.store_prepared(conn, prep)
        if outcomes is not None:
            outcomes.extend(prep.outcomes)
        return stats

    def store_prepared(self, conn: Connection, prep: Prepared) -> IngestStats:
        """Write a prepared batch: rows, links, quarantine entries (the caller commits)."""
        stats = IngestStats(linked=prep.linked, reasons=dict(prep.reasons))
        rows = prep.rows
        if prep.fallback:
            # a leg attributed without painel_* may be the b-leg of an a-leg stored earlier
            refs = store.referenced_b_legs(conn, [rows[i][0] for i in prep.fallback])
            for i in prep.fallback:
                a_leg = refs.get(rows[i][0])
                if a_leg is not None:
                    rows[i] = store.as_linked(rows[i], a_leg)
                    stats.linked += 1
        inserted = store.insert_cdrs(conn, rows)
        stats.rated = inserted
        stats.duplicate = len(rows) - inserted
        # a-legs naming a b-leg stored earlier as a call of its own: link it now
        store.link_b_legs(conn, prep.pairs)
        store.insert_quarantine(conn, prep.quarantine)
        stats.quarantined = len(prep.quarantine)

        if inserted and self._has_unresolved_quarantine(conn):
            store.resolve_quarantine(conn, [r[0] for r in rows], datetime.now(timezone.utc))
        return stats

    def _has_unresolved_quarantine(self, conn: Connection) -> bool:
        if self._unresolved_quarantine is None:
            n = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM cdr_quarantine WHERE resolved_at IS NULL AND uuid IS NOT NULL"
            ).scalar()
            self._unresolved_quarantine = bool(n)
        return self._unresolved_quarantine

    def ingest_items(self, items: Sequence[Item]) -> IngestStats:
        """Store a batch in its own transaction."""
        try:
            with self.engine.begin() as conn:
                return self.process(conn, items)
        except self.db_errors as exc:
            raise _db_error(exc) from exc

    # ------------------------------------------------------------------ JSON
    def json_item(self, text: str, source_ref: str) -> Item:
        """A mod_json_cdr document, or a mod_xml_cdr one (text starting with ``<``)."""
        source = "xml" if text.lstrip("\ufeff \t\r\n")[:1] == "<" else "json"
        try:
            if source == "xml":
                parsed: CdrRecord | CdrParseError = parse_xml_cdr(text)
            else:
                parsed = parse_json_cdr(text)
        except CdrParseError as exc:
            parsed = exc
        return Item(text, parsed, source, source_ref)

    def ingest_json_files(self, paths: Sequence[Path], progress: Progress | None = None) -> IngestStats:
        stats = IngestStats()
        batch: list[Item] = []
        for path in paths:
            try:
                text = path.read_bytes().decode("utf-8", "replace")
            except OSError as exc:
                raise InputError(f"não foi possível ler {path}: {exc.strerror}") from exc
            batch.append(self.json_item(text, str(path)))
            if progress:
                progress(path.stat().st_size)
            if len(batch) >= 500:
                stats.add(self.ingest_items(batch))
                batch = []
        if batch:
            stats.add(self.ingest_items(batch))
        return stats

    # ------------------------------------------------------------------ CSV
    def ingest_csv_file(
        self, path: Path, *, template: str | None = None, force: bool = False,
        progress: Progress | None = None,
    ) -> IngestStats:
        """Ingest a mod_cdr_csv file, resuming after the last committed batch."""
        stats = IngestStats()
        try:
            size = path.stat().st_size
            digest = _file_digest(path)
        except OSError as exc:
            raise InputError(f"não foi possível ler {path}: {exc.strerror}") from exc
        state = self._file_state(digest, path, size)
        start_line = 0
        if state is not None:
            if state.completed_at is not None and not force:
                log.info("arquivo já ingerido, ignorado: %s (%d linhas)", path, state.lines_done)
                stats.duplicate = state.lines_done
                stats.skipped_files = 1
                if progress:
                    progress(size)
                return stats
            start_line = 0 if force else state.lines_done
            if start_line:
                log.info("retomando %s a partir da linha %d", path, start_line + 1)
        batch_size = self.settings.ingest_batch_size
        try:
            fh = open(path, "rb")
        except OSError as exc:
            raise InputError(f"não foi possível ler {path}: {exc.strerror}") from exc
        with fh, gc_paused():
            batches = _byte_batches(fh, start_line, batch_size, progress)
            first = next(batches)
            first_line = next((ln for ln in _lines(first[0]) if ln.strip()), "")
            chosen = template or detect_template(len(split_line(first_line)), self.templates) \
                or self.settings.cdr_csv_template
            parser = self.csv_parser(chosen)
            workers = self.settings.ingest_workers
            if workers > 1 and size > PARALLEL_MIN_BYTES:
                self._csv_parallel(first, batches, path, chosen, digest, size, stats, workers)
            else:
                for blob, last_line, final in itertools.chain([first], batches):
                    items = _csv_items(parser, _lines(blob), str(path), chosen)
                    self._commit_batch(prepare(items, self.catalog, self.sqlite), digest, path, size,
                                       last_line, final, stats)
        return stats

    def _csv_parallel(self, first: tuple[bytes, int, bool], batches: Iterator[tuple[bytes, int, bool]],
                      path: Path, chosen: str, digest: str, size: int, stats: IngestStats, workers: int) -> None:
        """Parse and rate in worker processes while this one writes, in file order.

        Only reading raw bytes and the database writes stay here; at most ``2 * workers``
        batches are in flight, so memory stays bounded whatever the file size.
        """
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        init = (self.templates[chosen], chosen, self.settings.switch_timezone, self.catalog, self.sqlite)
        pending: collections.deque = collections.deque()
        with ctx.Pool(workers, initializer=_worker_init, initargs=init) as pool:
            for blob, last_line, final in itertools.chain([first], batches):
                pending.append((pool.apply_async(_worker_prepare, (blob, str(path))), last_line, final))
                if len(pending) >= 2 * workers:
                    result, last, fin = pending.popleft()
                    self._commit_batch(result.get(), digest, path, size, last, fin, stats)
            while pending:
                result, last, fin = pending.popleft()
                self._commit_batch(result.get(), digest, path, size, last, fin, stats)

    def _commit_batch(self, prep: Prepared, digest: str, path: Path, size: int, last_line: int,
                      final: bool, stats: IngestStats) -> None:
        """One transaction: the batch's rows and quarantine entries, and the file's progress."""
        try:
            with self.engine.begin() as conn:
                batch_stats = self.store_prepared(conn, prep)
                self._save_file_state(conn, digest, path, size, last_line, final)
        except self.db_errors as exc:
            raise _db_error(exc) from exc
        stats.add(batch_stats)

    def _file_state(self, digest: str, path: Path, size: int) -> IngestedFile | None:
        try:
            with Session(self.engine) as session:
                return session.scalar(select(IngestedFile).where(IngestedFile.fingerprint == digest))
        except self.db_errors as exc:
            raise _db_error(exc) from exc

    def _save_file_state(self, conn: Connection, digest: str, path: Path, size: int, lines: int, final: bool) -> None:
        now = datetime.now(timezone.utc) if final else None
        table = IngestedFile.__table__
        updated = conn.execute(
            update(table).where(table.c.fingerprint == digest).values(lines_done=lines, completed_at=now, path=str(path))
        ).rowcount
        if not updated:
            conn.execute(
                table.insert().values(fingerprint=digest, path=str(path)[:1024], size=size,
                                      lines_done=lines, completed_at=now)
            )

    # ------------------------------------------------------------------ paths
    def ingest_paths(
        self, paths: Iterable[Path], *, template: str | None = None, force: bool = False,
        progress: Progress | None = None,
    ) -> IngestStats:
        stats = IngestStats()
        json_files: list[Path] = []
        csv_files: list[Path] = []
        for p in paths:
            kind = file_kind(p)
            (json_files if kind in ("json", "xml") else csv_files).append(p)
        if json_files:
            stats.add(self.ingest_json_files(json_files, progress))
        for p in csv_files:
            stats.add(self.ingest_csv_file(p, template=template, force=force, progress=progress))
        return stats


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk ingest.

    Rows are tuples, strings and small dicts without reference cycles, so reference
    counting frees them all; but each batch allocates hundreds of thousands of objects,
    and the collector's repeated scans of everything alive (caches, the catalog, the
    batch itself) cost more than parsing and rating together.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: files smaller than this are ingested in-process (a pool costs more than it saves)
PARALLEL_MIN_BYTES = 8 * 1024 * 1024

_worker: dict[str, Any] = {}


def _worker_init(fields: list[str], name: str, switch_tz: str, catalog: Catalog, sqlite: bool) -> None:
    gc.disable()  # see gc_paused; the worker lives only as long as its file
    _worker["parser"] = CsvCdrParser(fields, switch_tz=switch_tz, template_name=name)
    _worker["template"] = name
    _worker["catalog"] = catalog
    _worker["sqlite"] = sqlite


def _worker_prepare(blob: bytes, source_ref: str) -> Prepared:
    items = _csv_items(_worker["parser"], _lines(blob), source_ref, _worker["template"])
    return prepare(items, _worker["catalog"], _worker["sqlite"])


def _csv_items(parser: CsvCdrParser, lines: list[str], source_ref: str, template: str) -> list[Item]:
    items: list[Item] = []
    for raw in lines:
        if not raw.strip():
            continue
        try:
            parsed: CdrRecord | CdrParseError = parser.parse_row(parser.split_line(raw), raw)
        except CdrParseError as exc:
            parsed = exc
        items.append(Item(raw, parsed, "csv", source_ref, template))
    return items


def _lines(blob: bytes) -> list[str]:
    """The text lines of a batch, without their terminators (\\n or \\r\\n)."""
    lines = blob.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def _byte_batches(fh: BinaryIO, start_line: int, batch_size: int,
                  progress: Progress | None) -> Iterator[tuple[bytes, int, bool]]:
    """(raw bytes of up to ``batch_size`` lines, number of the last line, is it the end).

    Lines up to ``start_line`` (committed by an earlier run) are skipped. The reader
    stays in bytes: decoding and splitting happen where the batch is parsed.
    """
    line_no = 0
    if start_line:
        for raw in itertools.islice(fh, start_line):
            line_no += 1
            if progress:
                progress(len(raw))
    while True:
        lines = list(itertools.islice(fh, batch_size))
        line_no += len(lines)
        blob = b"".join(lines)
        if progress and blob:
            progress(len(blob))
        if len(lines) < batch_size:
            yield blob, line_no, True  # the last batch (maybe empty) marks the file complete
            return
        yield blob, line_no, False


#: a file is identified by its size and 16 samples of 64 KiB spread over it
_SAMPLES, _SAMPLE_BYTES = 16, 64 * 1024


def _file_digest(path: Path) -> str:
    """Identity of a CDR file for resuming: its size and samples of its content.

    Hashing every byte of a large file costs a noticeable part of the ingest itself; a
    rotated CDR file never changes, and the samples (UUIDs everywhere) tell files apart.
    Even a wrong match could not bill anything twice: the database's unique keys decide.
    """
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    with open(path, "rb") as fh:
        if size <= _SAMPLES * _SAMPLE_BYTES:
            h.update(fh.read())
        else:
            step = (size - _SAMPLE_BYTES) // (_SAMPLES - 1)
            for i in range(_SAMPLES):
                fh.seek(i * step)
                h.update(fh.read(_SAMPLE_BYTES))
    return h.hexdigest()


def file_kind(path: Path) -> str:
    """``json``, ``xml`` or ``csv``, from the name, else from the first byte."""
    name = path.name.lower()
    if name.endswith(".json"):
        return "json"
    if name.endswith(".xml"):
        return "xml"
    if name.endswith(".csv"):
        return "csv"
    try:
        with open(path, "rb") as fh:
            head = fh.read(64).lstrip()
    except OSError as exc:
        raise InputError(f"não foi possível ler {path}: {exc.strerror}") from exc
    if head.startswith(b"<"):
        return "xml"
    return "json" if head.startswith(b"{") else "csv"


def expand_paths(paths: Iterable[str]) -> list[Path]:
    """Files named, and the CDR files (*.json, *.csv) inside directories named."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(sorted(q for q in path.rglob("*") if q.is_file() and q.suffix.lower() in (".json", ".csv", ".xml")))
        elif path.exists():
            out.append(path)
        else:
            raise InputError(f"arquivo não encontrado: {p}")
    return out
