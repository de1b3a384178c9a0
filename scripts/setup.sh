#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine:
# Debian packages, the project venv, a Docker engine started by hand (no systemd
# on the host) and the images the tests boot: Debian 12 with systemd (molecule), Debian 13
# with systemd and cloud-init (the boot rehearsal, what a stack boots). Safe to re-run.
#   scripts/setup.sh          everything
#   scripts/setup.sh tools    the Debian packages and the venvs only (the stages with no container)
#   scripts/setup.sh engine   the tools and the Docker engine, no image: scripts/test.sh's stages
#                             build the images they boot themselves (an image is built once)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# pebble: the ACME test CA the HTTPS boot rehearsal runs on this machine (tests/rehearsal/test_https.py)
# logrotate: the unit tests rotate a scratch audit log with the configuration the role writes
# lua-check: luacheck, the lint stage's linter of nginx's Lua (roles/pypiserver/files/privatepypi_host)
apt_packages=(docker.io debootstrap wrk rsync stunnel4 pebble logrotate lua-check)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Every venv installs from its lock file (scripts/lock.sh writes them): every transitive
# dependency pinned and hash-checked, so a fresh machine runs what the last lock chose.
# `uv pip sync` also removes what the lock no longer names. A venv is rebuilt when its lock or
# the way it is built changes (the copies kept inside it differ).
# --compile-bytecode: uv writes no .pyc by default, and with PYTHONDONTWRITEBYTECODE set (as on
# this machine kind) nothing ever does, so every ansible task, emulator and pytest process would
# compile boto3, botocore and ansible from source again: a third of a module run's CPU.
venv_recipe="uv pip sync --require-hashes --compile-bytecode"
venv_from_lock() {  # venv-dir lock-file
  local venv=$1 lock=$2
  if [ -x "$venv/bin/python" ] && cmp -s "$lock" "$venv/.lock" && cmp -s requirements-uv.lock "$venv/.uv.lock" \
     && [ "$(cat "$venv/.recipe" 2>/dev/null)" = "$venv_recipe" ]; then
    return
  fi
  echo "setup: building $venv from $lock"
  python3 -m venv --clear "$venv"
  # uv itself, hash-checked by pip; it installs the rest (the package clients need pip too)
  "$venv/bin/pip" install -q --require-hashes --no-deps -r requirements-uv.lock
  "$venv/bin/uv" pip sync -q --python "$venv/bin/python" --require-hashes --compile-bytecode "$lock"
  cp "$lock" "$venv/.lock"
  echo "$venv_recipe" >"$venv/.recipe"
  cp requirements-uv.lock "$venv/.uv.lock"
}
venv_from_lock .venv requirements.lock
# The package clients the client-compatibility tests drive (tests/clients), in a venv of
# their own: poetry's and pdm's dependencies must not move the toolchain's pins above.
venv_from_lock .venv-clients tests/clients/requirements.lock

# Link this checkout in as the collection privatepypi.aws (ansible.cfg's collections_path).
mkdir -p .collections/ansible_collections/privatepypi
ln -sfn ../../.. .collections/ansible_collections/privatepypi/aws

# `scripts/setup.sh tools` stops here: the stages that run no container need nothing more.
if [ "${1:-all}" = tools ]; then echo "setup: done (tools)"; exit 0; fi

scripts/start-dockerd.sh
if [ "${1:-all}" = engine ]; then echo "setup: done (engine)"; exit 0; fi
# Each image is built once (about 2 minutes for a debootstrap root, half a minute for cloud-init)
# and rebuilt only when its recipe changes.
scripts/build-systemd-image.sh bookworm
scripts/build-cloud-image.sh trixie   # builds the Debian 13 systemd image first
echo "setup: done"
