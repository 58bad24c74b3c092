#!/usr/bin/env bash
# ansible-test sanity, offline-capable (docs/design.md, "ansible-test offline").
# ansible-test wants the tree at ansible_collections/twzrd/ops, so the tracked
# files are copied into .build/sanity first; tests/output never gets scanned.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
python_version=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
pip_version=$("$venv/bin/python" - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
cache=~/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -f "$cache" ]; then
  mkdir -p "$(dirname "$cache")"
  cp "$root/scripts/get-pip-offline.py" "$cache"
fi

dest=$root/.build/sanity/ansible_collections/twzrd/ops
rm -rf "$dest"
mkdir -p "$dest"
cd "$root"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -C "$dest" -xf -
cd "$dest"
# ansible-test lists files with git; the copy lives inside our ignored .build, so give it its own repo.
git init -q . && git add -A
"$venv/bin/ansible-test" sanity --venv --python "$python_version" --color no "$@"
