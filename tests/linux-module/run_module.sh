#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# run_module.sh - the `linux-module` CTest: build the uret test module with Kbuild against the
# headers of exactly the Debian kernel the guest test boots, then boot that kernel under QEMU
# (tests/guest/run_guest.sh) with module_init as /init and the module in /lib.
#
#   run_module.sh --init <static /init> --cache <dir in the build tree> --include <uret include>
#                 [--timeout <seconds for QEMU>] [--inject lost_restore]
#
# --inject runs a control: the module loses the notifier's restore writes (they report success
# and write nothing), and the run passes only if the guest test fails at the first restore.
#
# Exit status: 0 pass; 1 fail (a Kbuild warning or error fails too); 77 skipped, after
# "skipped: <reason>", when the kernel, its headers, Kbuild or the compilers cannot be had.
# Cached under --cache: the headers packages (linux-headers-<abi>-amd64 and -common, fetched
# with apt-get download and unpacked with dpkg-deb -x), the module's build tree and the guest's
# files. The kernel itself is cached by run_guest.sh. URET_GUEST_KERNEL_CACHE=<dir> shares the
# kernel and the headers between build trees; URET_GUEST_KERNEL_PKG pins the kernel for both.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
init="" cache="" include="" qemu_timeout=180 inject=""
while [ $# -gt 0 ]; do
  case "$1" in
    --init) init=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --include) include=$2; shift 2 ;;
    --timeout) qemu_timeout=$2; shift 2 ;;
    --inject) inject=$2; shift 2 ;;
    *) echo "run_module.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$init" ] || [ -z "$cache" ] || [ -z "$include" ]; then
  echo "usage: run_module.sh --init FILE --cache DIR --include DIR" >&2
  exit 2
fi

skip() { echo "skipped: $*"; exit 77; }
note() { echo "linux-module: $*"; }
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

[ "$(uname -m)" = x86_64 ] || skip "the module test needs an x86-64 host (found $(uname -m))"
for tool in make gcc-12 g++-12 apt-get apt-cache dpkg-deb dpkg-query; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool missing (scripts/deps.sh module)"
done

# --- the kernel: the one run_guest.sh boots -----------------------------------------------------
kernel_pkg=${URET_GUEST_KERNEL_PKG:-}
if [ -z "$kernel_pkg" ]; then
  kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
               sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1)
