#!/usr/bin/env bash
# Installs the Debian packages the tests use for real, only those missing.
# Runs as root on a fresh Debian machine; needs nothing but the apt mirror.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1; }

have crontab   || missing+=(cron)
have logrotate || missing+=(logrotate)
have flock     || missing+=(util-linux)
have node      || missing+=(nodejs)
have npm       || missing+=(npm)
have psql      || missing+=(postgresql-client)
have shellcheck || missing+=(shellcheck)
if ! have initdb && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
have check_postgres || have check_postgres.pl || missing+=(check-postgres)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
