"""Who is signed in, what they may see, and the ownership checks every id in a URL goes through.

A subscriber signs in as a circuit (Usuário = the circuit number, the SIP account) and
sees the circuits of its customer, as the seed page lists every circuit of the
customer. Pages and actions are gated by the Gestão Web flags of the signed-in
circuit (``feature``); an action on another circuit of the customer also needs that
circuit's flag (``require_flag``). Anything that is not the customer's answers 404,
exactly like something that does not exist.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, has_request_context, request
from flask_login import UserMixin, current_user
from sqlalchemy import select

from painel.models import Circuit, Customer, Did, Invoice
from webui.db import db
from webui.extensions import login_manager

F = TypeVar("F", bound=Callable[..., Any])


def password_stamp(password_hash: str | None) -> str:
    """Changes whenever the password does, so a new password ends every other session."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


class Subscriber(UserMixin):
    """The signed-in circuit (Flask-Login's user)."""

    is_admin = False

    def __init__(self, circuit: Circuit) -> None:
        self.circuit_id = circuit.id
        self.number = circuit.number
        self.customer_id = circuit.customer_id
        self.stamp = password_stamp(circuit.web_password_hash)
        # held for the request: the session's identity map keeps objects weakly, and
        # without this every ``.circuit`` would read the row again
        self._circuit = circuit

    def get_id(self) -> str:
        return f"c:{self.circuit_id}:{self.stamp}"

    @property
    def circuit(self) -> Circuit:
        return self._circuit

    def has(self, flag: str) -> bool:
        return bool(getattr(self.circuit, f"flag_{flag}"))


def in_admin_area() -> bool:
    """Whether this request is for the admin pages (the ``admin`` blueprint)."""
    return has_request_context() and request.blueprint == "admin"


@login_manager.user_loader
def _load(user_id: str):  # type: ignore[no-untyped-def]
    """One loader, two kinds of user that never cross: "c:<circuit>:<stamp>" is a subscriber,
    seen only outside /admin; "a:<admin>:<stamp>" is operator staff, seen only inside it.
    Anywhere else the session is anonymous, so the portal's ``login_required`` refuses staff
    and the admin views refuse subscribers."""
    kind, _, rest = user_id.partition(":")
    if kind == "a":
        if not in_admin_area():
            return None
        from webui.admin.access import load_admin

        return load_admin(rest)
    if kind != "c" or in_admin_area():
        return None
    circuit_id, _, stamp = rest.partition(":")
    if not circuit_id.isdigit():
        return None
    circuit = db().get(Circuit, int(circuit_id))
    if circuit is None or not circuit.active or not circuit.flag_web:
        return None  # deactivated or Web flag turned off: the session ends
    if password_stamp(circuit.web_password_hash) != stamp:
        return None  # the password changed since this session signed in
    return Subscriber(circuit)


def client_address() -> str:
    return request.remote_addr or "-"


def actor() -> tuple[str, str]:
    """The audit actor of the signed-in subscriber."""
    return ("subscriber", current_user.number)


def feature(flag: str) -> Callable[[F], F]:
    """The view exists only when the signed-in circuit has ``flag`` (else 404)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated or not current_user.has(flag):
                abort(404)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def customer() -> Customer:
    found = db().get(Customer, current_user.customer_id)
    assert found is not None
    return found


def customer_circuits() -> list[Circuit]:
    """The active circuits of the signed-in customer, by number."""
    return list(db().scalars(select(Circuit).where(Circuit.customer_id == current_user.customer_id,
                                                   Circuit.active.is_(True)).order_by(Circuit.number)))


def owned_circuit(circuit_id: int, flag: str | None = None) -> Circuit:
    """The customer's circuit ``circuit_id`` (with ``flag`` on, if given), else 404."""
    circuit = db().get(Circuit, circuit_id)
    if circuit is None or circuit.customer_id != current_user.customer_id or not circuit.active:
        abort(404)
    if flag is not None and not getattr(circuit, f"flag_{flag}"):
        abort(404)
    return circuit


def owned_invoice(invoice_id: int) -> Invoice:
    """The customer's invoice, also of a circuit since deactivated (its history stays), else 404."""
    invoice = db().get(Invoice, invoice_id)
    if invoice is None:
        abort(404)
    circuit = db().get(Circuit, invoice.circuit_id)
    if circuit is None or circuit.customer_id != current_user.customer_id:
        abort(404)
    return invoice


def owned_did(did_id: int, flag: str | None = None) -> Did:
    did = db().get(Did, did_id)
    if did is None or did.circuit_id is None:
        abort(404)
    owned_circuit(did.circuit_id, flag)
    return did
