"""Call categories of the invoice and the chart (DESIGN.md, "Brazilian rules")."""
from __future__ import annotations

from enum import Enum


class Category(str, Enum):
    """Rating category of a call. The value is what the database stores."""

    LOCAL_FIXO = "local_fixo"  # fixed line, same area code (DDD)
    LDN_FIXO = "ldn_fixo"  # fixed line, other DDD (longa distância nacional)
    MOVEL_VC1 = "movel_vc1"  # mobile, same DDD
    MOVEL_VC2 = "movel_vc2"  # mobile, other DDD with the same first digit
    MOVEL_VC3 = "movel_vc3"  # mobile, other DDD with another first digit
    LDI = "ldi"  # international (longa distância internacional)
    ESPECIAL = "especial"  # 0300/0303/0500/0900 and non-geographic 3003/4003/4004
    GRATUITA = "gratuita"  # 0800 and public-service/emergency numbers

    @property
    def label(self) -> str:
        return CATEGORY_LABELS[self]

    @property
    def group(self) -> str:
        """The chart's group: local, ldn, ldi, movel or outros."""
        return CATEGORY_GROUPS[self]


CATEGORY_LABELS: dict[Category, str] = {
    Category.LOCAL_FIXO: "Local fixo",
    Category.LDN_FIXO: "LDN fixo",
    Category.MOVEL_VC1: "Móvel local (VC1)",
    Category.MOVEL_VC2: "Móvel LDN (VC2)",
    Category.MOVEL_VC3: "Móvel LDN (VC3)",
    Category.LDI: "Internacional (LDI)",
    Category.ESPECIAL: "Especial",
    Category.GRATUITA: "Gratuita",
}

CATEGORY_GROUPS: dict[Category, str] = {
    Category.LOCAL_FIXO: "local",
    Category.LDN_FIXO: "ldn",
    Category.MOVEL_VC1: "movel",
    Category.MOVEL_VC2: "movel",
    Category.MOVEL_VC3: "movel",
    Category.LDI: "ldi",
    Category.ESPECIAL: "outros",
    Category.GRATUITA: "outros",
}

#: chart groups in display order with their pt-BR labels
CHART_GROUPS: dict[str, str] = {
    "local": "Local",
    "ldn": "LDN",
    "ldi": "LDI",
    "movel": "Móvel",
    "outros": "Outros",
}
