#!/bin/sh
# SPDX-License-Identifier: MIT
# Make sure the Debian packages a task needs are installed.
#   scripts/deps.sh GROUP...      groups: build bench guest kvm module clang
# As root, missing packages are installed with apt-get. Otherwise the exact command to run is
# printed and the script exits non-zero.
set -eu

pkgs=""
for group in "$@"; do
  case $group in
    # libtracecmd-dev: uret-sim reads trace.dat natively (optional, found with pkg-config).
    build) pkgs="$pkgs cmake make g++ catch2 libfmt-dev pkg-config libtracecmd-dev" ;;
    # time: GNU time, the peak RSS of benchmarks/import_stream.sh.
    bench) pkgs="$pkgs libbenchmark-dev valgrind time" ;;
    guest) pkgs="$pkgs qemu-system-x86 cpio xz-utils binutils gzip" ;;
    # The linux-module test: Kbuild for Debian's 6.1 kernels and the compiler they were built
    # with (the kernel headers themselves are fetched by the test, for the kernel it boots).
    module) pkgs="$pkgs linux-kbuild-6.1 make gcc-12 g++-12 binutils" ;;
    # The live-KVM test: QEMU as for the guest test, a static shell for the recording helper and
    # trace-cmd (its trace.dat scenario).
    kvm) pkgs="$pkgs qemu-system-x86 cpio xz-utils binutils gzip coreutils busybox-static trace-cmd" ;;
    clang) pkgs="$pkgs clang libclang-rt-14-dev clang-format clang-tidy" ;;
    *) echo "deps.sh: unknown group '$group' (build, bench, guest, kvm, module, clang)" >&2; exit 2 ;;
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
