"""Which circuit a CDR leg belongs to, what it is, and what it costs (pure).

The painel_* variables set by the router and the dialplans are the contract
(DESIGN.md): they name the circuit and the business direction. FreeSWITCH's own
``direction`` is the channel's and is never used. A leg without the variables is a
b-leg linked to its call (never billed) when it can be recognised as one, else it is
attributed from its SIP user / accountcode / DID when exactly one circuit fits, else
quarantined.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from cdr_ingest.records import CdrRecord
from painel.catalog import Catalog, CircuitInfo
from painel.categories import Category
from painel.errors import InvalidNumber, NoPlan
from painel.models import BILLED_DIRECTIONS
from painel.numbering import normalize_and_classify
from painel.rating import PlanVersionRules, Rated, rate_call, select_version

DIRECTIONS = frozenset({"inbound", "outbound", "forwarded", "collect"})
#: directions the circuit pays for; received calls cost zero
#: dialplan contexts of legs created by Painel's own bridges (DESIGN.md, lab finding 5)
B_LEG_CONTEXTS = frozenset({"painel_actions"})
#: contexts whose a-legs always get painel_* from the dialplan: a leg there without
#: them is the b-leg (the outbound carrier leg shares the context of its a-leg)
PAINEL_CONTEXTS = frozenset({"painel_actions", "painel_outbound"})

ZERO = Decimal("0.00")
#: painel_* values stored in a column of their own, and that column's width (painel.models.Cdr)
PAINEL_WIDTHS = (("painel_did", 32), ("painel_rule", 16), ("painel_action", 16))


@dataclass(slots=True)
class Quarantine:
    reason: str  # malformed | unknown_circuit | ambiguous | bad_number | no_plan
    detail: str


@dataclass(slots=True)
class CallRow:
    """Values of one ``cdrs`` row (everything but the source bookkeeping)."""

    uuid: str
    leg: str
    role: str  # call | linked
    call_uuid: str
    bleg_uuid: str | None
    circuit_id: int | None
    did: str | None
    direction: str | None
    rule: str | None
    action: str | None
    attributed_by: str | None
    caller_raw: str
    destination_raw: str
    number_e164: str | None
    category: str | None
    start_utc: datetime
    answer_utc: datetime | None
    end_utc: datetime | None
    duration: int
    billsec: int
    hangup_cause: str
    billable_seconds: int
    amount: Decimal
    plan_version_id: int | None
    band: str | None
    bill_month: str | None
    raw: str


def linked_row(rec: CdrRecord, call_uuid: str | None) -> CallRow:
    """A leg that belongs to another leg's call: stored, linked, never billed."""
    return CallRow(  # positional on purpose: it runs for every CDR
        rec.uuid,
        rec.leg or "b",
        "linked",
        call_uuid or rec.originating_leg_uuid or rec.uuid,
        rec.bleg_uuid,
        None,
        None,
        None,
        None,
        None,
        None,
        rec.caller_id_number,
        rec.destination_number,
        None,
        None,
        rec.start,
        rec.answer,
        rec.end,
        rec.duration,
        rec.billsec,
        rec.hangup_cause,
        0,
        ZERO,
        None,
        None,
        None,
        rec.raw,
    )


@lru_cache(maxsize=100_000)
def _classify(raw: str, home_ddd: str) -> tuple[str, Category, bool]:
    info, category = normalize_and_classify(raw, home_ddd)
    return info.e164, category, info.collect


def _rate(billsec: int, category: Category, plan: PlanVersionRules, local_start: datetime,
          free: bool, catalog: Catalog) -> Rated:
    # Without a time band the price depends only on duration and category, so calls
    # share results; this keeps a million-row ingest from redoing Decimal arithmetic.
    if plan.time_band is not None:
        return rate_call(billsec, category, local_start, plan, free=free)
    key = (id(plan), billsec, category, free)
    rated = catalog.rate_cache.get(key)
    if rated is None:
        rated = rate_call(billsec, category, local_start, plan, free=free)
        catalog.rate_cache[key] = rated
    return rated


def find_circuit(rec: CdrRecord, catalog: Catalog) -> tuple[CircuitInfo | None, str | None, str | None]:
    """Fallback attribution: (circuit, how, direction) when exactly one circuit fits."""
    candidates: dict[int, tuple[CircuitInfo, str, str]] = {}
    for value, how in ((rec.accountcode, "accountcode"), (rec.user_name, "sip_user"),
                       (rec.sip_from_user, "sip_user"), (rec.caller_id_number, "sip_user")):
        if value:
            c = catalog.circuits_by_number.get(value)
            if c is not None:
                candidates.setdefault(c.id, (c, how, "outbound"))
    did_circuit = catalog.circuit_for_did(rec.destination_number) if rec.destination_number else None
    if did_circuit is not None:
        candidates.setdefault(did_circuit.id, (did_circuit, "did", "inbound"))
    if len(candidates) != 1:
        return None, ("ambiguous" if candidates else None), None
    circuit, how, direction = next(iter(candidates.values()))
    return circuit, how, direction


