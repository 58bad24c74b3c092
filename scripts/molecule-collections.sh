#!/usr/bin/env bash
# Collections Molecule needs on the controller, taken from the `ansible` wheel on
# PyPI (Galaxy is unreachable here; docs/design.md, "Molecule on this machine"). Only containers.podman (the driver) and ansible.posix (profile_tasks) are
# unpacked into $1 (default .build/molecule-collections). Reused when present.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/.build/molecule-collections}
python=${PYTHON:-$root/.venv/bin/python}
# ansible 12.x goes with ansible-core 2.19 (the controller's).
spec=${TWZRD_ANSIBLE_WHEEL_SPEC:-ansible>=12,<13}
collections=(containers/podman ansible/posix)

have_all=1
for c in "${collections[@]}"; do
  [ -f "$dest/ansible_collections/$c/MANIFEST.json" ] || have_all=0
done
[ $have_all = 1 ] && exit 0

cache=$root/.cache/wheels
mkdir -p "$cache" "$dest"
wheel=$(find "$cache" -maxdepth 1 -name 'ansible-1[0-9].*-py3-none-any.whl' | sort | tail -n1)
if [ -z "$wheel" ]; then
  "$python" -m pip download -q --no-deps --only-binary :all: -d "$cache" "$spec"
  wheel=$(find "$cache" -maxdepth 1 -name 'ansible-1[0-9].*-py3-none-any.whl' | sort | tail -n1)
fi
for c in "${collections[@]}"; do
  rm -rf "$dest/ansible_collections/$c"
  "$python" - "$wheel" "$dest" "ansible_collections/$c/" <<'PY'
import sys, zipfile
wheel, dest, prefix = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    archive.extractall(dest, [n for n in archive.namelist() if n.startswith(prefix)])
PY
done
echo "collections from $(basename "$wheel"): ${collections[*]} -> $dest"