fi
[ -n "$kernel_pkg" ] || skip "cannot resolve linux-image-amd64 to a kernel package (apt-get update needed?)"
release=${kernel_pkg#linux-image-}      # 6.1.0-57-amd64
abi=${release%-amd64}                   # 6.1.0-57
if [ "$release" = "$kernel_pkg" ] || [ "$abi" = "$release" ]; then
  skip "$kernel_pkg is not a linux-image-<abi>-amd64 package"
fi

# --- its headers, and the Kbuild they need ------------------------------------------------------
hdr="${URET_GUEST_KERNEL_CACHE:-$cache/headers}/linux-headers-$abi"
if [ ! -f "$hdr/.ready" ]; then
  note "fetching linux-headers-$release and linux-headers-$abi-common"
  rm -rf "$hdr"
  mkdir -p "$hdr/deb" "$hdr/root"
  (cd "$hdr/deb" && apt-get download -q "linux-headers-$release" "linux-headers-$abi-common" \
     >"$hdr/download.log" 2>&1) ||
    skip "apt-get download linux-headers-$release failed (log: $hdr/download.log)"
  for deb in "$hdr"/deb/*.deb; do dpkg-deb -x "$deb" "$hdr/root"; done
  touch "$hdr/.ready"
fi
kdir="$hdr/root/usr/src/linux-headers-$release"
common="$hdr/root/usr/src/linux-headers-$abi-common"
if [ ! -f "$kdir/Makefile" ] || [ ! -d "$common" ]; then
  echo "FAIL: unexpected layout in $hdr"
  exit 1
fi
# The packages expect to live in /: the arch Makefile includes the common one by absolute path,
# and scripts/ and tools/ are relative links to /usr/lib/linux-kbuild-6.1 (package linux-kbuild-6.1).
sed -i "s#^include /usr/src/linux-headers-$abi-common/Makefile#include $common/Makefile#" "$kdir/Makefile"
kbuild_pkg=linux-kbuild-${abi%%.0-*}    # linux-kbuild-6.1
need=$(dpkg-deb -f "$hdr"/deb/linux-headers-"$release"_*.deb Depends |
       tr ',' '\n' | sed -n "s/^ *$kbuild_pkg (>= \(.*\))/\1/p")
have=$(dpkg-query -W -f='${Version}' "$kbuild_pkg" 2>/dev/null || true)
[ -n "$have" ] || skip "$kbuild_pkg is not installed (scripts/deps.sh module)"
if [ -n "$need" ] && ! dpkg --compare-versions "$have" ge "$need"; then
  skip "$kbuild_pkg $have is older than the $need the headers need (apt-get upgrade $kbuild_pkg)"
fi
mkdir -p "$hdr/root/usr/lib"
ln -sfn "/usr/lib/$kbuild_pkg" "$hdr/root/usr/lib/$kbuild_pkg"

# --- the module: Kbuild, with no warning allowed ------------------------------------------------
src="$cache/module"
mkdir -p "$src"
cp -p "$here"/Kbuild "$here"/*.c "$here"/*.cpp "$here"/*.h "$src"/
rm -f "$src/module_init.cpp"    # user space, built by CMake
note "building uret_test.ko for $release"
log="$cache/kbuild.log"
if ! make -j2 -C "$kdir" M="$src" URET_INCLUDE="$include" modules >"$log" 2>&1; then
  echo "FAIL: Kbuild failed"; cat "$log"; exit 1
fi
if grep -Eiq '(warning|error)[: ]' "$log"; then
  echo "FAIL: Kbuild printed warnings"; cat "$log"; exit 1
fi
sed 's/^/  kbuild: /' "$log" | grep -E 'C\+\+|CC|LD|MODPOST' || true
modinfo_vermagic=$(objcopy -O binary --only-section=.modinfo "$src/uret_test.ko" /dev/stdout |
                   tr '\0' '\n' | sed -n 's/^vermagic=//p')
note "uret_test.ko vermagic: $modinfo_vermagic"

# --- the guest ----------------------------------------------------------------------------------
# One kernel download for the run and the control.
export URET_GUEST_KERNEL_CACHE=${URET_GUEST_KERNEL_CACHE:-$cache/kernels}
guest=("$here/../guest/run_guest.sh" --init "$init" --timeout "$qemu_timeout" --smp 2
       --file "$src/uret_test.ko:lib/uret_test.ko")
if [ -z "$inject" ]; then
  URET_GUEST_KERNEL_PKG=$kernel_pkg exec "${guest[@]}" --cache "$cache/guest"
fi
# The control: its own guest cache, so the real run's console log stays.
status=0
URET_GUEST_KERNEL_PKG=$kernel_pkg "${guest[@]}" --cache "$cache/control-$inject" \
  --append "uret_test.inject=$inject" >"$cache/control-$inject.log" 2>&1 || status=$?
console="$cache/control-$inject/guest-console.log"
[ "$status" != 77 ] || { cat "$cache/control-$inject.log"; exit 77; }
if [ "$status" = 1 ] && grep -q 'loading uret_test.ko with inject=' "$console" &&
   grep -q 'FAIL user mode sees the host value' "$console" &&
   grep -q 'URET-GUEST: FAIL' "$console"; then
  grep -a -E 'inject=|FAIL|URET-GUEST' "$console"
  echo "linux-module: control $inject: the guest test caught it (as it must)"
  exit 0
fi
cat "$cache/control-$inject.log"
echo "linux-module: control $inject: the guest test did NOT fail as expected (status $status)"
exit 1
