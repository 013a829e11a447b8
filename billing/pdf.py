"""Invoice PDFs: an HTML template rendered by xhtml2pdf, with the monthly chart.

Three layers, as everywhere in Painel:

* ``load_document`` reads an invoice (and its calls, payments and chart counts) into an
  ``InvoiceDocument``: plain, already formatted pt-BR text;
* ``render_pdf`` turns a document into PDF bytes, with nothing else as input: the same
  document gives the same bytes (ReportLab's invariant mode, a PNG without timestamp,
  an embedded font), so a checksum identifies the content;
* ``ensure_pdf`` and ``render_month`` are the edges: they write files under the invoice
  directory, store the path and SHA-256 on the invoice, and regenerate a file that went
  missing, was altered, or whose data changed (a payment changes the printed status).

Speed: an itemized table of one cell per value costs xhtml2pdf a paragraph per cell
(about 750 ms for 200 calls). The template instead puts a page's worth of calls in one
table row, one preformatted cell per column, one value per line: the columns stay
aligned (same font, same leading, no wrapping) and a 200-call invoice renders with about
thirty cells. The chart reuses one matplotlib figure per process. ``bench/pdf.py``
measures it against ReportLab's platypus.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from billing.chart import ChartData, monthly_counts, render_png
from billing.invoice import CENT, ZERO
from painel.categories import Category
from painel.documents import format_document
from painel.errors import NotFound, PainelError, ValidationError
from painel.fmt import brl, data_br, duracao, mes_ref
from painel.models import BILLED_DIRECTIONS, Cdr, Circuit, Customer, Invoice, Payment
from painel.settings import Settings

log = logging.getLogger("painel.billing.pdf")

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
ASSETS_DIR = PACKAGE_DIR / "assets"

#: calls per table row of the itemized list: the first row shares page 1 with the summary
#: and the chart; the next ones fill a page each (a row never splits across pages)
FIRST_CHUNK = 16
CHUNK = 62
#: longest text printed in an itemized column (longer values are cut, never wrapped:
#: a wrapped value would shift the rest of its column)
MAX_CELL = 24

DIRECTION_LABELS = {"outbound": "Efetuada", "forwarded": "Siga-me", "collect": "A cobrar"}
STATE_LABELS = {"open": "Em aberto", "closed": "Fechada", "paid": "Paga"}


class InvoiceNotFound(NotFound):
    def __init__(self, invoice_id: int | str) -> None:
        super().__init__(f"fatura {invoice_id} não encontrada")


class PdfRenderError(PainelError):
    """xhtml2pdf reported an error while building the document."""


# ------------------------------------------------------------------ the document


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    document: str = ""
    address: str = ""
    contact: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Operator:
        doc = settings.operator_document
        return cls(settings.operator_name, format_document(doc) if doc else "", settings.operator_address,
                   settings.operator_contact)


@dataclass(frozen=True, slots=True)
class PrintedLine:
    description: str
    calls: str
    minutes: str
    amount: str


@dataclass(frozen=True, slots=True)
class PrintedCall:
    when: str  # dd/mm/aaaa hh:mm in the circuit's zone
    kind: str  # Efetuada / Siga-me / A cobrar
    number: str
    category: str
    duration: str
    amount: str


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything the PDF prints, already formatted; no database, no clock."""

    operator: Operator
    invoice_id: int | None
    month: str
    customer_name: str
    customer_document: str
    circuit_number: str
    circuit_name: str
    timezone: str
    period: str
    issued: str
    due: str
    state: str
    status: str
    paid: bool
    lines: tuple[PrintedLine, ...]
    total: str
    calls: tuple[PrintedCall, ...]
    chart: ChartData
    preview: bool = False
    as_of: str = ""

    @property
    def month_label(self) -> str:
        return mes_ref(self.month)

    @property
    def circuit_label(self) -> str:
        return f"{self.circuit_number} - {self.circuit_name}" if self.circuit_name else self.circuit_number

    @property
    def calls_count(self) -> int:
        return len(self.calls)

    def fingerprint(self) -> str:
        """SHA-256 of the document's content: equal fingerprints print equal PDFs."""
        payload = asdict(self)
        payload["chart"] = {"months": self.chart.months, "counts": self.chart.counts}
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()
        return hashlib.sha256(blob + TEMPLATE_VERSION.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CallChunk:
    """One table row of the itemized list: each column's values joined by line breaks."""

    when: Markup
    kind: Markup
    number: Markup
    category: Markup
    duration: Markup
    amount: Markup


NBSP = "\u00a0"


def _column(values: Sequence[str]) -> Markup:
    """A column of a chunk: one value per line (the cell is ``white-space: pre``).

    Spaces inside a value become no-break spaces: xhtml2pdf turns every plain space of a
    preformatted cell into a fragment of its own, which doubles the cost of the table.
    """
    return Markup("\n").join(escape(v[:MAX_CELL].replace(" ", NBSP)) for v in values)


def call_chunks(calls: Sequence[PrintedCall], first: int = FIRST_CHUNK, size: int = CHUNK) -> list[CallChunk]:
    chunks = []
    start = 0
    while start < len(calls):
        end = start + (first if start == 0 else size)
        part = calls[start:end]
        chunks.append(CallChunk(*(_column([getattr(c, name) for c in part])
                                  for name in ("when", "kind", "number", "category", "duration", "amount"))))
        start = end
    return chunks


def format_number(e164: str | None, raw: str = "") -> str:
    """A stored number as people read it: ``(11) 98765-4321``, ``0800 727 1234``, ``+1 212-555-0100``."""
    if not e164:
        return raw or "—"
    if not e164.startswith("+"):
        return e164  # short codes and 3003/4003/4004 are stored as dialed
    if e164.startswith("+55"):
        nsn = e164[3:]
        if nsn[:3] in ("800", "300", "303", "500", "900"):
            return f"0{nsn[:3]} {nsn[3:6]} {nsn[6:]}"
        if len(nsn) == 11:
            return f"({nsn[:2]}) {nsn[2:7]}-{nsn[7:]}"
        if len(nsn) == 10:
            return f"({nsn[:2]}) {nsn[2:6]}-{nsn[6:]}"
        return e164
    import phonenumbers

    try:
        return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def _category_label(category: str | None) -> str:
    try:
        return Category(category).label if category else "—"
    except ValueError:
        return category or "—"


def _minutes(seconds: int) -> str:
    value = (Decimal(seconds) / 60).quantize(CENT)
    return f"{value:.2f}".replace(".", ",")


def _month_bounds(month: str) -> tuple[date, date]:
    year, mon = (int(x) for x in month.split("-"))
    first = date(year, mon, 1)
    nxt = date(year + 1, 1, 1) if mon == 12 else date(year, mon + 1, 1)
    return first, date.fromordinal(nxt.toordinal() - 1)


def payment_status(state: str, total: Decimal, paid: Decimal, last_paid_on: date | None,
                   due_on: date | None) -> tuple[str, bool]:
    """The printed "Situação" and whether the invoice counts as paid.

    ``last_paid_on`` is the date of the latest payment (the bank's date, not when it
    was registered here).
    """
    if state == "open":
        return "Em aberto (mês em curso)", False
    if total <= 0:
        return "Nada a pagar", True
    if paid >= total:
        when = f" em {data_br(last_paid_on)}" if last_paid_on else ""
        extra = f" (pago a maior: {brl(paid - total)})" if paid > total else ""
        return f"Paga{when}{extra}", True
    if paid > 0:
        return f"Parcialmente paga: {brl(paid)} de {brl(total)}; falta {brl(total - paid)}", False
    due = f", vencimento {data_br(due_on)}" if due_on else ""
    return f"Aguardando pagamento{due}", False


def _printed_calls(rows, zone: ZoneInfo, month: str) -> tuple[PrintedCall, ...]:  # type: ignore[no-untyped-def]
    out = []
    for r in rows:
        local = r.start_utc.replace(tzinfo=timezone.utc).astimezone(zone) if r.start_utc.tzinfo is None \
            else r.start_utc.astimezone(zone)
        kind = DIRECTION_LABELS.get(r.direction, r.direction or "")
        if r.bill_month and r.bill_month != month:
            kind = f"{kind} (aj.)"
        out.append(PrintedCall(
            when=local.strftime("%d/%m/%Y %H:%M"), kind=kind,
            number=format_number(r.number_e164, r.destination_raw), category=_category_label(r.category),
            duration=duracao(r.billsec), amount=brl(r.amount),
        ))
    return tuple(out)


def _itemized_rows(session: Session, where) -> list:  # type: ignore[no-untyped-def]
    return list(session.execute(
        select(Cdr.start_utc, Cdr.direction, Cdr.number_e164, Cdr.destination_raw, Cdr.category, Cdr.billsec,
               Cdr.amount, Cdr.bill_month)
        .where(*where, Cdr.role == "call", Cdr.direction.in_(BILLED_DIRECTIONS), Cdr.billsec > 0)
        .order_by(Cdr.start_utc, Cdr.id)
    ).all())


def load_document(session: Session, invoice_id: int, operator: Operator) -> InvoiceDocument:
    """The printed content of a closed (or paid) invoice."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        raise InvoiceNotFound(invoice_id)
    if invoice.state == "open":
        raise ValidationError(f"a fatura {invoice_id} ({mes_ref(invoice.month)}) ainda está aberta; "
                              "o PDF de uma fatura é emitido no fechamento do mês")
    circuit = invoice.circuit
    customer = session.get(Customer, circuit.customer_id)
    zone = ZoneInfo(circuit.timezone)
    paid, last_paid_on = session.execute(select(func.sum(Payment.amount), func.max(Payment.paid_on))
                                         .where(Payment.invoice_id == invoice.id)).one()
    status, is_paid = payment_status(invoice.state, invoice.total, paid or ZERO, last_paid_on, invoice.due_on)
    first, last = _month_bounds(invoice.month)
    lines = tuple(
        PrintedLine(line.description, str(line.calls) if line.kind != "monthly_fee" else "",
                    _minutes(line.billable_seconds) if line.kind != "monthly_fee" else "", brl(line.amount))
        for line in invoice.lines
    )
    calls = _printed_calls(_itemized_rows(session, (Cdr.invoice_id == invoice.id,)), zone, invoice.month)
    return InvoiceDocument(
        operator=operator, invoice_id=invoice.id, month=invoice.month,
        customer_name=customer.name if customer else "",
        customer_document=format_document(customer.document) if customer and customer.document else "",
        circuit_number=circuit.number, circuit_name=circuit.name or "", timezone=circuit.timezone,
        period=f"{data_br(first)} a {data_br(last)}",
        issued=data_br(invoice.issued_on) if invoice.issued_on else "",
        due=data_br(invoice.due_on) if invoice.due_on else "",
        state=invoice.state, status=status, paid=is_paid, lines=lines, total=brl(invoice.total), calls=calls,
        chart=monthly_counts(session, [circuit.id], invoice.month),
    )


#: ids per ``IN`` when reading the open month's itemized calls (far below SQLite's limit)
_OPEN_IDS_CHUNK = 500


def load_open_document(session: Session, circuit_id: int, month: str, operator: Operator,
                       now: datetime) -> InvoiceDocument:
    """The running invoice of ``month`` (the current one) as a preview: not stored, not a bill.

    Lines come from exactly what ``billing.close.open_invoice_total`` sums (the calls not
    yet invoiced, the plan's monthly fee, late calls of closed months as adjustments), so
    the printed total equals the portal's "Fatura em Aberto" of the circuit; the itemized
    calls are those rows that were answered. ``now`` (aware) is printed as the "valores
    até" time in the circuit's zone.
    """
    from billing.close import CLOSED_STATES, _lines_for, _open_calls, monthly_fee
    from billing.invoice import invoice_total
    from painel.errors import UnknownCircuit
    from painel.periods import check_month

    check_month(month)
    if now.tzinfo is None:
        raise ValidationError("a data de referência precisa de fuso horário")
    circuit = session.get(Circuit, circuit_id)
    if circuit is None:
        raise UnknownCircuit(str(circuit_id))
    invoice = session.scalar(select(Invoice).where(Invoice.circuit_id == circuit_id, Invoice.month == month))
    if invoice is not None and invoice.state in CLOSED_STATES:
        raise ValidationError(f"a fatura de {mes_ref(month)} do circuito {circuit.number} já foi fechada; "
                              "baixe o PDF no histórico de faturas")
    open_id = invoice.id if invoice is not None else None
    current, late = _open_calls(session, circuit_id, month, open_id)
    lines = _lines_for(current, late, monthly_fee(session, circuit, month))
    ids = [r.id for r in (*current, *late) if r.billsec > 0]
    rows = []
    for start in range(0, len(ids), _OPEN_IDS_CHUNK):
        rows.extend(_itemized_rows(session, (Cdr.id.in_(ids[start:start + _OPEN_IDS_CHUNK]),)))
    rows.sort(key=lambda r: r.start_utc)  # stable: ties keep the id order of the chunks
    zone = ZoneInfo(circuit.timezone)
    local_now = now.astimezone(zone)
    customer = session.get(Customer, circuit.customer_id)
    first, last = _month_bounds(month)
    until = min(last, local_now.date()) if local_now.date() >= first else last
    status, is_paid = payment_status("open", ZERO, ZERO, None, None)
    return InvoiceDocument(
        operator=operator, invoice_id=open_id, month=month,
        customer_name=customer.name if customer else "",
        customer_document=format_document(customer.document) if customer and customer.document else "",
        circuit_number=circuit.number, circuit_name=circuit.name or "", timezone=circuit.timezone,
        period=f"{data_br(first)} a {data_br(until)}", issued="", due="", state="open", status=status,
        paid=is_paid,
        lines=tuple(
            PrintedLine(line.description, str(line.calls) if line.kind != "monthly_fee" else "",
                        _minutes(line.billable_seconds) if line.kind != "monthly_fee" else "", brl(line.amount))
            for line in lines
        ),
        total=brl(invoice_total(lines)), calls=_printed_calls(rows, zone, month),
        chart=monthly_counts(session, [circuit.id], month), preview=True,
        as_of=local_now.strftime("%d/%m/%Y %H:%M"),
    )


# ------------------------------------------------------------------ rendering

_env_lock = threading.Lock()
_env = None
TEMPLATE_NAME = "invoice.html"
#: changes whenever the template changes, so stored PDFs are re-rendered
TEMPLATE_VERSION = hashlib.sha256((TEMPLATES_DIR / TEMPLATE_NAME).read_bytes()).hexdigest()[:16]


def _template():  # type: ignore[no-untyped-def]
    global _env
    with _env_lock:
        if _env is None:
            from jinja2 import Environment, FileSystemLoader, select_autoescape

            _env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=select_autoescape(["html"]),
                               trim_blocks=True, lstrip_blocks=True)
        return _env.get_template(TEMPLATE_NAME)


def render_html(doc: InvoiceDocument, chart_png: bytes) -> str:
    view = _View(doc, "data:image/png;base64," + base64.b64encode(chart_png).decode("ascii"), call_chunks(doc.calls))
    return _template().render(doc=view)


class _View:
    """The document as the template sees it (with the chart and the call rows)."""

    def __init__(self, doc: InvoiceDocument, chart_uri: str, chunks: list[CallChunk]) -> None:
        self._doc = doc
        self.chart_uri = chart_uri
        self.call_chunks = chunks

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._doc, name)


def _policy():  # type: ignore[no-untyped-def]
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    return ResourceAccessPolicy(allow_remote=False, base_dir=ASSETS_DIR)


def render_pdf(doc: InvoiceDocument) -> bytes:
    """The PDF of ``doc`` (deterministic: equal documents give equal bytes)."""
    import io

    from reportlab import rl_config
    from xhtml2pdf import pisa

    rl_config.invariant = 1  # fixed creation date and document id: same input, same bytes
    html = render_html(doc, render_png(doc.chart))
    out = io.BytesIO()
    status = pisa.CreatePDF(html, dest=out, path=str(ASSETS_DIR / TEMPLATE_NAME), encoding="utf-8",
                            resource_policy=_policy())
    if status.err:
        raise PdfRenderError(f"falha ao gerar o PDF da fatura {doc.invoice_id}: {status.err} erro(s) do xhtml2pdf")
    return out.getvalue()


# ------------------------------------------------------------------ files


def pdf_dir(settings: Settings) -> Path:
    return Path(settings.pdf_dir) if settings.pdf_dir else Path(settings.var_dir) / "faturas"


def pdf_filename(doc: InvoiceDocument) -> str:
    """``2026-10/fatura-8011441-2026-10-<8 hex>.pdf``: the suffix changes with the content."""
    return f"{doc.month}/fatura-{doc.circuit_number}-{doc.month}-{doc.fingerprint()[:8]}.pdf"


def sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class PdfFile:
    invoice_id: int
    path: Path
    sha256: str
    rendered: bool  # False when the stored file was still current


def _produce(session: Session, invoice_id: int, settings: Settings, force: bool) -> tuple[PdfFile, str | None]:
    """Render or reuse; returns the file and the previous path to delete (if it changed)."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        raise InvoiceNotFound(invoice_id)
    doc = load_document(session, invoice_id, Operator.from_settings(settings))
    base = pdf_dir(settings)
    relative = pdf_filename(doc)
    path = base / relative
    if not force and invoice.pdf_path == relative and invoice.pdf_sha256 and sha256_file(path) == invoice.pdf_sha256:
        return PdfFile(invoice_id, path, invoice.pdf_sha256, False), None
    data = render_pdf(doc)
    _write_atomic(path, data)
    old = invoice.pdf_path if invoice.pdf_path and invoice.pdf_path != relative else None
    return PdfFile(invoice_id, path, hashlib.sha256(data).hexdigest(), True), old


def _store(session: Session, result: PdfFile, settings: Settings, old: str | None) -> None:
    relative = result.path.relative_to(pdf_dir(settings)).as_posix()
    invoice = session.get(Invoice, result.invoice_id)
    assert invoice is not None
    invoice.pdf_path = relative
    invoice.pdf_sha256 = result.sha256
    if old:
        try:
            (pdf_dir(settings) / old).unlink()
        except FileNotFoundError:
            pass


def ensure_pdf(engine: Engine, invoice_id: int, settings: Settings, *, force: bool = False) -> PdfFile:
    """The invoice's PDF file, rendered if missing, altered or out of date (``force``: always)."""
    with Session(engine) as session:
        result, old = _produce(session, invoice_id, settings, force)
        if result.rendered:
            _store(session, result, settings, old)
            session.commit()
            log.info("fatura %s: PDF gerado %s sha256=%s", invoice_id, result.path.name, result.sha256[:12])
    return result


# ------------------------------------------------------------------ a whole month


@dataclass
class MonthPdfResult:
    month: str
    rendered: int = 0
    current: int = 0
    failed: int = 0
    failures: dict[int, str] = field(default_factory=dict)

    def summary(self) -> str:
        return f"rendered={self.rendered} current={self.current} failed={self.failed}"


def invoices_of_month(engine: Engine, month: str, circuit: str | None = None) -> list[int]:
    with Session(engine) as session:
        query = select(Invoice.id).where(Invoice.month == month, Invoice.state.in_(("closed", "paid")))
        if circuit is not None:
            query = query.join(Circuit, Circuit.id == Invoice.circuit_id).where(Circuit.number == circuit)
        return list(session.scalars(query.order_by(Invoice.id)))


_worker_engine: Engine | None = None
_worker_settings: Settings | None = None


def _worker_init(settings: Settings) -> None:
    global _worker_engine, _worker_settings
    from painel.db import create_engine

    _worker_settings = settings
    _worker_engine = create_engine(settings.database_url)


def _worker_render(invoice_ids: list[int], force: bool) -> list[tuple[int, str | None, str | None, str | None, bool, str | None]]:
    """Render a batch in a worker; the parent stores the results (one writer for SQLite)."""
    assert _worker_engine is not None and _worker_settings is not None
    out = []
    with Session(_worker_engine) as session:
        for invoice_id in invoice_ids:
            try:
                result, old = _produce(session, invoice_id, _worker_settings, force)
            except Exception as exc:  # reported per invoice by the parent
                log.exception("fatura %s: falha ao gerar o PDF", invoice_id)
                out.append((invoice_id, None, None, None, False, f"{type(exc).__name__}: {exc}"))
            else:
                out.append((invoice_id, str(result.path), result.sha256, old, result.rendered, None))
            session.expunge_all()
    return out


def render_month(engine: Engine, settings: Settings, month: str, *, circuit: str | None = None,
                 workers: int | None = None, force: bool = False, batch: int = 20,
                 progress: Callable[[int], object] | None = None) -> MonthPdfResult:
    """Every closed invoice of ``month`` to PDF, in ``workers`` processes (default: one per core)."""
    from painel.periods import check_month

    check_month(month)
    ids = invoices_of_month(engine, month, circuit)
    result = MonthPdfResult(month)
    workers = max(1, workers or os.cpu_count() or 1)
    batches = [ids[i:i + batch] for i in range(0, len(ids), batch)]

    def collect(rows) -> None:  # type: ignore[no-untyped-def]
        with Session(engine) as session:
            for invoice_id, path, sha, old, rendered, error in rows:
                if error is not None:
                    result.failed += 1
                    result.failures[invoice_id] = error
                    continue
                if rendered:
                    _store(session, PdfFile(invoice_id, Path(path), sha, True), settings, old)
                    result.rendered += 1
                else:
                    result.current += 1
            session.commit()
        if progress is not None:
            progress(len(rows))

    if workers == 1 or len(batches) <= 1:
        _worker_init(settings)
        try:
            for part in batches:
                collect(_worker_render(part, force))
        finally:
            assert _worker_engine is not None
            _worker_engine.dispose()
        return result
    import multiprocessing

    context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init,
                             initargs=(settings,)) as pool:
        futures = [pool.submit(_worker_render, part, force) for part in batches]
        for future in as_completed(futures):
            collect(future.result())
    return result
