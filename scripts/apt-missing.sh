# Sourced by the install-*-deps.sh scripts: collect missing Debian packages with
# `have COMMAND || missing+=(PACKAGE)`, then `install_missing` installs them
# (as root, one apt-get update) or says what is missing.
# shellcheck shell=bash

missing=()
have() { command -v "$1" >/dev/null 2>&1; }

install_missing() {
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    return 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
