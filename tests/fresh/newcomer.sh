#!/usr/bin/env bash
# The newcomer test (manual, needs root and Debian's mirror; not part of tests/run.sh): make a
# bare Debian 12 with debootstrap, install only git, clone this repository and run the README's
# commands as written. Usage: tests/fresh/newcomer.sh [ROOT_DIR] [COMMAND...]
#   default command: tests/run.sh unit e2e   (e.g. pass `launch/quickstart.sh` to run the job)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
root=${1:-/tmp/retort-newcomer}
shift || true
command=${*:-tests/run.sh unit e2e}
[ "$(id -u)" -eq 0 ] || { echo "newcomer.sh: run as root (debootstrap, chroot, mounts)" >&2; exit 2; }
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
if [ ! -x "$root/usr/bin/apt-get" ]; then
  debootstrap --variant=minbase bookworm "$root" >/dev/null
fi
for m in proc sys dev dev/pts; do mountpoint -q "$root/$m" || mount --bind "/$m" "$root/$m"; done
trap 'for m in dev/pts dev sys proc; do umount "$root/$m" 2>/dev/null || true; done' EXIT
cp /etc/resolv.conf "$root/etc/resolv.conf"
rm -rf "$root/src" && git clone -q "$repo" "$root/src"
chroot "$root" /bin/bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null"
chroot "$root" /bin/bash -c "cd /src && time $command"
