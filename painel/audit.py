"""Audit trail: who changed what, when, from which address."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from painel.models import AuditEvent


def record(
    session: Session, *, actor_kind: str, actor: str, action: str, target_kind: str | None = None,
    target_id: str | int | None = None, before: Any = None, after: Any = None, address: str | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction."""
    event = AuditEvent(
        actor_kind=actor_kind, actor=actor, action=action, target_kind=target_kind,
        target_id=None if target_id is None else str(target_id),
        before=None if before is None else json.dumps(before, ensure_ascii=False, default=str, sort_keys=True),
        after=None if after is None else json.dumps(after, ensure_ascii=False, default=str, sort_keys=True),
        address=address,
    )
    session.add(event)
    return event
