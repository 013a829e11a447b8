"""Error pages in Portuguese; the project's errors mapped to HTTP statuses."""
from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError

from painel.errors import DatabaseError, NotFound, PainelError, ValidationError

log = logging.getLogger("painel.web")

MESSAGES = {
    400: ("Requisição inválida", "O pedido não pôde ser entendido. Volte e tente de novo."),
    403: ("Acesso negado", "Você não tem permissão para acessar esta página."),
    404: ("Página não encontrada", "O endereço não existe ou não está disponível para este circuito."),
    405: ("Método não permitido", "Esta ação não pode ser feita assim."),
    413: ("Arquivo muito grande", "O envio passou do tamanho permitido."),
    429: ("Muitas tentativas", "Foram muitas tentativas em pouco tempo. Aguarde alguns minutos e tente de novo."),
    500: ("Erro interno", "Algo deu errado do nosso lado. Tente de novo em instantes."),
    503: ("Serviço indisponível", "O banco de dados não respondeu. Tente de novo em instantes."),
}


def error_page(status: int, detail: str | None = None):  # type: ignore[no-untyped-def]
    title, text = MESSAGES.get(status, MESSAGES[500])
    return render_template("errors/error.html", status=status, title=title, text=detail or text), status


def init_app(app: Flask) -> None:
    for status in (400, 403, 404, 405, 413, 429, 500):
        app.register_error_handler(status, lambda exc, status=status: error_page(status))

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):  # type: ignore[no-untyped-def]
        return error_page(400, "O formulário expirou ou não veio desta página. Recarregue e tente de novo.")

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound):  # type: ignore[no-untyped-def]
        return error_page(404)

    @app.errorhandler(OperationalError)
    @app.errorhandler(DatabaseError)
    def _database(exc: Exception):  # type: ignore[no-untyped-def]
        log.error("falha no banco de dados em %s: %s", request.path, exc)
        return error_page(503)

    @app.errorhandler(ValidationError)
    def _invalid(exc: ValidationError):  # type: ignore[no-untyped-def]
        return error_page(400, exc.message)

    @app.errorhandler(PainelError)
    def _painel(exc: PainelError):  # type: ignore[no-untyped-def]
        log.error("erro em %s: %s", request.path, exc)
        return error_page(500)
