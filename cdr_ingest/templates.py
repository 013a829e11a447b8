"""mod_cdr_csv templates: which channel variable each CSV column holds.

A Master.csv line carries no header, so the only way to know what column 7 means is the template
FreeSWITCH wrote it with. Painel ships that config (``fs-config/autoload_configs/cdr_csv.conf.xml``)
and reads the column names from it, so the parser and the switch cannot drift apart.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

from painel.errors import ConfigError

#: the cdr_csv config shipped with Painel (fs-config/ sits at the project root, next to cdr_ingest/)
DEFAULT_CDR_CSV_CONF: Path = (
    Path(__file__).resolve().parent.parent / "fs-config" / "autoload_configs" / "cdr_csv.conf.xml"
)


def load_csv_templates(path: str | Path = DEFAULT_CDR_CSV_CONF) -> dict[str, list[str]]:
    """Read a mod_cdr_csv config and return each template's column names, in order.

    ``"${caller_id_name}"`` becomes ``caller_id_name``. A column that is not a single variable
    (a literal, or an expression such as ``${regex(...)}`` mixed with text) keeps its text as the
    name, so the column count stays right and the parser simply ignores it.
    """
    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError) as exc:
        raise ConfigError(
            f"não foi possível ler a configuração do mod_cdr_csv {str(path)!r}: {exc}",
            reason="cdr_csv_conf",
        ) from exc
    templates: dict[str, list[str]] = {}
    for element in tree.iter("template"):
        name = element.get("name")
        if not name:
            continue
        templates[name] = template_columns(element.text or "")
    if not templates:
        raise ConfigError(
            f"a configuração do mod_cdr_csv {str(path)!r} não define nenhum modelo (<template>)",
            reason="cdr_csv_conf",
        )
    return templates


def template_columns(template: str) -> list[str]:
    """Split one template text into column names (commas inside ``${...}`` do not split)."""
    columns: list[str] = []
    depth = 0
    start = 0
    text = template.strip()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "$" and text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if ch == "}" and depth:
            depth -= 1
        elif ch == "," and not depth:
            columns.append(_column_name(text[start:i]))
            start = i + 1
        i += 1
    columns.append(_column_name(text[start:]))
    return columns


def _column_name(column: str) -> str:
    """``"${uuid}"`` -> ``uuid``; anything else is returned stripped, as a label."""
    col = column.strip()
    if len(col) >= 2 and col[0] == '"' and col[-1] == '"':
        col = col[1:-1]
    if col.startswith("${") and col.endswith("}") and col.count("${") == 1:
        return col[2:-1]
    return col


def detect_template(field_count: int, templates: Mapping[str, Sequence[str]]) -> str | None:
    """The name of the only template with ``field_count`` columns, else None (none or ambiguous)."""
    matches = [name for name, fields in templates.items() if len(fields) == field_count]
    return matches[0] if len(matches) == 1 else None
