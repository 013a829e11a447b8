#!/usr/bin/env bash
# Printed by `make demo` before `painel run` starts the parts.
cd "$(dirname "$0")/.."
cat <<TXT

Demonstração carregada (SQLite em var/painel.db). painel run inicia agora o roteador, o
receptor de CDRs e o portal; os endereços aparecem quando estiverem no ar. Ctrl-C para parar tudo.
  Logins de demonstração (senha painel-demo): assinante 8011441, outro cliente 8011880;
    administração: admin (altera tudo) ou suporte (consulta)
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
  FreeSWITCH de verdade:  fs-config/README.md; chamadas simuladas: .venv/bin/painel run --simulate
TXT
