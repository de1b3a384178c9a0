#!/usr/bin/env bash
# The main job on a local default. Usage: scripts/demo.sh [up|down]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH=$PWD/.venv/bin:$PATH ANSIBLE_CONFIG=$PWD/ansible.cfg
mkdir -p .cache && chmod 700 .cache
case "${1:-up}" in
  up) ansible-playbook playbooks/local_demo.yml ;;
  down) ansible-playbook playbooks/local_demo.yml -e demo_state=absent ;;
  *) echo "usage: $0 [up|down]" >&2; exit 2 ;;
esac
