"""Call-routing rules: the data the router decides from, how it is read, and how it changes.

Every change that affects routing (blacklist, follow-me, ACB, Gestão Web flags, DIDs,
circuits) goes through the functions here, which record an audit event and bump the
rules version; each router instance polls that version and reloads within its
refresh interval, so a change reaches the next call on every router within 2 seconds.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from painel.audit import record
from painel.dialing import check_destination
from painel.errors import NotFound, UnknownCircuit, UnknownDid, ValidationError
from painel.models import BlacklistEntry, Circuit, Did, RulesVersion
from painel.numbering import normalize

FOLLOWME_MODES = ("always", "no_answer", "unavailable")
FOLLOWME_MODE_LABELS = {"always": "sempre", "no_answer": "não atende", "unavailable": "indisponível"}


@dataclass(frozen=True, slots=True)
class BlacklistRule:
    id: int
    #: E.164 digits without '+' (exact) or a prefix of digits as dialed/normalized
    number: str
    is_prefix: bool = False
    #: E.164 digits of the only DID it applies to (None: all the circuit's DIDs)
    did: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FollowMe:
    destination: str  # as the subscriber typed it (dialed through the circuit's outbound route)
    mode: str = "always"  # always | no_answer | unavailable
    timeout: int = 20


@dataclass(frozen=True, slots=True)
class DidRules:
    """Everything decide() needs about one DID, as the cache holds it."""

    did: str  # E.164 digits without '+'
    circuit: str
    circuit_active: bool
    home_ddd: str
    flags: frozenset[str]  # Gestão Web flags that are on ("blacklist", "sigame", "acb", ...)
    blacklist: tuple[BlacklistRule, ...] = ()
    block_anonymous: bool = False
    acb: bool = False
    follow_me: FollowMe | None = None
    outbound_rules: tuple[str, ...] = ()
    outbound_caller_id: str | None = None



def _flags(c: Circuit) -> frozenset[str]:
    from painel.models import GESTAO_WEB_FLAGS

    return frozenset(f for f in GESTAO_WEB_FLAGS if getattr(c, f"flag_{f}"))


def load_did_rules(session: Session) -> dict[str, DidRules]:
    """Every routed DID with its circuit's rules, keyed by E.164 digits."""
    circuits = {c.id: c for c in session.scalars(select(Circuit))}
    blacklist: dict[int, list[BlacklistRule]] = {}
    did_digits = {d.id: d.e164.lstrip("+") for d in session.scalars(select(Did))}
    for e in session.scalars(select(BlacklistEntry)):
        blacklist.setdefault(e.circuit_id, []).append(BlacklistRule(
            id=e.id, number=e.number, is_prefix=e.is_prefix,
            did=did_digits.get(e.did_id) if e.did_id else None, expires_at=e.expires_at))
    out: dict[str, DidRules] = {}
    for d in session.scalars(select(Did).where(Did.circuit_id.is_not(None))):
        c = circuits[d.circuit_id]
        follow = None
        if d.followme_enabled and d.followme_destination_raw:
            follow = FollowMe(d.followme_destination_raw, d.followme_mode, d.followme_timeout)
        digits = d.e164.lstrip("+")
        out[digits] = DidRules(
            did=digits, circuit=c.number, circuit_active=c.active, home_ddd=c.home_ddd,
            flags=_flags(c), blacklist=tuple(blacklist.get(c.id, ())), block_anonymous=c.block_anonymous,
            acb=d.acb_enabled, follow_me=follow, outbound_rules=tuple(json.loads(c.outbound_rules or "[]")),
            outbound_caller_id=c.outbound_caller_id,
        )
    return out


def rules_version(session: Session) -> int:
    return session.scalar(select(RulesVersion.version).where(RulesVersion.id == 1)) or 0


def bump_rules_version(session: Session) -> None:
    """Tell every router that the rules changed (in the caller's transaction)."""
    now = datetime.now(timezone.utc)
    n = session.execute(update(RulesVersion).where(RulesVersion.id == 1)
                        .values(version=RulesVersion.version + 1, changed_at=now)).rowcount
    if not n:
        session.add(RulesVersion(id=1, version=1, changed_at=now))
    session.flush()


