"""A circuit's outbound dialing rules: which numbers it may call, and by which allowance.

The same check guards ordinary outbound calls (documented for the dialplan), follow-me
destinations when they are saved (portal, admin, CLI) and again when the router forwards
a call. Pure functions over plain data.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from painel.categories import Category
from painel.errors import InvalidNumber
from painel.numbering import NumberInfo, normalize_and_classify

#: named allowances and the categories each one opens
ALLOWANCES: dict[str, frozenset[Category]] = {
    "local": frozenset({Category.LOCAL_FIXO}),
    "ldn": frozenset({Category.LDN_FIXO}),
    "movel": frozenset({Category.MOVEL_VC1, Category.MOVEL_VC2, Category.MOVEL_VC3}),
    "ldi": frozenset({Category.LDI}),
    "especial": frozenset({Category.ESPECIAL}),
    "gratuita": frozenset({Category.GRATUITA}),
}

ALLOWANCE_LABELS = {
    "local": "Local fixo",
    "ldn": "Longa distância nacional (LDN)",
    "movel": "Móvel (VC1, VC2, VC3)",
    "ldi": "Internacional (LDI)",
    "especial": "Serviços especiais (0300, 0303, 0500, 0900, 3003, 4003, 4004)",
    "gratuita": "Gratuitas (0800 e utilidade pública)",
}

#: how a refusal names what is missing ("chamadas ... não são permitidas")
_REFUSED = {
    "local": "locais para fixo",
    "ldn": "de longa distância nacional (LDN)",
    "movel": "para móveis",
    "ldi": "internacionais (LDI)",
    "especial": "para serviços especiais",
    "gratuita": "gratuitas",
}

RULE_MESSAGE = "O número de destino precisa seguir os padrões de discagem das regras de saída do circuito"


@dataclass(frozen=True, slots=True)
class DialCheck:
    allowed: bool
    #: the allowance (or "padrão:<regex>") that allowed it
    rule: str | None
    info: NumberInfo | None
    category: Category | None
    #: pt-BR explanation when refused
    reason: str | None


def parse_rules(rules: Iterable[str]) -> tuple[frozenset[str], tuple[re.Pattern[str], ...]]:
    """Split stored rules into named allowances and extra patterns (``padrao:<regex>``)."""
    names: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for rule in rules:
        rule = rule.strip()
        if rule.startswith(("padrao:", "padrão:")):
            patterns.append(re.compile(rule.split(":", 1)[1]))
        elif rule in ALLOWANCES:
            names.add(rule)
        elif rule:
            raise ValueError(f"regra de saída desconhecida: {rule!r}")
    return frozenset(names), tuple(patterns)


def check_destination(raw: str, home_ddd: str, rules: Iterable[str]) -> DialCheck:
    """May a circuit in ``home_ddd`` with ``rules`` call ``raw``? And which rule says so."""
    names, patterns = parse_rules(rules)
    try:
        info, category = normalize_and_classify(raw, home_ddd)
    except InvalidNumber as exc:
        return DialCheck(False, None, None, None, f"{RULE_MESSAGE}: {exc.why}")
    if info.collect:
        return DialCheck(False, None, info, category,
                         f"{RULE_MESSAGE}: chamadas a cobrar não podem ser destino de siga-me")
    for name in sorted(names):
        if category in ALLOWANCES[name]:
            return DialCheck(True, name, info, category, None)
    digits = info.e164.lstrip("+")
    for pattern in patterns:
        if pattern.search(digits) or pattern.search(info.raw):
            return DialCheck(True, f"padrao:{pattern.pattern}", info, category, None)
    missing = next(n for n, cats in ALLOWANCES.items() if category in cats)
    return DialCheck(False, None, info, category,
                     f"{RULE_MESSAGE}: chamadas {_REFUSED[missing]} não são permitidas")
