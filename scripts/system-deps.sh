#!/usr/bin/env bash
# Install the Debian packages the tests need, when missing (needs root or sudo):
# PostgreSQL (the second engine), Chromium (the portal's browser tests), nginx (the site's check).
set -euo pipefail
need=()
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
# the portal's browser tests drive Debian's Chromium with Playwright
[ -x /usr/bin/chromium ] || need+=(chromium)
# fonts-dejavu-core: Chromium's page text in the screenshots (the PDFs embed their own)
[ -d /usr/share/fonts/truetype/dejavu ] || need+=(fonts-dejavu-core)
# deploy/'s nginx site is checked with `nginx -t` (a throwaway certificate from openssl)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "instalando pacotes do sistema: ${need[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
