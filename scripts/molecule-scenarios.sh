#!/usr/bin/env bash
# Runs the Molecule scenarios given as arguments side by side (each its own container) and
# prints each scenario's whole output when all have ended. Side by side they take about as
# long as the longest one (default 410 s, fullstack 428 s, together on 2 cores, with the
# nsenter connection of docs/design.md "Molecule on this machine"), not the sum.
set -uo pipefail
molecule=${MOLECULE:-molecule}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
declare -A pids
for s in "$@"; do
  ( SECONDS=0; "$molecule" test -s "$s"; rc=$?; echo "== $s: exit $rc after ${SECONDS}s"; exit $rc ) >"$logs/$s.log" 2>&1 &
  pids[$s]=$!
  echo "== molecule test -s $s started (pid ${pids[$s]})"
done
failed=()
for s in "$@"; do
  wait "${pids[$s]}" || failed+=("$s")
done
for s in "$@"; do
  echo "== molecule test -s $s: output"
  cat "$logs/$s.log"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "== molecule scenarios failed: ${failed[*]}" >&2
  exit 1
fi
echo "== molecule scenarios passed: $*"
