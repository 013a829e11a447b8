"""DIDs: assign, move, release and bulk import (painel.dids and `painel did`), on both engines."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from painel.cli import main
from painel.dids import assign_did, did_e164, import_dids, move_did, release_did
from painel.errors import ConflictError, UnknownDid, ValidationError
from painel.models import AuditEvent, BlacklistEntry, Circuit, Did
from painel.routing import blacklist_add, followme_set, load_did_rules, rules_version

ACTOR = ("admin", "ana")


def did_of(session: Session, e164: str) -> Did:
    found = session.scalar(select(Did).where(Did.e164 == e164))
    assert found is not None
    return found


def owner(session: Session, e164: str) -> str | None:
    return session.scalar(select(Circuit.number).join(Did, Did.circuit_id == Circuit.id).where(Did.e164 == e164))


def audits(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_did_numbers_are_brazilian_fixed_mobile_or_tollfree() -> None:
    assert did_e164("3222-1100", "98") == "+559832221100"  # local form, the circuit's DDD
    assert did_e164("(86) 99876-5432", "98") == "+5586998765432"
    assert did_e164("0800 727 1234", "98") == "+558007271234"
    for bad, words in (("190", "fixo, móvel ou 0800"), ("+1 212 555 0100", "fixo, móvel ou 0800"),
                       ("0303 123 4567", "fixo, móvel ou 0800"), ("12", "inválido")):
        with pytest.raises(ValidationError, match=words):
            did_e164(bad, "98")


def test_assign_move_release_and_take_again(demo_db) -> None:  # type: ignore[no-untyped-def]
    with Session(demo_db) as s:
        v0 = rules_version(s)
        did = assign_did(s, "(98) 3222-1199", "8011441", actor=ACTOR, address="10.0.0.7")
        s.commit()
        assert (did.e164, owner(s, did.e164), did.raw) == ("+559832221199", "8011441", "(98) 3222-1199")
        assert rules_version(s) > v0 and "559832221199" in load_did_rules(s)
        with pytest.raises(ConflictError, match="já pertence ao circuito 8011441"):
            assign_did(s, "+55 98 3222-1199", "8010348", actor=ACTOR)
        # the old owner's siga-me, ACB and DID-scoped blacklist do not follow the number
        followme_set(s, did, "98981112222", "always")
        did.acb_enabled = True
        circuit = s.scalar(select(Circuit).where(Circuit.number == "8011441"))
        blacklist_add(s, circuit, "11977776666", did="+559832221199")
        s.commit()
        moved = move_did(s, "559832221199", "8011880", actor=ACTOR)
        s.commit()
        assert owner(s, "+559832221199") == "8011880"
        assert (moved.followme_enabled, moved.followme_destination, moved.acb_enabled) == (False, None, False)
        assert s.scalar(select(func.count()).select_from(BlacklistEntry).where(BlacklistEntry.did_id == moved.id)) == 0
        event = audits(s, "did.move")[-1]
        before, after = json.loads(event.before), json.loads(event.after)
        assert (before["circuit"], before["followme"], before["acb"]) == ("8011441", True, True)
        assert before["blacklist_scoped"] == ["5511977776666"] and after["circuit"] == "8011880"
        with pytest.raises(ValidationError, match="já é do circuito"):
            move_did(s, "559832221199", "8011880", actor=ACTOR)
        release_did(s, "+55 (98) 3222-1199", actor=ACTOR)
        s.commit()
        assert owner(s, "+559832221199") is None and "559832221199" not in load_did_rules(s)
        with pytest.raises(UnknownDid):
            release_did(s, "559832221199", actor=ACTOR)
        with pytest.raises(UnknownDid):
            move_did(s, "559832221199", "8011441", actor=ACTOR)
        again = assign_did(s, "3222-1199", "8010348", actor=ACTOR)
        s.commit()
        assert again.id == did.id and owner(s, "+559832221199") == "8010348"  # the same row, taken again
        actions = [e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.target_id == "+559832221199",
                                                                        AuditEvent.action.like("did.%"))
                                                .order_by(AuditEvent.id))]
        assert actions == ["did.assign", "did.move", "did.release", "did.assign"]
        assert all(e.actor == "ana" for e in audits(s, "did.assign"))


def test_a_deactivated_or_unknown_circuit_gets_no_number(demo_db) -> None:  # type: ignore[no-untyped-def]
    with Session(demo_db) as s:
        s.execute(Circuit.__table__.update().where(Circuit.number == "8010348").values(active=False))
        with pytest.raises(ValidationError, match="desativado"):
            assign_did(s, "3222-1177", "8010348", actor=ACTOR)
        with pytest.raises(Exception, match="circuito desconhecido"):
            assign_did(s, "3222-1177", "9999999", actor=ACTOR)


CSV_OK = """numero;circuito
(98) 3222-1300;8011441
+55 98 3222-1101;8011880
559832221100;8011441
"""


def test_import_checks_every_line_then_applies_all_or_nothing(demo_db) -> None:  # type: ignore[no-untyped-def]
    import io

    with Session(demo_db) as s:
        dry = import_dids(s, io.StringIO(CSV_OK), dry_run=True, actor=ACTOR)
        assert [(ln.line, ln.outcome) for ln in dry.lines] == [(2, "assign"), (3, "move"), (4, "unchanged")]
        assert dry.summary() == "assign=1 move=1 unchanged=1 error=0 simulação" and not dry.applied
        s.rollback()
        assert s.scalar(select(Did).where(Did.e164 == "+559832221300")) is None  # a dry run writes nothing
        bad = CSV_OK + "0303 123 4567;8011441\n3222-1300;8010348\n3222-1400\n3222-1401;0000000\n"
        report = import_dids(s, io.StringIO(bad), actor=ACTOR)
        assert not report.applied
        assert [(ln.line, ln.outcome) for ln in report.errors] == [(5, "error"), (6, "error"), (7, "error"),
                                                                  (8, "error")]
        messages = [ln.message for ln in report.errors]
        assert "fixo, móvel ou 0800" in messages[0] and "repetido (já na linha 2)" in messages[1]
        assert "duas colunas" in messages[2] and "circuito desconhecido: 0000000" in messages[3]
        s.rollback()
        assert s.scalar(select(Did).where(Did.e164 == "+559832221300")) is None  # nothing at all was written
        done = import_dids(s, io.StringIO(CSV_OK), actor=ACTOR)
        s.commit()
        assert done.applied and done.summary().endswith("aplicado")
        assert owner(s, "+559832221300") == "8011441" and owner(s, "+559832221101") == "8011880"
        assert len(audits(s, "did.assign")) == 1 and len(audits(s, "did.move")) == 1


def run(db_url: str, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    runner = CliRunner(env={"PAINEL_CONFIG": None, "PAINEL_DATABASE_URL": None, "PAINEL_LOG_LEVEL": "WARNING"})
    return runner.invoke(main, ["--database-url", db_url, "did", *args], input=stdin)


def test_cli(demo_db, db_url, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    assigned = run(db_url, "assign", "(98) 3222-1500", "--circuit", "8011441")
    assert assigned.exit_code == 0 and "atribuído: +559832221500 -> 8011441" in assigned.stdout
    clash = run(db_url, "assign", "3222-1500", "--circuit", "8010348")
    assert clash.exit_code == 2 and "já pertence" in clash.stderr
    listed = run(db_url, "list", "--circuit", "8011441")
    assert "+559832221500\t8011441" in listed.stdout
    assert run(db_url, "move", "559832221500", "--circuit", "8010348").exit_code == 0
    assert run(db_url, "release", "559832221500").exit_code == 0
    assert "+559832221500\t(liberado)" in run(db_url, "list", "--free").stdout
    (tmp_path / "bad.csv").write_text("numero;circuito\n3222-1600;8011441\n190;8011441\n", encoding="utf-8")
    bad = run(db_url, "import", "bad.csv")
    assert bad.exit_code == 1
    assert "linha 3: error 190" in bad.stdout and bad.stdout.strip().endswith("error=1 nada gravado")
    good = run(db_url, "import", "-", stdin="3222-1600;8011441\n")
    assert good.exit_code == 0 and good.stdout.strip().endswith("aplicado")
    assert run(db_url, "import", "missing.csv").exit_code == 4
    with Session(demo_db) as s:
        assert owner(s, "+559832221600") == "8011441"
