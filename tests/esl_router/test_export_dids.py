"""`painel router export-dids`: the DID map the dialplan's fallback reads."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from painel.cli import main
from painel.demo import ensure_operator
from painel.models import Circuit, Did

EXAMPLE = Path(__file__).resolve().parents[2] / "fs-config" / "dialplan" / "painel_did_map.xml"


def _shape(root: ET.Element) -> list[tuple[str, list[str]]]:
    return [(ext.get("name") or "", [a.get("data") or "" for a in ext.iter("action")])
            for ext in root.iter("extension")]


def test_export_writes_every_active_did(engine, db_url, tmp_path):  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        ensure_operator(session)
        inactive = session.scalar(select(Circuit).where(Circuit.number == "8012442"))
        inactive.active = False
        session.commit()
        expected = {d.e164.lstrip("+") for d in session.scalars(select(Did))} - {
            d.e164.lstrip("+") for d in session.scalars(select(Did).where(Did.circuit_id == inactive.id))}
    out = tmp_path / "painel_did_map.xml"
    result = CliRunner().invoke(main, ["--database-url", db_url, "router", "export-dids", "-o", str(out)])
    assert result.exit_code == 0, result.output
    root = ET.parse(out).getroot()
    assert root.tag == "include" and root.find("context").get("name") == "painel_did_map"
    shape = dict(_shape(root))
    assert set(shape) == expected
    assert shape["5598987654321"] == ["painel_circuit=8011441", "painel_bridge=user/8011441"]
    # the same layout as the example shipped in fs-config, which the dialplan tests exercise
    example = dict(_shape(ET.parse(EXAMPLE).getroot()))
    assert example["5598987654321"] == shape["5598987654321"]
    assert not list(tmp_path.glob(".painel_did_map.*"))  # the temporary file was renamed
