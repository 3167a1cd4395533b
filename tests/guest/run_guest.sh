#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_guest.sh - the `guest` CTest: boot a stock Debian kernel under QEMU's software emulation
# with a one-program initramfs whose /init is guest_init.cpp, and judge the run.
#
#   run_guest.sh --init <static /init binary> --cache <dir in the build tree>
#                [--timeout <seconds for QEMU>] [--smp <vCPUs>] [--example <static binary>]
#
# Exit status: 0 pass; 1 fail (the guest log is printed); 77 skipped (CTest's SKIP_RETURN_CODE),
# after a line "skipped: <reason>", when QEMU or the kernel cannot be had here.
# Missing tools are installed with apt-get when running as root. Cached under --cache: the kernel
# package, its extracted tree and the uncompressed vmlinux (re-fetched only when Debian's
# linux-image-amd64 moves to a new ABI). Pin a kernel with URET_GUEST_KERNEL_PKG=<package>;
# share the kernel cache between build trees with URET_GUEST_KERNEL_CACHE=<dir>.
# The guest's console log and a summary are kept in --cache (guest-console.log, guest-summary.log).
set -euo pipefail

init="" cache="" example="" qemu_timeout=120 smp=2
while [ $# -gt 0 ]; do
  case "$1" in
    --init) init=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --timeout) qemu_timeout=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --example) example=$2; shift 2 ;;
    *) echo "run_guest.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$init" ] || [ -z "$cache" ]; then
  echo "usage: run_guest.sh --init FILE --cache DIR" >&2
  exit 2
fi
[ -x "$init" ] || { echo "run_guest.sh: $init is not an executable" >&2; exit 1; }

skip() { echo "skipped: $*"; exit 77; }
note() { echo "guest-test: $*"; }
clock() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(clock)" 'BEGIN { printf "%.1f", b - a }'; }

started=$(clock)
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# --- tools ------------------------------------------------------------------------------------
[ "$(uname -m)" = x86_64 ] || skip "the guest test needs an x86-64 host (found $(uname -m))"
packages="qemu-system-x86 cpio xz-utils gzip binutils"
missing=""
for tool in qemu-system-x86_64 cpio xz gzip objcopy readelf dpkg-deb apt-get apt-cache timeout; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  command -v apt-get >/dev/null 2>&1 || skip "missing$missing and no apt-get to install them"
  [ "$(id -u)" = 0 ] || skip "missing$missing; install as root: apt-get install $packages"
  note "installing $packages (missing:$missing)"
  t=$(clock)
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086  # the package list is meant to split
  if ! apt-get install -y -q --no-install-recommends $packages >"$cache/apt.log" 2>&1; then
    apt-get update -q >>"$cache/apt.log" 2>&1 || true
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $packages >>"$cache/apt.log" 2>&1 ||
      skip "apt-get install $packages failed (log: $cache/apt.log)"
  fi
  note "packages installed in $(since "$t") s"
  for tool in $missing; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool still missing after installing $packages"
  done
fi

# --- kernel -----------------------------------------------------------------------------------
kernel_pkg=${URET_GUEST_KERNEL_PKG:-}
kernels=${URET_GUEST_KERNEL_CACHE:-$cache/kernels}
resolve_kernel() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1
}
if [ -z "$kernel_pkg" ]; then
  kernel_pkg=$(resolve_kernel)
  if [ -z "$kernel_pkg" ] && [ "$(id -u)" = 0 ]; then
    apt-get update -q >"$cache/apt-update.log" 2>&1 || true
    kernel_pkg=$(resolve_kernel)
  fi
  if [ -z "$kernel_pkg" ]; then
    # Offline: fall back to the newest kernel already in the cache.
    kernel_pkg=$(find "$kernels" -mindepth 2 -maxdepth 2 -name .ready -printf '%h\n' 2>/dev/null |
                 sort -V | tail -n 1 | xargs -r basename)
  fi
  [ -n "$kernel_pkg" ] || skip "cannot resolve linux-image-amd64 to a kernel package (apt-get update needed?)"
fi
kdir="$kernels/$kernel_pkg"
if [ ! -f "$kdir/.ready" ]; then
  note "fetching $kernel_pkg"
  t=$(clock)
  rm -rf "$kdir"
  mkdir -p "$kdir/deb" "$kdir/root"
  (cd "$kdir/deb" && apt-get download -q "$kernel_pkg" >"$kdir/download.log" 2>&1) ||
    skip "apt-get download $kernel_pkg failed (log: $kdir/download.log)"
  dpkg-deb -x "$kdir"/deb/*.deb "$kdir/root"
  touch "$kdir/.ready"
  note "kernel fetched and unpacked in $(since "$t") s"
fi
vmlinuz=$(find "$kdir/root/boot" -name 'vmlinuz-*' | head -n 1)
[ -n "$vmlinuz" ] || { echo "FAIL: no vmlinuz in $kernel_pkg"; exit 1; }
release=${vmlinuz##*/vmlinuz-}

