"""The admin home: the menu's sections with a few counts, and the latest audit events."""
from __future__ import annotations

from flask import render_template
from sqlalchemy import select

from painel.customers import summary
from painel.models import AuditEvent
from webui.admin import admin
from webui.admin.access import requires
from webui.admin.auditoria import event_rows
from webui.db import db

RECENT = 10


@admin.route("/")
@requires("read")
def home():  # type: ignore[no-untyped-def]
    session = db()
    recent = list(session.scalars(select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                                  .limit(RECENT)))
    return render_template("admin/home.html", counts=summary(session), recent=event_rows(recent))
