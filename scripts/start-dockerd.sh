#!/usr/bin/env bash
# Starts a Docker engine by hand: the host has no systemd to do it.
# State lives under $DOCKER_BASE (default /var/tmp/privatepypi-docker).
set -euo pipefail
BASE=${DOCKER_BASE:-/var/tmp/privatepypi-docker}
# The project's own bridge: containers reach the AWS emulator on its gateway address.
ensure_network() {
  docker network inspect privatepypi >/dev/null 2>&1 ||
    docker network create --subnet 172.28.0.0/24 --gateway 172.28.0.1 privatepypi >/dev/null
}
if docker info >/dev/null 2>&1; then
  ensure_network
  exit 0
fi
mkdir -p "$BASE/data" "$BASE/exec"
# The engine outlives this script: it must not inherit the caller's descriptors, or a lock the
# caller holds (flock /tmp/molecule.lock scripts/test.sh ...) stays held until the engine stops.
(
  for fd in /proc/self/fd/*; do
    fd=${fd##*/}
    if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
  exec nohup dockerd --data-root "$BASE/data" --exec-root "$BASE/exec" \
    -H unix:///var/run/docker.sock >"$BASE/dockerd.log" 2>&1
) &
echo $! >"$BASE/dockerd.pid"
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && break
  sleep 1
done
docker info --format 'dockerd {{.ServerVersion}} ({{.Driver}}, cgroup v{{.CgroupVersion}})' \
  || { tail -20 "$BASE/dockerd.log"; exit 1; }
ensure_network
