"""Números (DIDs): assign a public number to a circuit, move it, release it, import many.

The operator's staff do this from the admin pages and from ``painel did``; both call these
functions, which validate, write an audit event with before and after, and bump the rules
version so every router reloads within its poll interval. A released DID keeps its row
(its CDRs still name it) but routes nowhere. Moving or releasing clears what was the old
owner's: siga-me, ACB and blacklist entries scoped to that DID, so a number handed to a
new subscriber carries none of the previous one's settings.

The bulk import reads CSV lines ``numero;circuito`` (a header is optional, ``;`` or ``,``):
every line is checked first, and nothing is written when ``dry_run`` or when any line is
wrong (one transaction, all or nothing), with a report line per input line.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from painel.audit import record
from painel.errors import ConflictError, InvalidNumber, UnknownDid, ValidationError
from painel.models import BlacklistEntry, Circuit, Did
from painel.numbering import NumberKind, normalize
from painel.routing import bump_rules_version, circuit_by_number

#: what can be a DID: a geographic number (fixed or mobile) or a toll-free 0800
DID_KINDS = frozenset({NumberKind.FIXED, NumberKind.MOBILE, NumberKind.TOLLFREE})
#: the largest import accepted in one go (a typo'd file of a million lines is refused up front)
MAX_IMPORT_LINES = 50_000

Actor = tuple[str, str]


def did_e164(raw: str, home_ddd: str) -> str:
    """``raw`` as a DID's E.164 (``+5598...``), read with the circuit's DDD; ValidationError if it cannot be one."""
    try:
        info = normalize(raw, home_ddd)
    except InvalidNumber as exc:
        raise ValidationError(f"número inválido: {exc.why}") from None
    if info.kind not in DID_KINDS or not info.e164.startswith("+55"):
        raise ValidationError("um número (DID) precisa ser um número brasileiro fixo, móvel ou 0800")
    return info.e164


def _snapshot(did: Did, circuit_number: str | None, session: Session | None = None) -> dict[str, object]:
    snap: dict[str, object] = {"did": did.e164, "circuit": circuit_number, "followme": did.followme_enabled,
                               "followme_destination": did.followme_destination, "acb": did.acb_enabled}
    if session is not None and did.id is not None:
        snap["blacklist_scoped"] = sorted(session.scalars(
            select(BlacklistEntry.number).where(BlacklistEntry.did_id == did.id)))
    return snap


def _find(session: Session, e164: str) -> Did | None:
    return session.scalar(select(Did).where(Did.e164 == e164))


def _circuit_number(session: Session, circuit_id: int | None) -> str | None:
    return None if circuit_id is None else session.scalar(select(Circuit.number).where(Circuit.id == circuit_id))


def assign_did(session: Session, raw: str, circuit_number: str, *, actor: Actor, address: str | None = None) -> Did:
    """Route the number ``raw`` to circuit ``circuit_number``: a new DID, or a released one taken again.

    ConflictError when the number already belongs to a circuit (use ``move_did``).
    """
    circuit = circuit_by_number(session, circuit_number)
    if not circuit.active:
        raise ValidationError(f"o circuito {circuit.number} está desativado")
    e164 = did_e164(raw, circuit.home_ddd)
    did = _find(session, e164)
    if did is not None and did.circuit_id is not None:
        owner = _circuit_number(session, did.circuit_id)
        raise ConflictError(f"o número {e164} já pertence ao circuito {owner}; use mover")
    before = None
    if did is None:
        did = Did(e164=e164, raw=raw.strip(), circuit_id=circuit.id)
        session.add(did)
    else:
        before = _snapshot(did, None)
        did.raw, did.circuit_id = raw.strip(), circuit.id
    session.flush()
    record(session, actor_kind=actor[0], actor=actor[1], action="did.assign", target_kind="did", target_id=e164,
           before=before, after=_snapshot(did, circuit.number), address=address)
    bump_rules_version(session)
    return did


def move_did(session: Session, raw: str, circuit_number: str, *, actor: Actor, address: str | None = None) -> Did:
    """Route an assigned DID to another circuit; its siga-me and ACB are cleared (they were the old owner's)."""
    target = circuit_by_number(session, circuit_number)
    if not target.active:
        raise ValidationError(f"o circuito {target.number} está desativado")
    did = _find(session, did_e164(raw, target.home_ddd))
    if did is None or did.circuit_id is None:
        raise UnknownDid(raw)
    if did.circuit_id == target.id:
        raise ValidationError(f"o número {did.e164} já é do circuito {target.number}")
    before = _snapshot(did, _circuit_number(session, did.circuit_id), session)
    did.circuit_id = target.id
    _clear_features(session, did)
    session.flush()
    record(session, actor_kind=actor[0], actor=actor[1], action="did.move", target_kind="did", target_id=did.e164,
           before=before, after=_snapshot(did, target.number), address=address)
    bump_rules_version(session)
    return did


def release_did(session: Session, raw: str, *, actor: Actor, address: str | None = None) -> Did:
    """Take the DID from its circuit: calls to it are no longer routed; its features are cleared."""
    digits = "".join(ch for ch in raw if ch.isdigit())
    did = _find(session, "+" + digits) if digits else None
    if did is None or did.circuit_id is None:
        raise UnknownDid(raw)
    before = _snapshot(did, _circuit_number(session, did.circuit_id), session)
    did.circuit_id = None
    _clear_features(session, did)
    session.flush()
    record(session, actor_kind=actor[0], actor=actor[1], action="did.release", target_kind="did",
           target_id=did.e164, before=before, after=_snapshot(did, None), address=address)
    bump_rules_version(session)
    return did


def _clear_features(session: Session, did: Did) -> None:
    """What belonged to the previous owner: siga-me, ACB and blacklist entries scoped to this DID."""
    session.execute(delete(BlacklistEntry).where(BlacklistEntry.did_id == did.id))
    did.followme_enabled = False
    did.followme_destination = did.followme_destination_raw = None
    did.followme_mode, did.acb_enabled = "always", False


# ------------------------------------------------------------------ bulk import


@dataclass(frozen=True)
class ImportLine:
    line: int
    number: str
    circuit: str
    #: assign | move | unchanged | error
    outcome: str
    message: str


@dataclass
class ImportReport:
    lines: list[ImportLine] = field(default_factory=list)
    dry_run: bool = False
    applied: bool = False

    def count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line.outcome == outcome)

    @property
    def errors(self) -> list[ImportLine]:
        return [line for line in self.lines if line.outcome == "error"]

    def summary(self) -> str:
        return (f"assign={self.count('assign')} move={self.count('move')} unchanged={self.count('unchanged')} "
                f"error={self.count('error')} {'simulação' if self.dry_run else ('aplicado' if self.applied else 'nada gravado')}")