def add_blacklist_hits(session: Session, hits: dict[int, int], at: datetime) -> None:
    """Count router hits on blacklist entries (not a rules change: no version bump)."""
    for entry_id, n in hits.items():
        session.execute(update(BlacklistEntry).where(BlacklistEntry.id == entry_id)
                        .values(hits=BlacklistEntry.hits + n, last_hit_at=at))


# ---------------------------------------------------------------- changes (CLI, portal, admin)

def circuit_by_number(session: Session, number: str) -> Circuit:
    circuit = session.scalar(select(Circuit).where(Circuit.number == number))
    if circuit is None:
        raise UnknownCircuit(number)
    return circuit


def did_by_number(session: Session, number: str) -> Did:
    digits = "".join(ch for ch in number if ch.isdigit())
    did = session.scalar(select(Did).where(Did.e164 == "+" + digits))
    if did is None or did.circuit_id is None:
        raise UnknownDid(number)
    return did


def normalize_blacklist_number(raw: str, home_ddd: str, is_prefix: bool) -> str:
    """What a blacklist entry stores: E.164 digits for a number, the dialed digits for a prefix."""
    digits = "".join(ch for ch in raw if ch.isdigit())
    if is_prefix:
        if not digits or len(digits) > 15:
            raise ValidationError("prefixo inválido: informe de 1 a 15 dígitos (ex.: 0303)")
        return digits
    try:
        return normalize(raw, home_ddd).e164.lstrip("+")
    except Exception as exc:  # InvalidNumber carries the pt-BR reason
        raise ValidationError(f"número inválido para a blacklist: {getattr(exc, 'why', exc)}") from None


def expiry_of_day(day: date, circuit_timezone: str) -> datetime:
    """An entry that "expires on ``day``" stops blocking at 00:00 of that day on the circuit's
    clock (the portal and the CLI mean the same instant); returned in UTC."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(circuit_timezone)).astimezone(timezone.utc)


def blacklist_add(session: Session, circuit: Circuit, raw: str, *, is_prefix: bool = False,
                  note: str | None = None, did: str | None = None, expires_at: datetime | None = None,
                  actor: tuple[str, str] = ("cli", "cli"), address: str | None = None) -> BlacklistEntry:
    number = normalize_blacklist_number(raw, circuit.home_ddd, is_prefix)
    did_id = None
    if did:
        d = did_by_number(session, did)
        if d.circuit_id != circuit.id:
            raise NotFound("esse número (DID) não pertence ao circuito")
        did_id = d.id
    exists = session.scalar(select(BlacklistEntry).where(
        BlacklistEntry.circuit_id == circuit.id, BlacklistEntry.number == number,
        BlacklistEntry.is_prefix == is_prefix, BlacklistEntry.did_id == did_id if did_id else BlacklistEntry.did_id.is_(None)))
    if exists is not None:
        raise ValidationError("esse número já está na blacklist")
    entry = BlacklistEntry(circuit_id=circuit.id, number=number, raw=raw.strip(), is_prefix=is_prefix,
                           note=(note or None), did_id=did_id, expires_at=expires_at)
    session.add(entry)
    session.flush()
    record(session, actor_kind=actor[0], actor=actor[1], action="blacklist.add", target_kind="circuit",
           target_id=circuit.number, after={"id": entry.id, "number": number, "prefix": is_prefix,
                                            "did": did, "note": note, "expires_at": expires_at},
           address=address)
    bump_rules_version(session)
    return entry


def blacklist_remove(session: Session, circuit: Circuit, entry_id: int, *,
                     actor: tuple[str, str] = ("cli", "cli"), address: str | None = None) -> None:
    entry = session.get(BlacklistEntry, entry_id)
    if entry is None or entry.circuit_id != circuit.id:  # another circuit's entry is "not found"
        raise NotFound("entrada da blacklist não encontrada")
    record(session, actor_kind=actor[0], actor=actor[1], action="blacklist.remove", target_kind="circuit",
           target_id=circuit.number, before={"id": entry.id, "number": entry.number, "prefix": entry.is_prefix},
           address=address)
    session.delete(entry)
    bump_rules_version(session)


def set_block_anonymous(session: Session, circuit: Circuit, on: bool, *,
                        actor: tuple[str, str] = ("cli", "cli"), address: str | None = None) -> None:
    record(session, actor_kind=actor[0], actor=actor[1], action="blacklist.anonymous", target_kind="circuit",
           target_id=circuit.number, before={"block_anonymous": circuit.block_anonymous},
           after={"block_anonymous": on}, address=address)
    circuit.block_anonymous = on
    bump_rules_version(session)


def followme_set(session: Session, did: Did, destination: str, mode: str = "always", timeout: int = 20, *,
                 actor: tuple[str, str] = ("cli", "cli"), address: str | None = None) -> None:
    """Turn follow-me on; the destination must fit the circuit's outbound dialing rules."""
    if mode not in FOLLOWME_MODES:
        raise ValidationError(f"modo de siga-me inválido: {mode} (use {', '.join(FOLLOWME_MODES)})")
    if not 5 <= timeout <= 120:
        raise ValidationError("o tempo para 'não atende' deve ficar entre 5 e 120 segundos")
    circuit = session.get(Circuit, did.circuit_id)
    check = check_destination(destination, circuit.home_ddd, json.loads(circuit.outbound_rules or "[]"))
    if not check.allowed:
        raise ValidationError(check.reason or "destino não permitido")
    before = {"enabled": did.followme_enabled, "destination": did.followme_destination_raw,
              "mode": did.followme_mode, "timeout": did.followme_timeout}
    did.followme_enabled = True
    did.followme_destination_raw = destination.strip()
    did.followme_destination = check.info.e164 if check.info else None
    did.followme_mode = mode
    did.followme_timeout = timeout
    record(session, actor_kind=actor[0], actor=actor[1], action="followme.set", target_kind="did",
           target_id=did.e164, before=before,
           after={"enabled": True, "destination": destination, "mode": mode, "timeout": timeout,
                  "rule": check.rule}, address=address)
    bump_rules_version(session)


