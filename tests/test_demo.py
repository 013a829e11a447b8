"""`painel demo`: the seed's operator, real-looking CDRs, and nothing twice on a re-run."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from painel.demo import run_demo
from painel.models import BlacklistEntry, Cdr, Circuit, Customer, Did, QuarantinedCdr, RatePlanVersion

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)


def _counts(engine):  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m))
                for m in (Customer, Circuit, Did, BlacklistEntry, RatePlanVersion, Cdr, QuarantinedCdr)}


def test_demo_builds_the_operator_and_is_idempotent(engine, settings):  # type: ignore[no-untyped-def]
    first = run_demo(settings, engine, now=NOW, calls_per_day=1.0)
    assert first["stats"].quarantined == 0 and first["stats"].rated > 0
    counts = _counts(engine)
    with Session(engine) as s:
        c = s.scalar(select(Circuit).where(Circuit.number == "8011441"))
        assert (c.name, c.home_ddd, c.timezone) == ("SaperxTeste", "98", "America/Fortaleza")
        assert c.web_password_hash and "painel-demo" not in c.web_password_hash
        assert {x.home_ddd for x in s.scalars(select(Circuit))} >= {"98", "86", "85"}
        assert s.scalar(select(Customer.name).where(Customer.id == c.customer_id)).startswith("RESIDÊNCIA DO SR MA")
        # four months: three closed months before November and November to date
        months = set(s.scalars(select(Cdr.bill_month).where(Cdr.role == "call")))
        assert months == {"2026-08", "2026-09", "2026-10", "2026-11"}
        # every direction of the contract appears, and money is billed only where it should
        directions = set(s.scalars(select(Cdr.direction).where(Cdr.role == "call")))
        assert directions == {"inbound", "outbound", "forwarded", "collect"}
        assert s.scalar(select(func.count()).where(Cdr.direction == "inbound", Cdr.amount != 0)) == 0
        assert s.scalar(select(func.count()).where(Cdr.role == "linked", Cdr.amount != 0)) == 0
        # both CDR sources were used: CSV for past months, JSON for the current one
        assert set(s.scalars(select(Cdr.source).distinct())) == {"csv", "json"}
    again = run_demo(settings, engine, now=NOW, calls_per_day=1.0)
    assert again["stats"].rated == 0 and again["stats"].quarantined == 0
    assert again["stats"].duplicate == first["stats"].rated
    assert _counts(engine) == counts


def test_demo_bills_its_finished_months_once(engine, settings):  # type: ignore[no-untyped-def]
    import hashlib
    from decimal import Decimal

    from billing.payments import invoice_balance
    from billing.pdf import pdf_dir
    from billing.summary import customer_summary
    from painel.demo import bill_demo
    from painel.models import Invoice, Payment

    run_demo(settings, engine, now=NOW, calls_per_day=1.0)
    first = bill_demo(settings, engine, now=NOW)
    assert first["months"] == ["2026-08", "2026-09", "2026-10"]
    with Session(engine) as s:
        circuits = s.scalar(select(func.count()).select_from(Circuit).where(Circuit.active.is_(True)))
        invoices = list(s.scalars(select(Invoice).order_by(Invoice.id)))
        assert first["closed"] == first["invoices"] == first["pdfs"] == len(invoices) == 3 * circuits
        for inv in invoices:
            # closed as the nightly job would have, on the first day of the next month
            assert inv.issued_on.day == 1 and inv.issued_on.strftime("%Y-%m") > inv.month
            data = (pdf_dir(settings) / inv.pdf_path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == inv.pdf_sha256
            balance = invoice_balance(s, inv.id)
            if inv.month == "2026-10" and inv.circuit.number == "8011441":
                assert inv.state == "closed" and balance.paid == 0
            elif inv.month == "2026-10" and inv.circuit.number == "8010348":
                assert inv.state == "closed" and balance.paid == Decimal("20.00")
            else:
                assert inv.state == "paid" and balance.paid == inv.total
                assert all(p.paid_on <= inv.due_on for p in inv.payments)
        payments = s.scalar(select(func.count()).select_from(Payment))
        assert first["payments"] == payments == len(invoices) - 1
        customer_id = s.scalar(select(Circuit.customer_id).where(Circuit.number == "8011441"))
        summary = customer_summary(s, customer_id, NOW)
        assert summary.last_invoice.month == "2026-10" and not summary.last_invoice.paid
    again = bill_demo(settings, engine, now=NOW)
    assert (again["closed"], again["payments"], again["pdfs"]) == (0, 0, len(invoices))
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == payments