def attribute(rec: CdrRecord, catalog: Catalog, known_b_legs: Mapping[str, str] | None = None) -> CallRow | Quarantine:
    """Turn one parsed leg into a rated ``cdrs`` row, or say why it must wait in quarantine.

    ``known_b_legs`` maps the uuids that some a-leg names as its ``bleg_uuid`` (in the
    same batch or already stored) to that a-leg: such a leg without painel_* variables
    is linked to it, not billed.
    """
    known = known_b_legs or {}
    painel = rec.painel
    for key, width in PAINEL_WIDTHS:
        if len(painel.get(key, "")) > width:
            return Quarantine("malformed", f"{key} longo demais ({len(painel[key])} caracteres; máximo {width})")
    direction = painel.get("painel_direction")
    circuit_number = painel.get("painel_circuit")
    if direction or circuit_number:
        if direction not in DIRECTIONS:
            return Quarantine("malformed", f"painel_direction inválido: {direction!r}")
        if not circuit_number:
            return Quarantine("malformed", "painel_direction sem painel_circuit")
        circuit = catalog.circuits_by_number.get(circuit_number)
        if circuit is None:
            return Quarantine("unknown_circuit", f"circuito {circuit_number} não cadastrado")
        attributed_by = "painel"
        leg = rec.leg or ("b" if direction == "forwarded" else "a")
    else:
        if (rec.leg == "b" or rec.uuid in known or rec.context in B_LEG_CONTEXTS
                or (rec.has_painel_fields and rec.context in PAINEL_CONTEXTS)):
            return linked_row(rec, known.get(rec.uuid) or rec.originating_leg_uuid)
        circuit, how, direction = find_circuit(rec, catalog)
        if circuit is None:
            if how == "ambiguous":
                return Quarantine("ambiguous", "sem variáveis painel_* e mais de um circuito corresponde")
            return Quarantine(
                "unknown_circuit",
                "sem variáveis painel_* e nenhum circuito corresponde "
                f"(origem {rec.caller_id_number!r}, destino {rec.destination_number!r})",
            )
        attributed_by = how
        leg = rec.leg or "a"
    return _priced_row(rec, circuit, direction, leg, attributed_by, catalog, known.get(rec.uuid))


@dataclass(slots=True)
class Priced:
    """What rating decided for one call."""

    number_e164: str | None
    category: Category | None
    billable_seconds: int
    amount: Decimal
    plan_version_id: int | None
    band: str | None
    bill_month: str


def price_call(circuit: CircuitInfo, direction: str, other: str, billsec: int, start_utc: datetime,
               catalog: Catalog) -> Priced | Quarantine:
    """Classify the other party and price the call for the circuit (zero for received calls).

    ``other`` is who called (received and collect calls) or who was called. A number
    that cannot be classified only matters when there is something to bill.
    """
    local_start = start_utc.astimezone(circuit.tz)
    bill_month = f"{local_start.year:04d}-{local_start.month:02d}"
    number_e164: str | None = None
    category: Category | None = None
    collect_dialed = False
    try:
        number_e164, category, collect_dialed = _classify(other, circuit.home_ddd)
    except InvalidNumber as exc:
        if direction in BILLED_DIRECTIONS and billsec > 0:
            return Quarantine("bad_number", exc.message)
    if direction not in BILLED_DIRECTIONS:
        # a received call has no rating category: the category is what the circuit pays for
        return Priced(number_e164, None, 0, ZERO, None, None, bill_month)
    if billsec <= 0 or category is None:
        return Priced(number_e164, category, 0, ZERO, None, None, bill_month)
    versions = catalog.plans.get(circuit.rate_plan_id) if circuit.rate_plan_id is not None else None
    if not versions:
        return Quarantine("no_plan", f"circuito {circuit.number} sem plano de tarifas")
    try:
        plan = select_version(versions, local_start.date())
        # a collect call the circuit dialed is paid by the called party
        rated = _rate(billsec, category, plan, local_start.replace(tzinfo=None),
                      free=collect_dialed and direction == "outbound", catalog=catalog)
    except NoPlan as exc:
        return Quarantine("no_plan", f"circuito {circuit.number}: {exc.message}")
    return Priced(number_e164, category, rated.billable_seconds, rated.amount, rated.version_id,
                  rated.band, bill_month)


def _priced_row(
    rec: CdrRecord, circuit: CircuitInfo, direction: str, leg: str, attributed_by: str, catalog: Catalog,
    a_leg_uuid: str | None = None,
) -> CallRow | Quarantine:
    painel = rec.painel
    other = rec.caller_id_number if direction in ("inbound", "collect") else rec.destination_number
    priced = price_call(circuit, direction, other, rec.billsec, rec.start, catalog)
    if isinstance(priced, Quarantine):
        return priced
    category = priced.category
    return CallRow(  # positional on purpose: it runs for every CDR
        rec.uuid,
        leg,
        "call",
        a_leg_uuid or (rec.originating_leg_uuid if leg == "b" else None) or rec.uuid,
        rec.bleg_uuid,
        circuit.id,
        painel.get("painel_did") or (rec.destination_number if attributed_by == "did" else None),
        direction,
        painel.get("painel_rule"),
        painel.get("painel_action"),
        attributed_by,
        rec.caller_id_number,
        rec.destination_number,
        priced.number_e164,
        category.value if category is not None else None,
        rec.start,
        rec.answer,
        rec.end,
        rec.duration,
        rec.billsec,
        rec.hangup_cause,
        priced.billable_seconds,
        priced.amount,
        priced.plan_version_id,
        priced.band,
        priced.bill_month,
        rec.raw,
    )

