"""The captures of a real FreeSWITCH 1.10.12, ingested against the demo's circuit 8011441.

Every scenario Painel handles (DESIGN.md, lab README): each call is billed exactly once,
to the right circuit, direction, category and amount; b-legs are linked to their call
and never billed a second time; unanswered calls cost nothing.

Prices come from the demo plan PADRAO version 2 (valid from 2026-09-01; the lab calls
are of 2026-11-28): local fixo 0,10/min, LDN fixo 0,25, móvel VC1 0,39, VC3 0,79,
LDI 1,50 + 0,10 connection; 30 s minimum then 6 s steps, half-up per call.
"""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cdr_ingest.pipeline import Ingester
from painel.models import Cdr, Circuit

LAB = Path(__file__).resolve().parents[1] / "data" / "third_party" / "freeswitch" / "lab_1.10.12"
FILE_RE = re.compile(r"^(s\w+?)_([ab])_([0-9a-f-]{36})\.cdr\.json$")

# scenario -> the a-leg's (direction, category, billable seconds, amount, rule),
# and what the b-leg is: "linked" or the forwarded leg's (direction, category, billable s, amount)
EXPECTED = {
    "s1_default_bridge": (("inbound", None, 0, "0.00", "default"), "linked"),
    "s2_blacklist_reject": (("inbound", None, 0, "0.00", "blacklist"), None),
    "s3_collect_reject": (("collect", "movel_vc1", 0, "0.00", "collect"), None),
    # accepted collect call: 40 s -> 42 s at VC1 0,39/min = 0,273 -> R$ 0,27, paid by the circuit
    "s4_collect_accept": (("collect", "movel_vc1", 42, "0.27", "default"), "linked"),
    # the received a-leg is free; the forwarded b-leg (0 21 86 32221234) is LDN: 31 s -> 36 s = R$ 0,15
    "s5_followme_forward": (("inbound", None, 0, "0.00", "follow_me"), ("forwarded", "ldn_fixo", 36, "0.15")),
    "s6a_out_local_fixed": (("outbound", "local_fixo", 36, "0.06", None), "linked"),
    "s6b_out_local_mobile": (("outbound", "movel_vc1", 66, "0.43", None), "linked"),
    # 02111981234567: CSP 21, DDD 11 mobile from DDD 98 -> VC3; 7 s -> 30 s = 0,395 -> R$ 0,40
    "s6c_out_ld_mobile": (("outbound", "movel_vc3", 30, "0.40", None), "linked"),
    # 002112125551234: CSP 21, +1 212 555 1234; 12 s -> 30 s = 0,75 + 0,10 connection
    "s6d_out_international": (("outbound", "ldi", 30, "0.85", None), "linked"),
    "s6e_out_tollfree": (("outbound", "gratuita", 0, "0.00", None), "linked"),
    "s6f_out_noanswer": (("outbound", "local_fixo", 0, "0.00", None), "linked"),
    "s6g_out_busy": (("outbound", "local_fixo", 0, "0.00", None), "linked"),
    "s7_router_down": (("inbound", None, 0, "0.00", "fallback"), "linked"),
}


def lab_json_files() -> list[tuple[str, str, str, Path]]:
    out = []
    for path in sorted((LAB / "json_cdr").glob("*.cdr.json")):
        m = FILE_RE.match(path.name)
        assert m, path.name
        out.append((m.group(1), m.group(2), m.group(3), path))
    return out


def _calls(engine) -> dict[str, Cdr]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return {c.uuid: c for c in session.scalars(select(Cdr))}


