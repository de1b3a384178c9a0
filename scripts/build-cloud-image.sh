#!/usr/bin/env bash
# The boot rehearsal's "AMI": the Debian 12 systemd image plus cloud-init, which
# reads user data from a NoCloud seed directory as an EC2 instance reads it from
# the metadata service. Network configuration is Docker's, not cloud-init's.
set -euo pipefail
BASE_IMAGE=${TEST_IMAGE:-privatepypi/debian12-systemd:latest}
IMAGE=${CLOUD_IMAGE:-privatepypi/debian12-cloud:latest}
recipe=$( (sha256sum "$0"; docker image inspect -f '{{.Id}}' "$BASE_IMAGE") | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "recipe"}}' "$IMAGE" 2>/dev/null)" = "$recipe" ]; then
  exit 0
fi
builder=privatepypi-cloud-image-build
docker rm -f "$builder" >/dev/null 2>&1 || true
docker run --name "$builder" "$BASE_IMAGE" bash -euc '
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cloud-init locales >/dev/null
  printf "datasource_list: [NoCloud]\nnetwork: {config: disabled}\nlocale: C.UTF-8\n" > /etc/cloud/cloud.cfg.d/90-rehearsal.cfg
  apt-get clean; rm -rf /var/lib/apt/lists/*; touch -d @0 /var/lib/apt/lists
  rm -rf /var/lib/cloud/*'
docker commit -c "LABEL recipe=$recipe" -c 'CMD ["/lib/systemd/systemd"]' "$builder" "$IMAGE" >/dev/null
docker rm "$builder" >/dev/null
echo "image $IMAGE built"
