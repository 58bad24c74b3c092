#!/usr/bin/env bash
# Builds the local Debian bookworm image Molecule runs (docs/design.md, "Molecule on
# this machine": no Docker engine, no image registry). Reused when present;
# TWZRD_IMAGE_REBUILD=1 forces a rebuild. Runs as root.
set -euo pipefail
image=${TWZRD_IMAGE:-localhost/twzrd-debian:bookworm}
suite=${TWZRD_IMAGE_SUITE:-bookworm}

if [ "${TWZRD_IMAGE_REBUILD:-0}" != 1 ] && podman image exists "$image"; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "building $image needs root (debootstrap, rootful podman)" >&2
  exit 1
fi

# The apt mirror this machine already uses (deb822 or one-line sources), so the
# build needs no other network than the host's own.
mirror=${TWZRD_IMAGE_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(grep -rhoE '(URIs:[[:space:]]*|^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
             /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
           | grep -oE 'https?://[^[:space:]]+' | grep -v security | head -n1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

rootfs=$(mktemp -d /var/tmp/twzrd-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "building $image from $mirror ($suite)"
debootstrap --variant=minbase \
  --include=python3,python3-venv,python3-apt,cron,logrotate,systemd,systemd-sysv,dbus,iproute2,procps,sudo,ca-certificates \
  "$suite" "$rootfs" "$mirror" >/dev/null
# apt inside the container uses the same mirror; no recommends keeps converge fast.
echo "deb $mirror $suite main" > "$rootfs/etc/apt/sources.list"
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > "$rootfs/etc/apt/apt.conf.d/90twzrd-norecommends"
# No package lists in the image, and a lists dir that looks stale, so apt-get
# update runs once in each container (ansible.builtin.apt's cache_valid_time).
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*
touch -d @0 "$rootfs/var/lib/apt/lists"
old=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
tar -C "$rootfs" -c . | podman import --change 'CMD ["/sbin/init"]' - "$image" >/dev/null
if [ -n "$old" ] && [ "$old" != "$(podman image inspect --format '{{.Id}}' "$image")" ]; then
  podman rmi "$old" >/dev/null 2>&1 || true   # the replaced build, unless a container still uses it
fi
echo "built $image"