def _check_scenarios(rows: dict[str, Cdr], circuit_id: int, legs: list[tuple[str, str, str]],
                     a_of: dict[str, str]) -> None:
    """``legs``: (scenario, leg, uuid); ``a_of``: b-leg uuid -> a-leg uuid (where knowable)."""
    billed_per_call: dict[str, Decimal] = {}
    for scenario, leg, uuid in legs:
        row = rows[uuid]
        a_exp, b_exp = EXPECTED[scenario]
        if leg == "a":
            direction, category, billable, amount, rule = a_exp
            assert row.role == "call", (scenario, uuid)
            assert row.circuit_id == circuit_id
            assert row.direction == direction, scenario
            assert row.category == category, scenario
            assert row.billable_seconds == billable, scenario
            assert row.amount == Decimal(amount), scenario
            assert row.rule == rule, scenario
            assert row.attributed_by == "painel"
            if direction in ("inbound", "collect"):
                assert row.did == "5598987654321"
            if row.billsec == 0:
                assert row.amount == 0 and row.answer_utc is None
            billed_per_call[uuid] = billed_per_call.get(uuid, Decimal(0)) + row.amount
        else:
            call = a_of.get(uuid)
            if b_exp == "linked":
                assert row.role == "linked", (scenario, uuid)
                assert row.amount == 0 and row.circuit_id is None and row.billable_seconds == 0
            else:
                direction, category, billable, amount = b_exp
                assert row.role == "call" and row.direction == direction and row.category == category
                assert row.circuit_id == circuit_id
                assert (row.billable_seconds, row.amount) == (billable, Decimal(amount))
            if call is not None:
                assert row.call_uuid == call, (scenario, uuid)
                billed_per_call[call] = billed_per_call.get(call, Decimal(0)) + row.amount
    # each call is billed exactly once: the sum over its legs is the one expected amount
    for scenario, leg, uuid in legs:
        if leg != "a" or uuid not in billed_per_call:
            continue
        a_exp, b_exp = EXPECTED[scenario]
        expected = Decimal(a_exp[3]) + (Decimal(b_exp[3]) if isinstance(b_exp, tuple) else 0)
        if any(a_of.get(u) == uuid for _, l, u in legs if l == "b") or b_exp in (None, "linked"):
            assert billed_per_call[uuid] == expected, scenario


