#!/usr/bin/env bash
# The main job on a local default: the budget stack rehearsed end to end.
# site.yml provisions it against the local AWS emulator, then the launch
# template's user data boots an "instance" container that serves the index.
# Usage: scripts/demo.sh [up|down]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# only "up" boots an instance container; "down" needs no image
[ "${1:-up}" != up ] || scripts/build-cloud-image.sh
export PATH=$PWD/.venv/bin:$PATH ANSIBLE_CONFIG=$PWD/ansible.cfg
mkdir -p .cache && chmod 700 .cache
case "${1:-up}" in
  up) exec python -m tests.support.rehearse up ;;
  down) exec python -m tests.support.rehearse down ;;
  *) echo "usage: $0 [up|down]" >&2; exit 2 ;;
esac
