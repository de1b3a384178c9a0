#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine:
# Debian packages, the project venv, a Docker engine started by hand (no systemd
# on the host) and the Debian 12 systemd image the tests boot. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# pebble: the ACME test CA the HTTPS boot rehearsal runs on this machine (tests/rehearsal/test_https.py)
# logrotate: the unit tests rotate a scratch audit log with the configuration the role writes
apt_packages=(docker.io debootstrap wrk rsync stunnel4 pebble logrotate)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ] || ! cmp -s requirements.txt .venv/.requirements.txt; then
  echo "setup: building .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt
  cp requirements.txt .venv/.requirements.txt
fi

# The package clients the client-compatibility tests drive (tests/clients), in a venv of
# their own: poetry's and pdm's dependencies must not move the toolchain's pins above.
if [ ! -x .venv-clients/bin/python ] || ! cmp -s tests/clients/requirements.txt .venv-clients/.requirements.txt; then
  echo "setup: building .venv-clients"
  python3 -m venv .venv-clients
  .venv-clients/bin/pip install -q -r tests/clients/requirements.txt
  cp tests/clients/requirements.txt .venv-clients/.requirements.txt
fi

# Link this checkout in as the collection privatepypi.aws (ansible.cfg's collections_path).
mkdir -p .collections/ansible_collections/privatepypi
ln -sfn ../../.. .collections/ansible_collections/privatepypi/aws

scripts/start-dockerd.sh
scripts/build-systemd-image.sh
echo "setup: done"
