#!/usr/bin/env bash
# Creates the project venv ($1) and installs requirements/dev.txt into it.
# On a Debian without the venv module, installs python3-venv first (as root).
set -euo pipefail
venv=$1
python=${PYTHON:-python3}

if ! command -v "$python" >/dev/null 2>&1 || ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "python3 with the venv module is needed (apt-get install python3-venv)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends python3 python3-venv python3-dev gcc >/dev/null
  python=python3
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements/dev.txt
