#!/usr/bin/env bash
# Builds a Debian image with systemd as PID 1 that molecule and the boot rehearsal run
# (no image registry is reachable, so: debootstrap + docker import).
#   scripts/build-systemd-image.sh [SUITE]   bookworm or 12 (default) -> privatepypi/debian12-systemd:latest
#                                            trixie or 13             -> privatepypi/debian13-systemd:latest
# Skips the build when an image made by this same script for that suite already exists.
set -euo pipefail
SUITE=${1:-bookworm}
case $SUITE in
  bookworm|12) SUITE=bookworm release=12 ;;
  trixie|13) SUITE=trixie release=13 ;;
  *) echo "build-systemd-image.sh: unknown suite '$SUITE' (bookworm or trixie)" >&2; exit 2 ;;
esac
IMAGE=privatepypi/debian$release-systemd:latest
# one root per suite: two builds (two checkouts) of different suites must not share it
BASE=${IMAGE_BASE:-/var/tmp/privatepypi-image}-$SUITE
ROOTFS=$BASE/rootfs
recipe=$( (sha256sum "$0"; echo "$SUITE") | sha256sum | cut -c1-16)

# One build per suite at a time: the full test run's lanes ask for their images at once (the
# molecule scenarios, the boot rehearsal); a second caller waits for the first one's image.
mkdir -p "$(dirname "$BASE")"
exec 9>"$BASE.lock"
flock 9
if [ "$(docker image inspect -f '{{index .Config.Labels "recipe"}}' "$IMAGE" 2>/dev/null)" = "$recipe" ]; then
  exit 0
fi
started=$(date +%s)
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
rm -rf "$ROOTFS"; mkdir -p "$ROOTFS"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,iproute2,procps,curl \
  "$SUITE" "$ROOTFS" "$mirror" >"$BASE.debootstrap.log" 2>&1 || { tail -20 "$BASE.debootstrap.log"; exit 1; }

# Inside, apt and pip must use the same mirror, apt options and CA trust as the host; the host's
# sources name its own suite (bookworm), so they are rewritten to the image's.
rm -f "$ROOTFS/etc/apt/sources.list"
sed -E "s/\bbookworm\b/$SUITE/g" /etc/apt/sources.list.d/debian.sources >"$ROOTFS/etc/apt/sources.list.d/debian.sources"
for f in /etc/apt/apt.conf.d/99*; do [ -f "$f" ] && cp "$f" "$ROOTFS/etc/apt/apt.conf.d/"; done
cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$ROOTFS" update-ca-certificates >/dev/null
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$ROOTFS/etc/pip.conf"
if [ -f /etc/pip.conf ]; then  # keep the host's index settings (e.g. a mirror) as well
  grep -v '^\s*cert\s*=' /etc/pip.conf | grep -v '^\[global\]' >>"$ROOTFS/etc/pip.conf" || true
fi

# A fresh machine-id per container; no units that cannot work in a container.
: >"$ROOTFS/etc/machine-id"
for unit in getty@tty1.service e2scrub_reap.service apt-daily.timer apt-daily-upgrade.timer \
            dpkg-db-backup.timer e2scrub_all.timer fstrim.timer systemd-pstore.service; do
  chroot "$ROOTFS" systemctl mask "$unit" >/dev/null 2>&1 || true
done
chroot "$ROOTFS" apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/tmp/* "$ROOTFS"/var/log/*.log
# An empty apt cache must look old, or apt's cache_valid_time skips the first update.
touch -d @0 "$ROOTFS/var/lib/apt/lists"

tar -C "$ROOTFS" -c . | docker import \
  -c 'ENV container=docker' -c 'CMD ["/lib/systemd/systemd"]' -c "LABEL recipe=$recipe" \
  - "$IMAGE" >/dev/null
rm -rf "$ROOTFS"
docker image prune -f >/dev/null
echo "image $IMAGE built in $(( $(date +%s) - started ))s"