def _rows(stream: TextIO) -> Iterable[tuple[int, list[str]]]:
    text = stream.read()
    dialect = ";" if text.count(";") >= text.count(",") else ","
    for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=dialect), start=1):
        if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        yield number, [cell.strip() for cell in row]


def import_dids(session: Session, stream: TextIO, *, dry_run: bool = False, actor: Actor,
                address: str | None = None) -> ImportReport:
    """Check every line of a ``numero;circuito`` CSV, then apply them all or none.

    A number already on the named circuit is ``unchanged``; on another circuit, ``move``;
    new or released, ``assign``. Two lines for one number are an error. The caller commits
    (or rolls back) the session; nothing is written when the report has errors or on a dry run.
    """
    report = ImportReport(dry_run=dry_run)
    planned: list[tuple[ImportLine, str]] = []
    seen: dict[str, int] = {}
    circuits: dict[str, Circuit | None] = {}
    for line_no, row in _rows(stream):
        if line_no == 1 and row and row[0].lower() in ("numero", "número", "did", "number"):
            continue  # header
        if len(report.lines) >= MAX_IMPORT_LINES:
            raise ValidationError(f"arquivo grande demais: no máximo {MAX_IMPORT_LINES} linhas por importação")
        if len(row) < 2 or not row[0] or not row[1]:
            report.lines.append(ImportLine(line_no, row[0] if row else "", "", "error",
                                           "linha precisa de duas colunas: numero;circuito"))
            continue
        raw, circuit_number = row[0], row[1]
        if circuit_number not in circuits:
            circuits[circuit_number] = session.scalar(select(Circuit).where(Circuit.number == circuit_number))
        circuit = circuits[circuit_number]
        if circuit is None or not circuit.active:
            why = "circuito desconhecido" if circuit is None else "circuito desativado"
            report.lines.append(ImportLine(line_no, raw, circuit_number, "error", f"{why}: {circuit_number}"))
            continue
        try:
            e164 = did_e164(raw, circuit.home_ddd)
        except ValidationError as exc:
            report.lines.append(ImportLine(line_no, raw, circuit_number, "error", str(exc)))
            continue
        if e164 in seen:
            report.lines.append(ImportLine(line_no, raw, circuit_number, "error",
                                           f"número repetido (já na linha {seen[e164]})"))
            continue
        seen[e164] = line_no
        did = _find(session, e164)
        if did is not None and did.circuit_id == circuit.id:
            report.lines.append(ImportLine(line_no, e164, circuit_number, "unchanged", "já está neste circuito"))
        elif did is not None and did.circuit_id is not None:
            owner = _circuit_number(session, did.circuit_id)
            entry = ImportLine(line_no, e164, circuit_number, "move", f"muda do circuito {owner}")
            report.lines.append(entry)
            planned.append((entry, raw))
        else:
            entry = ImportLine(line_no, e164, circuit_number, "assign", "novo" if did is None else "reatribuído")
            report.lines.append(entry)
            planned.append((entry, raw))
    if dry_run or report.errors:
        return report
    for entry, raw in planned:
        if entry.outcome == "move":
            move_did(session, raw, entry.circuit, actor=actor, address=address)
        else:
            assign_did(session, raw, entry.circuit, actor=actor, address=address)
    report.applied = True
    return report
