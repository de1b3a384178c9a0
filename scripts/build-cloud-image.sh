#!/usr/bin/env bash
# The boot rehearsal's "AMI": a Debian systemd image (scripts/build-systemd-image.sh, built
# first for the same suite) plus cloud-init, which reads user data from a NoCloud seed
# directory as an EC2 instance reads it from the metadata service. Network configuration is
# Docker's, not cloud-init's.
#   scripts/build-cloud-image.sh [SUITE]   trixie (default: what the rehearsal boots, as AWS does)
#                                          -> privatepypi/debian13-cloud:latest
#                                          bookworm -> privatepypi/debian12-cloud:latest
set -euo pipefail
SUITE=${1:-trixie}
case $SUITE in
  bookworm|12) SUITE=bookworm release=12 ;;
  trixie|13) SUITE=trixie release=13 ;;
  *) echo "build-cloud-image.sh: unknown suite '$SUITE' (bookworm or trixie)" >&2; exit 2 ;;
esac
"$(dirname "$0")/build-systemd-image.sh" "$SUITE"
BASE_IMAGE=privatepypi/debian$release-systemd:latest
IMAGE=privatepypi/debian$release-cloud:latest
recipe=$( (sha256sum "$0"; docker image inspect -f '{{.Id}}' "$BASE_IMAGE") | sha256sum | cut -c1-16)
# one build at a time (scripts/build-systemd-image.sh says why); a second caller waits, then finds it built
exec 9>"/var/tmp/privatepypi-cloud-image-$SUITE.lock"
flock 9
if [ "$(docker image inspect -f '{{index .Config.Labels "recipe"}}' "$IMAGE" 2>/dev/null)" = "$recipe" ]; then
  exit 0
fi
builder=privatepypi-cloud-image-build-$SUITE
docker rm -f "$builder" >/dev/null 2>&1 || true
docker run --name "$builder" -e "RELEASE=$release" "$BASE_IMAGE" bash -euc '
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cloud-init locales >/dev/null
  printf "datasource_list: [NoCloud]\nnetwork: {config: disabled}\nlocale: C.UTF-8\n" > /etc/cloud/cloud.cfg.d/90-rehearsal.cfg
  # EFS stand-in: this kernel has no NFS client. mount -t nfs4 (the mount unit) runs this instead of
  # nfs-common'"'"'s helper (diverted, so installing nfs-common keeps it): it needs the TLS tunnel
  # listening on the port the unit names, and the store to have "appeared" (/srv/efs-gate/open,
  # which the rehearsal creates at boot, later, or never); then it binds the host folder given
  # as the store (/srv/efs-standin) on the mount point.
  # Both names: Debian 12'"'"'s nfs-common ships /sbin/mount.nfs4, Debian 13'"'"'s /usr/sbin/mount.nfs4 (the
  # same file through the merged /usr, but dpkg only honours a diversion of the name the package ships).
  dpkg-divert --local --rename --divert /sbin/mount.nfs4.distrib --add /sbin/mount.nfs4 >/dev/null
  dpkg-divert --local --no-rename --divert /usr/sbin/mount.nfs4.distrib --add /usr/sbin/mount.nfs4 >/dev/null
  cat > /sbin/mount.nfs4 <<"STANDIN"
#!/bin/bash
set -u
target=$2 options=
shift 2
while [ $# -gt 0 ]; do [ "$1" = -o ] && options=${2:-}; shift; done
echo "$(date +%s) $target $options" >> /run/efs-standin.log
port=$(sed -n "s/.*port=\([0-9]*\).*/\1/p" <<<"$options")
if [ -n "$port" ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "mount.nfs4: Connection refused: no TLS tunnel on 127.0.0.1:$port" >&2; exit 32
fi
if [ ! -e /srv/efs-gate/open ]; then
  echo "mount.nfs4: the file system does not answer yet (its DNS name does not resolve)" >&2; exit 32
fi
exec mount --bind /srv/efs-standin "$target"
STANDIN
  chmod 0755 /sbin/mount.nfs4
  # AWS_ENDPOINT_URL for the botocore of Debian 12 (1.29 ignores it; botocore reads it from 1.31 on,
  # so Debian 13 needs nothing). The pypiserver role gives it to certbot when the AWS calls of the host
  # go elsewhere than AWS (here: the emulator), since certbot-dns-route53 has no endpoint option. The
  # back-port belongs to this image, as a newer botocore would: loaded only into a Python started with
  # the variable set.
  if [ "$RELEASE" = 12 ]; then
  site=/usr/local/lib/python3.11/dist-packages
  mkdir -p "$site"
  cat > "$site/rehearsal_aws_endpoint.py" <<"SHIM"
import os

import botocore.session

_create_client = botocore.session.Session.create_client


def create_client(self, service_name, *args, **kwargs):
    if len(args) < 5 and kwargs.get("endpoint_url") is None:  # endpoint_url is the 6th parameter
        kwargs["endpoint_url"] = os.environ["AWS_ENDPOINT_URL"]
    return _create_client(self, service_name, *args, **kwargs)


botocore.session.Session.create_client = create_client
SHIM
  # The .pth goes beside Debian Python packages: its line runs once that directory is on sys.path.
  echo "import os; os.environ.get(\"AWS_ENDPOINT_URL\") and __import__(\"rehearsal_aws_endpoint\")" \
    > /usr/lib/python3/dist-packages/zz-rehearsal-aws-endpoint.pth
  fi
  apt-get clean; rm -rf /var/lib/apt/lists/*; touch -d @0 /var/lib/apt/lists
  rm -rf /var/lib/cloud/*'
docker commit -c "LABEL recipe=$recipe" -c 'CMD ["/lib/systemd/systemd"]' "$builder" "$IMAGE" >/dev/null
docker rm "$builder" >/dev/null
echo "image $IMAGE built"
