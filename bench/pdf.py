"""Invoice PDF figures: one PDF with the chart and 200 itemized calls, and whole months.

    python -m bench.pdf                   # single-PDF figures only (no database)
    python -m bench.pdf --runs 40

Prints the median and p90 time to render one invoice (chart included), the same with
the chart alone and with a straightforward one-cell-per-value xhtml2pdf template, and
the ratio to ReportLab's platypus drawing the same itemized table in the same process
(the floor: no HTML, no CSS). ``month_figures`` renders every invoice of a month of a
bench database with ``billing.pdf.render_month`` (bench/billing.py calls it after the
month close).
"""
from __future__ import annotations

import argparse
import io
import statistics
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from billing.chart import chart_data, last_months, render_png
from billing.pdf import ASSETS_DIR, InvoiceDocument, Operator, PrintedCall, PrintedLine, _policy, render_pdf
from painel.categories import Category
from painel.fmt import brl, duracao

CATEGORIES = [Category.LOCAL_FIXO, Category.MOVEL_VC1, Category.LDN_FIXO, Category.MOVEL_VC2, Category.LDI,
              Category.ESPECIAL, Category.GRATUITA, Category.MOVEL_VC3]


def sample_document(calls: int = 200, month: str = "2026-10") -> InvoiceDocument:
    """A realistic invoice: 200 calls over the month, every category, a 12-month chart."""
    start = datetime(2026, 10, 1, 11, tzinfo=timezone.utc)
    printed = []
    for i in range(calls):
        category = CATEGORIES[i % len(CATEGORIES)]
        seconds = 17 + (i * 37) % 900
        amount = (Decimal(seconds) * Decimal("0.0021")).quantize(Decimal("0.01"))
        number = f"(98) 9{8100 + i:04d}-{(i * 7919) % 10000:04d}" if "movel" in category.value \
            else f"(86) 3{200 + i % 700:03d}-{(i * 31) % 10000:04d}"
        printed.append(PrintedCall((start + timedelta(minutes=211 * i)).strftime("%d/%m/%Y %H:%M"),
                                   ("Efetuada", "Siga-me", "A cobrar")[i % 3], number, category.label,
                                   duracao(seconds), brl(amount)))
    lines = tuple(PrintedLine(c.label, str(20 + i), f"{31 + i},40", brl(Decimal("3.18") * (i + 1)))
                  for i, c in enumerate(Category)) + (PrintedLine("Mensalidade do plano", "", "", "R$ 37,50"),)
    months = last_months(month)
    rows = [(m, c.value, (i * 13 + j * 7) % 40) for i, m in enumerate(months) for j, c in enumerate(CATEGORIES)]
    return InvoiceDocument(
        operator=Operator("Operadora Painel Telecom", "12.345.678/0001-95", "Av. Dom Luís, 500 – Fortaleza/CE",
                          "suporte@painel.example · (85) 4004-0000"),
        invoice_id=123456, month=month, customer_name="RESIDÊNCIA DO SR MARCOS ALBUQUERQUE",
        customer_document="529.982.247-25", circuit_number="8011441", circuit_name="SaperxTeste",
        timezone="America/Fortaleza", period="01/10/2026 a 31/10/2026", issued="01/11/2026", due="11/11/2026",
        state="closed", status="Aguardando pagamento, vencimento 11/11/2026", paid=False, lines=lines,
        total="R$ 1.234,56", calls=tuple(printed), chart=chart_data(rows, months),
    )


def naive_html(doc: InvoiceDocument) -> str:
    """What a first template does: one table cell per value (the ~750 ms the issue measured)."""
    rows = "".join(
        f"<tr><td>{c.when}</td><td>{c.kind}</td><td>{c.number}</td><td>{c.category}</td>"
        f"<td align=right>{c.duration}</td><td align=right>{c.amount}</td></tr>" for c in doc.calls)
    return f"""<html><head><style>
    @font-face {{ font-family: PS; src: url("fonts/DejaVuSans.ttf"); }}
    @page {{ size: a4; margin: 1.3cm; }} body {{ font-family: PS; font-size: 7.5pt; }}
    </style></head><body><h1>Fatura</h1><table repeat="1"><tr><th>Data e hora</th><th>Tipo</th><th>Número</th>
    <th>Categoria</th><th>Duração</th><th>Valor</th></tr>{rows}</table></body></html>"""


