#!/usr/bin/env bash
# Makes a Debian bookworm base image without a container registry: debootstrap's minimal variant
# from the apt mirror this machine is configured with, then `docker import`. build.sh --local-base
# builds FROM it; with a registry, debian:bookworm-slim is the same system.
# Usage: docker/base.sh [TAG]   (default algobench-base:bookworm; needs root and debootstrap)
set -euo pipefail
TAG="${1:-algobench-base:bookworm}"

# The first Debian mirror in this machine's apt sources (deb822 or one-line format), else Debian's.
mirror_of_this_machine() {
  {
    grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'
  } | grep -v security | grep -E '/debian/?$' | head -n 1 || true
}
MIRROR="${DEBIAN_MIRROR:-$(mirror_of_this_machine)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

if ! command -v debootstrap >/dev/null; then
  echo "docker/base.sh: debootstrap is missing: apt-get install -y debootstrap" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "docker/base.sh: debootstrap needs root: run it with sudo" >&2
  exit 2
fi

ROOTFS="$(mktemp -d /tmp/algobench-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT
echo "debootstrap --variant=minbase bookworm from $MIRROR"
debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || {
  tail -n 20 "$ROOTFS.log" >&2; rm -f "$ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
tar -C "$ROOTFS" -c . | docker import - "$TAG" >/dev/null
echo "base image $TAG made ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
