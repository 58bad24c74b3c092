#!/usr/bin/env bash
# Debian packages Molecule needs on this machine (DESIGN.md, "Molecule on this
# machine"): podman with runc (crun fails on hybrid cgroups) and debootstrap to
# build the local image. Installs only what is missing; run as root.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1; }

have podman      || missing+=(podman)
have runc        || missing+=(runc)
have debootstrap || missing+=(debootstrap)

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
