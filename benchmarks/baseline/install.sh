#!/bin/sh
# Runs inside a container of the systemd image (no systemd running yet) to make
# the baseline's image: pypiserver 2.4.2 in a venv with passlib to read the
# htpasswd (requirements.txt says which releases).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
python3 -m venv /opt/pypiserver
# every dependency pinned and hash-checked (requirements.lock, written by scripts/lock.sh)
/opt/pypiserver/bin/pip install -q --disable-pip-version-check --require-hashes -r /tmp/bench/requirements.lock
/opt/pypiserver/bin/pypi-server --version
install -d -o www-data -g www-data /var/log/pypiserver /var/www/pypi /etc/bench
install -m 0644 /tmp/bench/pypiserver.service /etc/systemd/system/pypiserver.service
ln -sf /etc/systemd/system/pypiserver.service /etc/systemd/system/multi-user.target.wants/pypiserver.service
apt-get clean
rm -rf /var/lib/apt/lists/*
