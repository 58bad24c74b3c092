#!/usr/bin/env bash
# Installs the Debian packages the tests use for real, only those missing.
# Runs as root on a fresh Debian machine; needs nothing but the apt mirror.
set -euo pipefail

# shellcheck source=scripts/apt-missing.sh
. "$(dirname "$0")/apt-missing.sh"

have crontab   || missing+=(cron)
have logrotate || missing+=(logrotate)
have flock     || missing+=(util-linux)
have node      || missing+=(nodejs)
have npm       || missing+=(npm)
have psql      || missing+=(postgresql-client)
have shellcheck || missing+=(shellcheck)
have ssh       || missing+=(openssh-client)  # the fleet test's unreachable host; bench_fleet_ssh (ssh, ssh-keygen)
if ! have initdb && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
have check_postgres || have check_postgres.pl || missing+=(check-postgres)
# Prometheus export (docs/prometheus.md): the textfile collector and promtool (rules, metrics).
have prometheus-node-exporter || missing+=(prometheus-node-exporter)
have promtool || missing+=(prometheus)
# The fleet test (tests/integration/test_fleet_alerting.py): Alertmanager and amtool. The test starts its own
# servers on 127.0.0.1; the package's service is neither needed nor started by it.
have prometheus-alertmanager || missing+=(prometheus-alertmanager)
# The weekly HTML report is opened and screenshotted in a real headless browser (tests).
have chromium   || missing+=(chromium)

install_missing
