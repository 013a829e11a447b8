"""CPF and CNPJ: check digits (Receita Federal's modulo-11 rules) and display format."""
from __future__ import annotations

from painel.errors import ValidationError


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _cpf_check(base: str) -> str:
    for size in (9, 10):
        total = sum(int(d) * w for d, w in zip(base[:size], range(size + 1, 1, -1)))
        rest = total % 11
        base = base[:size] + ("0" if rest < 2 else str(11 - rest))
    return base


def _cnpj_check(base: str) -> str:
    weights = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    for size in (12, 13):
        w = weights if size == 12 else [6] + weights
        total = sum(int(d) * k for d, k in zip(base[:size], w))
        rest = total % 11
        base = base[:size] + ("0" if rest < 2 else str(11 - rest))
    return base


def is_valid_cpf(value: str) -> bool:
    d = _digits(value)
    return len(d) == 11 and len(set(d)) > 1 and _cpf_check(d[:9]) == d


def is_valid_cnpj(value: str) -> bool:
    d = _digits(value)
    return len(d) == 14 and len(set(d)) > 1 and _cnpj_check(d[:12]) == d


def normalize_document(value: str) -> str:
    """Digits of a valid CPF or CNPJ; raises ``ValidationError`` in pt-BR otherwise."""
    d = _digits(value)
    if len(d) == 11:
        if not is_valid_cpf(d):
            raise ValidationError("CPF inválido: os dígitos verificadores não conferem")
        return d
    if len(d) == 14:
        if not is_valid_cnpj(d):
            raise ValidationError("CNPJ inválido: os dígitos verificadores não conferem")
        return d
    raise ValidationError("documento deve ser um CPF (11 dígitos) ou CNPJ (14 dígitos)")


def format_document(digits: str) -> str:
    if len(digits) == 11:
        return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"
    if len(digits) == 14:
        return f"{digits[:2]}.{digits[2:5]}.{digits[5:8]}/{digits[8:12]}-{digits[12:]}"
    return digits


def make_cpf(base9: str) -> str:
    """A valid CPF from 9 base digits (demo data)."""
    return _cpf_check(base9)


def make_cnpj(base12: str) -> str:
    """A valid CNPJ from 12 base digits (demo data)."""
    return _cnpj_check(base12)
