#!/usr/bin/env bash
# Debian packages some tests need: a PostgreSQL server (registry tests on PostgreSQL) and
# Chromium with its driver (the dashboard's browser test). Installed only when missing, and
# only where we are root with apt-get (CI, a fresh machine of this project); elsewhere the
# tests that need them skip and say why.
set -u
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: ${need[*]} missing and not root with apt-get: their tests will skip" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]} (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
  || echo "system-deps: apt-get failed: the tests that need ${need[*]} will skip" >&2
exit 0
