#!/usr/bin/env bash
# Printed at the end of `make demo`.
cd "$(dirname "$0")/.."
cat <<TXT

Painel está pronto (SQLite em var/painel.db).
  Painel do Assinante:    http://127.0.0.1:8000/entrar   (iniciando agora; Ctrl-C para parar)
    login de demonstração: usuário 8011441, senha painel-demo
    outro cliente:         usuário 8011880, senha painel-demo
  Administração:          http://127.0.0.1:8000/admin/entrar
    usuários:              admin (altera tudo) ou suporte (consulta), senha painel-demo
  CDRs de demonstração:   var/demo/freeswitch/ (json_cdr/ e cdr-csv/)
  Quarentena:             .venv/bin/painel cdr quarantine list
  Explicar uma tarifa:    .venv/bin/painel cdr explain --circuit 8011441 --to 0218632221234 --seconds 37
  Planos:                 .venv/bin/painel rates export
  Faturas em PDF:         var/faturas/AAAA-MM/  (.venv/bin/painel bill pdf --month 2026-10)
  Pagamentos:             .venv/bin/painel pay list --invoice 1
  Fechar o mês anterior:  .venv/bin/painel bill close --previous-month
TXT
cat <<TXT
  Decisão do roteador:    .venv/bin/painel router check --did 5598987654321 --caller 5511988887777
  Roteador (FreeSWITCH):  .venv/bin/painel router --listen 127.0.0.1:8084   (fs-config/README.md)
TXT