def followme_off(session: Session, did: Did, *, actor: tuple[str, str] = ("cli", "cli"),
                 address: str | None = None) -> None:
    record(session, actor_kind=actor[0], actor=actor[1], action="followme.off", target_kind="did",
           target_id=did.e164, before={"enabled": did.followme_enabled}, after={"enabled": False}, address=address)
    did.followme_enabled = False
    bump_rules_version(session)


def acb_set(session: Session, did: Did, on: bool, *, actor: tuple[str, str] = ("cli", "cli"),
            address: str | None = None) -> None:
    record(session, actor_kind=actor[0], actor=actor[1], action="acb.on" if on else "acb.off", target_kind="did",
           target_id=did.e164, before={"acb": did.acb_enabled}, after={"acb": on}, address=address)
    did.acb_enabled = on
    bump_rules_version(session)


def did_map_xml(session: Session, circuit_dial_string: str = "user/{circuit}") -> str:
    """The fs-config DID map (context painel_did_map): each active DID's default route.

    FreeSWITCH runs it before asking the router, so a call reaches its circuit even when
    the router and the database are down (fs-config/dialplan/painel_did_map.xml).
    """
    from xml.sax.saxutils import quoteattr

    rows = session.execute(
        select(Did.e164, Circuit.number).join(Circuit, Circuit.id == Did.circuit_id)
        .where(Circuit.active.is_(True)).order_by(Did.e164)).all()
    lines = [
        "<!-- Painel: static DID map (GENERATED by `painel router export-dids`; do not edit). -->",
        "<include>",
        '  <context name="painel_did_map">',
    ]
    for e164, circuit in rows:
        did = e164.lstrip("+")
        if not did.isdigit() or not circuit.isdigit():
            continue  # never write anything a dialplan could misread
        bridge = circuit_dial_string.format(circuit=circuit)
        lines += [
            f'    <extension name="{did}">',
            f'      <condition field="destination_number" expression="^{did}$">',
            f'        <action application="set" data={quoteattr("painel_circuit=" + circuit)}/>',
            f'        <action application="set" data={quoteattr("painel_bridge=" + bridge)}/>',
            "      </condition>",
            "    </extension>",
        ]
    lines += ["  </context>", "</include>", ""]
    return "\n".join(lines)
