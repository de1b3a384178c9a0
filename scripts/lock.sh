#!/usr/bin/env bash
# Writes the lock file of every Python environment the project builds, from its input: each
# lock pins every transitive dependency with the sha256 of each of its files, so a fresh
# machine installs the bits the last lock chose, whatever was released since.
#
#   scripts/lock.sh             re-lock after an input changed (keeps every version it can)
#   scripts/lock.sh --upgrade   take the newest releases the inputs allow
#   scripts/lock.sh --check     fail if a lock file does not match its input (the lint stage)
#
# Inputs (edit these, never a .lock):
#   requirements-uv.txt             the installer itself (pip installs it, hash-checked)
#   requirements.txt                the project venv .venv: Ansible, linters, pytest, the emulator
#   tests/clients/requirements.txt  the package clients the client suite drives (.venv-clients)
#   benchmarks/*/requirements.txt   the peers' venvs inside the benchmark's images (Debian 12)
#   roles/pypiserver/files/requirements-host.txt
#                                   every host's and instance's venv (the pypiserver role installs it
#                                   with --require-hashes, wheels only; Debian 12 and 13, amd64 and arm64)
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv/bin/uv}
[ -x "$UV" ] || { echo "lock.sh: $UV is missing: run scripts/setup.sh once" >&2; exit 1; }

mode=lock
case "${1:-}" in
  "") ;;
  --upgrade) mode=upgrade ;;
  --check) mode=check ;;
  *) echo "usage: scripts/lock.sh [--upgrade|--check]" >&2; exit 2 ;;
esac

# Every environment runs CPython 3.11 (Debian 12's, this machine's) or newer (a host's venv: Debian
# 13's 3.13); --universal keeps the markers of other platforms and Python versions, so a lock made
# here installs on arm64 and on 3.13 too.
inputs=(requirements-uv.txt requirements.txt tests/clients/requirements.txt
        benchmarks/devpi/requirements.txt benchmarks/baseline/requirements.txt
        roles/pypiserver/files/requirements-host.txt)
stale=()
for input in "${inputs[@]}"; do
  lock=${input%.txt}.lock
  args=(pip compile --quiet --universal --python-version 3.11 --generate-hashes
        --no-header --annotation-style line "$input")
  case $mode in
    upgrade) "$UV" "${args[@]}" --upgrade -o "$lock" ;;
    lock) "$UV" "${args[@]}" -o "$lock" ;;
    check)
      # re-lock a copy, which keeps the copy's pins: an unchanged copy means the lock answers its input
      copy=$(mktemp); cp "$lock" "$copy" 2>/dev/null || : >"$copy"
      if ! "$UV" "${args[@]}" -o "$copy" >/dev/null 2>&1 || ! cmp -s "$copy" "$lock"; then stale+=("$lock"); fi
      rm -f "$copy" ;;
  esac
done
if ((${#stale[@]})); then
  echo "lock.sh: out of date with its input: ${stale[*]} (run scripts/lock.sh and commit the result)" >&2
  exit 1
fi
