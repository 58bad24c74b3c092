#!/usr/bin/env bash
# Debian packages Molecule needs on this machine (docs/design.md, "Molecule on this
# machine"): podman with runc (crun fails on hybrid cgroups) and debootstrap to
# build the local image. Installs only what is missing; run as root.
set -euo pipefail

# shellcheck source=scripts/apt-missing.sh
. "$(dirname "$0")/apt-missing.sh"

have podman      || missing+=(podman)
have runc        || missing+=(runc)
have debootstrap || missing+=(debootstrap)

install_missing
