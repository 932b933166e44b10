#!/usr/bin/env bash
# Installs what the server's integration tests need: PostgreSQL and Redis
# (Debian packages). Idempotent: does nothing when the binaries are present.
set -euo pipefail

have_pg() {
  command -v initdb >/dev/null 2>&1 && return 0
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then return 0; fi
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
have_redis() { command -v redis-server >/dev/null 2>&1; }

pkgs=()
have_pg || pkgs+=(postgresql)
have_redis || pkgs+=(redis-server)
if [ ${#pkgs[@]} -eq 0 ]; then
  echo "install-test-deps: PostgreSQL and Redis already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
echo "install-test-deps: installing ${pkgs[*]}"
# Refresh the package lists only when apt cannot find the packages.
if ! apt-cache show "${pkgs[@]}" >/dev/null 2>&1; then
  $SUDO apt-get update
fi
$SUDO apt-get install -y --no-install-recommends "${pkgs[@]}"
# The Debian packages may start system services; the tests start their own.
