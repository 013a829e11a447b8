"""The admin home: the menu's sections with a few counts, and the latest audit events."""
from __future__ import annotations

from flask import render_template
from sqlalchemy import exists, func, select
from sqlalchemy.orm import aliased

from painel.customers import summary
from painel.models import AuditEvent, Did, Invoice, Message, QuarantinedCdr, RatePlan
from webui.admin import admin
from webui.admin.access import requires
from webui.admin.auditoria import event_rows
from webui.admin.roteadores import router_urls
from webui.db import db

RECENT = 10


def section_counts() -> dict[str, int]:
    """What waits in each section: numbers, plans, invoices to pay, quarantine, unanswered requests."""
    session = db()
    reply = aliased(Message)

    def count(query) -> int:  # type: ignore[no-untyped-def]
        return session.scalar(query) or 0

    return {
        "dids": count(select(func.count()).select_from(Did).where(Did.circuit_id.is_not(None))),
        "dids_free": count(select(func.count()).select_from(Did).where(Did.circuit_id.is_(None))),
        "plans": count(select(func.count()).select_from(RatePlan).where(RatePlan.active.is_(True))),
        "to_pay": count(select(func.count()).select_from(Invoice).where(Invoice.state == "closed")),
        "quarantine": count(select(func.count()).select_from(QuarantinedCdr)
                            .where(QuarantinedCdr.resolved_at.is_(None))),
        "unanswered": count(select(func.count()).select_from(Message).where(
            Message.direction == "to_operator", ~exists().where(reply.reply_to_id == Message.id))),
        "routers": len(router_urls()),
    }


@admin.route("/")
@requires("read")
def home():  # type: ignore[no-untyped-def]
    session = db()
    recent = list(session.scalars(select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                                  .limit(RECENT)))
    return render_template("admin/home.html", counts=summary(session), sections=section_counts(),
                           recent=event_rows(recent))
