#!/usr/bin/env bash
# Runs galaxy-importer (the checks Galaxy runs on import) on a built tarball, with the tools of
# the release venv (its ansible-lint and ansible-doc, not .venv's), and fails on any error or
# warning it reports. Usage: galaxy-check.sh RELEASE_VENV TARBALL
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$1
tarball=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
work=$(dirname "$tarball")
# the importer reads the tarball only: not the dev collection link the Makefile exports
unset ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS
# importer_result.json lands in the working directory, next to the tarball
cd "$work"
status=0
out=$(GALAXY_IMPORTER_CONFIG=$root/scripts/galaxy-importer.cfg PATH=$venv/bin:$PATH \
      "$venv/bin/python" -m galaxy_importer.main "$tarball" 2>&1) || status=$?
printf '%s\n' "$out"
problems=$(grep -c -E '^(WARNING|ERROR|CRITICAL):' <<<"$out" || true)
if [ "$status" -ne 0 ] || [ "$problems" -ne 0 ]; then
  echo "galaxy-check: galaxy-importer failed (exit $status) or reported $problems warning/error line(s)" >&2
  exit 1
fi
echo "galaxy-check: $(basename "$tarball") imports with no error and no warning"