def _circuit_id(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.scalar(select(Circuit.id).where(Circuit.number == "8011441"))


def test_lab_json_every_scenario(demo_db, settings):  # type: ignore[no-untyped-def]
    files = lab_json_files()
    assert len(files) == 48
    stats = Ingester(demo_db, settings).ingest_paths([p for *_, p in files])
    assert (stats.rated, stats.duplicate, stats.quarantined) == (48, 0, 0)
    rows = _calls(demo_db)
    # the JSON b-legs name their a-leg (originating_leg_uuid)
    a_of = {uuid: rows[uuid].call_uuid for _, leg, uuid, _ in files if leg == "b"}
    for a_uuid in a_of.values():
        assert rows[a_uuid].leg == "a" and rows[a_uuid].uuid == a_uuid
    _check_scenarios(rows, _circuit_id(demo_db), [(s, l, u) for s, l, u, _ in files], a_of)
    # the money of the whole lab: two runs of 0,27 + 0,15 + 0,06 + 0,43 + 0,40 + 0,85
    with Session(demo_db) as session:
        billed = session.scalars(select(Cdr).where(Cdr.role == "call", Cdr.amount > 0)).all()
        assert sum(c.amount for c in billed) == Decimal("4.32")
        assert len(billed) == 12


def test_lab_json_twice_adds_nothing(demo_db, settings):  # type: ignore[no-untyped-def]
    paths = [p for *_, p in lab_json_files()]
    Ingester(demo_db, settings).ingest_paths(paths)
    before = _calls(demo_db)
    again = Ingester(demo_db, settings).ingest_paths(paths)
    assert (again.rated, again.duplicate, again.quarantined) == (0, 48, 0)
    after = _calls(demo_db)
    assert set(before) == set(after)
    assert [(u, r.amount, r.role, r.call_uuid) for u, r in sorted(before.items())] == \
           [(u, r.amount, r.role, r.call_uuid) for u, r in sorted(after.items())]


def _run_b_legs() -> list[tuple[str, str, str]]:
    """(scenario, leg, uuid) of run B's JSON files: the run logged with the painel CSV template."""
    csv_uuids = {line.split('","')[10] for line in (LAB / "cdr_csv" / "Master_painel.csv").read_text().splitlines()}
    return [(s, l, u) for s, l, u, _ in lab_json_files() if u in csv_uuids]


def test_lab_csv_painel_template(demo_db, settings):  # type: ignore[no-untyped-def]
    stats = Ingester(demo_db, settings).ingest_paths([LAB / "cdr_csv" / "Master_painel.csv"])
    assert (stats.rated, stats.duplicate, stats.quarantined) == (24, 0, 0)
    rows = _calls(demo_db)
    legs = _run_b_legs()
    assert len(legs) == 24 and all(u in rows for _, _, u in legs)
    # the CSV knows a b-leg's call only through the a-leg's bleg_uuid (answered calls)
    a_of = {r.bleg_uuid: u for u, r in rows.items() if r.bleg_uuid}
    _check_scenarios(rows, _circuit_id(demo_db), legs, a_of)
    with Session(demo_db) as session:
        billed = session.scalars(select(Cdr).where(Cdr.amount > 0)).all()
        assert sorted(c.amount for c in billed) == sorted(
            Decimal(x) for x in ("0.27", "0.15", "0.06", "0.43", "0.40", "0.85"))
        assert all(c.source == "csv" for c in billed)


def test_lab_csv_and_json_of_the_same_run_are_one_call_each(demo_db, settings):  # type: ignore[no-untyped-def]
    ing = Ingester(demo_db, settings)
    ing.ingest_paths([LAB / "cdr_csv" / "Master_painel.csv"])
    run_b = [LAB / "json_cdr" / f"{s}_{l}_{u}.cdr.json" for s, l, u in _run_b_legs()]
    stats = ing.ingest_paths(run_b)
    assert (stats.rated, stats.duplicate, stats.quarantined) == (0, 24, 0)


def test_lab_csv_b_leg_first_in_another_batch_is_linked_later(demo_db, settings):  # type: ignore[no-untyped-def]
    """FreeSWITCH writes the b-leg's line first; with a batch boundary between the two
    lines the b-leg is stored before its a-leg and must still end linked to it."""
    ing = Ingester(demo_db, settings.replace(ingest_batch_size=1))
    ing.ingest_paths([LAB / "cdr_csv" / "Master_painel.csv"])
    rows = _calls(demo_db)
    a_of = {r.bleg_uuid: u for u, r in rows.items() if r.bleg_uuid}
    _check_scenarios(rows, _circuit_id(demo_db), _run_b_legs(), a_of)


def test_lab_csv_example_template_limits(demo_db, settings):  # type: ignore[no-untyped-def]
    """The stock `example` template has no painel_* and no SIP headers (README): what it
    can carry is attributed by DID and SIP user; what it cannot is said here plainly."""
    stats = Ingester(demo_db, settings).ingest_paths([LAB / "cdr_csv" / "Master_example.csv"])
    assert (stats.rated, stats.duplicate, stats.quarantined) == (24, 0, 0)
    rows = _calls(demo_db)
    legs = {u: (s, l) for s, l, u, _ in lab_json_files() if u in rows}
    assert len(legs) == 24
    cid = _circuit_id(demo_db)
    for uuid, (scenario, leg) in legs.items():
        row = rows[uuid]
        if leg == "a" and scenario.startswith("s6"):
            # answered outbound calls: billed once, same amount as with the painel variables
            (direction, category, billable, amount, _), _ = EXPECTED[scenario]
            assert (row.role, row.direction, row.category, row.amount) == ("call", direction, category, Decimal(amount))
            assert row.attributed_by == "sip_user" and row.circuit_id == cid
        elif leg == "a":
            # calls to the DID are received calls of its circuit, free; the collect call
            # (s4) cannot be told apart from a plain one without the painel variables
            assert (row.role, row.direction, row.amount, row.attributed_by) == ("call", "inbound", 0, "did")
        elif scenario in ("s6f_out_noanswer", "s6g_out_busy"):
            # an unanswered outbound b-leg has no bleg_uuid on either leg: it is stored as a
            # second zero-cost attempt of the circuit (the limitation the README states)
            assert (row.role, row.amount) == ("call", 0)
        else:
            # every other b-leg is linked (bleg_uuid of its a-leg, or Painel's context);
            # this includes the follow-me leg, which the template cannot mark as forwarded
            assert row.role == "linked" and row.amount == 0
    with Session(demo_db) as session:
        billed = session.scalars(select(Cdr).where(Cdr.amount > 0)).all()
        assert sorted(c.amount for c in billed) == sorted(Decimal(x) for x in ("0.06", "0.43", "0.40", "0.85"))


def test_lab_top_level_probe_files(demo_db, settings):  # type: ignore[no-untyped-def]
    """The earlier single-call probe: its leg carries only painel_action/painel_rule (the
    stand-in router set no circuit), so it is attributed by the DID it called: a received
    call of 8011441, free. Its CSV line (example template) is the same leg: a duplicate."""
    ing = Ingester(demo_db, settings)
    stats = ing.ingest_paths([LAB / "json_cdr_socket_leg.json"])
    assert (stats.rated, stats.quarantined) == (1, 0)
    row = next(iter(_calls(demo_db).values()))
    assert (row.direction, row.attributed_by, row.did, row.amount) == ("inbound", "did", "5598987654321", 0)
    assert row.circuit_id == _circuit_id(demo_db) and row.rule == "default"
    stats = ing.ingest_paths([LAB / "cdr_csv_example_template_line.csv"])
    assert (stats.rated, stats.duplicate, stats.quarantined) == (0, 1, 0)