def render_naive(doc: InvoiceDocument) -> bytes:
    from xhtml2pdf import pisa

    out = io.BytesIO()
    pisa.CreatePDF(naive_html(doc), dest=out, path=str(ASSETS_DIR / "invoice.html"), resource_policy=_policy())
    return out.getvalue()


_platypus_font = False


def render_platypus(doc: InvoiceDocument) -> bytes:
    """The floor: ReportLab's platypus drawing the same itemized table, same font, no HTML."""
    global _platypus_font
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import LongTable, SimpleDocTemplate, TableStyle

    if not _platypus_font:
        pdfmetrics.registerFont(TTFont("PainelSans", str(ASSETS_DIR / "fonts" / "DejaVuSans.ttf")))
        _platypus_font = True
    data = [["Data e hora", "Tipo", "Número", "Categoria", "Duração", "Valor"]]
    data += [[c.when, c.kind, c.number, c.category, c.duration, c.amount] for c in doc.calls]
    table = LongTable(data, repeatRows=1, colWidths=[3.4 * cm, 2 * cm, 3.9 * cm, 3.7 * cm, 2 * cm, 2.6 * cm])
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "PainelSans", 7.5),
                               ("ALIGN", (4, 0), (-1, -1), "RIGHT"),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4"))]))
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, leftMargin=1.3 * cm, rightMargin=1.3 * cm).build([table])
    return out.getvalue()


def _times(fn, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm: fonts, templates, matplotlib
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def single_pdf_figures(runs: int = 30) -> dict[str, float]:
    doc = sample_document()
    size = len(render_pdf(doc))
    # interleave the four renderers so that the machine's noise hits them alike
    series: dict[str, list[float]] = {"pdf": [], "chart": [], "platypus": [], "naive": []}
    fns = {"pdf": lambda: render_pdf(doc), "chart": lambda: render_png(doc.chart),
           "platypus": lambda: render_platypus(doc), "naive": lambda: render_naive(doc)}
    for fn in fns.values():
        fn()
    for _ in range(runs):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            series[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in series.items()}
    print(f"one invoice PDF, chart + 200 itemized calls ({size // 1024} KiB), {runs} runs each, interleaved:")
    print(f"  painel template     median {med['pdf'] * 1000:6.1f} ms   p90 {_pct(series['pdf'], .9) * 1000:6.1f} ms"
          f"   (target <= 300 ms)")
    print(f"    of which chart    median {med['chart'] * 1000:6.1f} ms")
    print(f"  one cell per value  median {med['naive'] * 1000:6.1f} ms   (straightforward xhtml2pdf table, no chart)")
    print(f"  platypus floor      median {med['platypus'] * 1000:6.1f} ms   (same itemized table, no chart)")
    print(f"  ratio painel/platypus      {med['pdf'] / med['platypus']:.2f}x;"
          f"  ratio without the chart {(med['pdf'] - med['chart']) / med['platypus']:.2f}x")
    return med


def month_figures(engine, settings, month: str, workers: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Render every closed invoice of ``month`` with ``workers`` processes; prints PDFs/s."""
    from billing.pdf import invoices_of_month, pdf_dir, render_month
    from bench.common import MemorySampler

    count = len(invoices_of_month(engine, month))
    with MemorySampler() as sampler:
        t = time.perf_counter()
        result = render_month(engine, settings, month, workers=workers, force=True, batch=25)
        elapsed = time.perf_counter() - t
    size = sum(p.stat().st_size for p in (Path(pdf_dir(settings)) / month).glob("*.pdf"))
    print(f"  all PDFs of {month}: {count:,} invoices with {workers} worker process(es): {elapsed:.1f} s = "
          f"{count / elapsed:.1f} PDFs/s ({result.summary()}; {size / 2**20:.0f} MiB on disk; "
          f"peak RSS of the process tree {sampler.peak_mib:.0f} MiB)", flush=True)
    return {"seconds": elapsed, "per_second": count / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30, help="renders per variant (default 30)")
    args = parser.parse_args()
    single_pdf_figures(args.runs)


if __name__ == "__main__":
    main()
