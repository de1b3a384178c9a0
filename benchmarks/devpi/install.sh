#!/bin/sh
# Runs inside a container of the systemd image (no systemd running yet) to make
# the devpi peer's image: devpi-server from PyPI in a venv, a server directory
# without the PyPI mirror (--no-root-pypi: nothing may reach a public index),
# and one private index root/bench that run.sh uploads the data set to.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
python3 -m venv /opt/devpi
# every dependency pinned and hash-checked (requirements.lock, written by scripts/lock.sh)
/opt/devpi/bin/pip install -q --disable-pip-version-check --require-hashes -r /tmp/bench/requirements.lock
/opt/devpi/bin/devpi-server --version
/opt/devpi/bin/devpi-init --serverdir /var/lib/devpi --no-root-pypi --root-passwd bench-root-password
/opt/devpi/bin/devpi-server --serverdir /var/lib/devpi --host 127.0.0.1 --port 3141 >/tmp/devpi-init.log 2>&1 &
pid=$!
for _ in $(seq 1 60); do
  /opt/devpi/bin/python -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:3141/+api")' 2>/dev/null && break
  sleep 1
done
export DEVPI_CLIENTDIR=/tmp/devpi-client
/opt/devpi/bin/devpi use http://127.0.0.1:3141
/opt/devpi/bin/devpi login root --password bench-root-password
/opt/devpi/bin/devpi index -c root/bench bases= volatile=True
kill "$pid"; wait "$pid" || true
install -m 0644 /tmp/bench/devpi.service /etc/systemd/system/devpi.service
ln -sf /etc/systemd/system/devpi.service /etc/systemd/system/multi-user.target.wants/devpi.service
apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/devpi-client
