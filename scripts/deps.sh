#!/bin/sh
# SPDX-License-Identifier: MIT
# Make sure the Debian packages a task needs are installed.
#   scripts/deps.sh GROUP...      groups: build bench guest kvm clang
# As root, missing packages are installed with apt-get. Otherwise the exact command to run is
# printed and the script exits non-zero.
set -eu

pkgs=""
for group in "$@"; do
  case $group in
    build) pkgs="$pkgs cmake make g++ catch2 libfmt-dev pkg-config" ;;
    bench) pkgs="$pkgs libbenchmark-dev valgrind" ;;
    guest) pkgs="$pkgs qemu-system-x86 cpio xz-utils binutils gzip" ;;
    kvm) pkgs="$pkgs qemu-system-x86 cpio xz-utils binutils gzip busybox-static" ;;
    clang) pkgs="$pkgs clang libclang-rt-14-dev clang-format clang-tidy" ;;
    *) echo "deps.sh: unknown group '$group' (build, bench, guest, kvm, clang)" >&2; exit 2 ;;
  esac
done

missing=""
for p in $pkgs; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case $status in
    *" installed") ;;
    *) missing="$missing $p" ;;
  esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "uret: missing Debian packages:$missing" >&2
  echo "uret: install them with:" >&2
  echo "  sudo apt-get install -y --no-install-recommends$missing" >&2
  exit 1
fi
echo "uret: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing >/dev/null ||
  { apt-get update >/dev/null && apt-get install -y --no-install-recommends $missing >/dev/null; }