# The bzImage carries the kernel as a compressed ELF. Unpacked once and cached, the ELF boots
# directly through its PVH entry point, sparing the guest a slow in-emulator decompression.
vmlinux="$kdir/vmlinux"
if [ ! -s "$vmlinux" ]; then
  for method in xz gzip; do
    case $method in
      xz) magic='\xfd7zXZ\x00' unpack="xz -dc" ;;
      gzip) magic='\x1f\x8b\x08' unpack="gzip -dc" ;;
    esac
    for offset in $(LC_ALL=C grep -obUaP "$magic" "$vmlinuz" | cut -d: -f1 | head -n 4); do
      tail -c "+$((offset + 1))" "$vmlinuz" | $unpack >"$vmlinux.part" 2>/dev/null || true
      if [ "$(head -c 4 "$vmlinux.part" | od -An -c | tr -d ' ')" = '177ELF' ]; then
        mv "$vmlinux.part" "$vmlinux"
        break 2
      fi
    done
  done
  rm -f "$vmlinux.part"
fi
kernel_image=$vmlinuz
# A Xen ELF note of type 0x12 (the PVH entry point) makes the ELF bootable by QEMU's -kernel;
# without it, boot the bzImage.
if [ -s "$vmlinux" ] &&
   readelf -n "$vmlinux" 2>/dev/null | grep -Eq '^ *Xen .*(\(0x00000012\)|PHYS32_ENTRY)'; then
  kernel_image=$vmlinux
fi

# --- initramfs: /init, the msr module, mount points --------------------------------------------
stage="$cache/initramfs"
rm -rf "$stage"
mkdir -p "$stage/dev" "$stage/proc" "$stage/sys" "$stage/lib"
if grep -qs '^CONFIG_X86_MSR=y' "$kdir/root/boot/config-$release"; then
  note "the msr driver is built into $release"
else
  module=$(find "$kdir/root/lib/modules/$release" -path '*/arch/x86/kernel/msr.ko*' | head -n 1)
  [ -n "$module" ] || { echo "FAIL: no msr.ko in $kernel_pkg"; exit 1; }
  case "$module" in  # the guest loads it with finit_module, which may lack decompression
    *.ko.xz) xz -dc "$module" >"$stage/lib/msr.ko" ;;
    *.ko.gz) gzip -dc "$module" >"$stage/lib/msr.ko" ;;
    *.ko.zst) zstd -dcq "$module" >"$stage/lib/msr.ko" ;;
    *) cp "$module" "$stage/lib/msr.ko" ;;
  esac
  deps=$(objcopy -O binary --only-section=.modinfo "$stage/lib/msr.ko" /dev/stdout |
         tr '\0' '\n' | sed -n 's/^depends=//p')
  [ -z "$deps" ] || { echo "FAIL: msr.ko now depends on '$deps'; load those first"; exit 1; }
fi
cp "$init" "$stage/init"
strip "$stage/init" 2>/dev/null || true
if [ -n "$example" ]; then  # the guest runs it as /read_host_msrs
  cp "$example" "$stage/read_host_msrs"
  strip "$stage/read_host_msrs" 2>/dev/null || true
fi
initrd="$cache/initrd.gz"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
  gzip -n -6 >"$initrd"

# --- boot -------------------------------------------------------------------------------------
console="$cache/guest-console.log"
summary="$cache/guest-summary.log"
note "booting $kernel_pkg ($(basename "$kernel_image")) with -smp $smp, timeout ${qemu_timeout} s"
boot_started=$(clock)
set +e
timeout --kill-after=5 "$qemu_timeout" \
  qemu-system-x86_64 -M pc -accel tcg -cpu max -smp "$smp" -m 256M \
    -kernel "$kernel_image" -initrd "$initrd" \
    -append "console=ttyS0 quiet panic=-1 URET_P5_ITERS=${URET_P5_ITERS:-20000}" \
    -display none -monitor none -serial stdio -nic none -no-reboot \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 </dev/null >"$console" 2>&1
status=$?
set -e
boot_seconds=$(since "$boot_started")
tr -d '\r' <"$console" >"$console.tmp" && mv "$console.tmp" "$console"

# PASS needs both: QEMU's exit status from the debug-exit port (1 = the guest wrote 0) and the
# marker. Status 0 means the guest died or powered off without reporting (panic=-1 + -no-reboot).
marker=$(grep -ao 'URET-GUEST: \(PASS\|FAIL\)' "$console" | tail -n 1 || true)
if [ "$status" = 1 ] && [ "$marker" = "URET-GUEST: PASS" ]; then
  verdict=pass
elif [ "$status" = 124 ] || [ "$status" = 137 ]; then
  verdict="timeout after ${qemu_timeout} s"
elif [ "$status" = 0 ]; then
  verdict="no result: the guest stopped without reporting (crash or panic)"
else
  verdict="fail (QEMU status $status, marker '${marker:-none}')"
fi

{
  echo "guest-test: kernel $kernel_pkg, image $(basename "$kernel_image"), -smp $smp"
  grep -a -E '^(RDTSCP|P5|contract:|example as|URET-GUEST:)' "$console" || true
  echo "guest-test: QEMU boot-to-poweroff ${boot_seconds} s, whole test $(since "$started") s"
  echo "guest-test: verdict: $verdict (guest log: $console)"
} | tee "$summary"

if [ "$verdict" != pass ]; then
  echo "================ guest console ($console) ================"
  cat "$console"
  echo "==========================================================="
  exit 1
fi
