#!/bin/sh
# Runs inside a container of the systemd image (no systemd running yet) to make
# the limit's image: nginx from Debian 12 with the benchmark's site only.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nginx >/dev/null
nginx -v
rm -f /etc/nginx/sites-enabled/default
install -m 0644 /tmp/bench/nginx.conf /etc/nginx/sites-available/bench
ln -sf /etc/nginx/sites-available/bench /etc/nginx/sites-enabled/bench
install -d /srv/bench /etc/bench
# nginx.service is enabled by the package; systemd starts it at boot.
ln -sf /lib/systemd/system/nginx.service /etc/systemd/system/multi-user.target.wants/nginx.service
apt-get clean
rm -rf /var/lib/apt/lists/*
