#!/usr/bin/env bash
# Run the whole suite. PostgreSQL tests are mandatory when PAINEL_REQUIRE_PG=1 (CI).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "${CI:-}" = "true" ]; then
  export PAINEL_REQUIRE_PG=1
fi
if [ "${PAINEL_REQUIRE_PG:-}" = "1" ]; then
  bash scripts/start-postgres.sh || exit 1
else
  bash scripts/start-postgres.sh >/dev/null 2>&1 || echo "aviso: PostgreSQL indisponível; só o SQLite será testado" >&2
fi
# one test process per core (PAINEL_TEST_WORKERS overrides; 0 runs them in this process)
workers="${PAINEL_TEST_WORKERS:-auto}"
.venv/bin/python -m pytest -n "$workers" "$@"
status=$?
# pytest's 5 means "no tests collected": that is a failure here, never a pass
exit $status
