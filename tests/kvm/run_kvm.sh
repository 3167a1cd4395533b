#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_kvm.sh - the `kvm-*` CTests: boot a stock Debian kernel under QEMU's software emulation
# with AMD SVM (-accel tcg -cpu EPYC -smp 2), whose own kvm.ko + kvm-amd.ko run a VM for the
# static VMM kvm_init.cpp (the guest's /init). The VMM records tracefs for each scenario and
# writes the traces to a raw disk image; this script splits them into one file per scenario,
# checks the user-return WRMSR counts the VMM expects, then runs `uret-sim import --check` on
# each trace.
#
#   run_kvm.sh --init <static /init> --sim <uret-sim> --cache <dir> --out <dir>
#              --kernel 6.1|6.12|<package> [--kernels <dir>] [--timeout <seconds for QEMU>]
#
# --kernel 6.1 is linux-image-amd64's image (Debian 12); 6.12 is the newest
# linux-image-6.12.*+deb12-amd64 apt-cache knows. Kernels are cached as in the guest test
# in --kernels (the guest test's kernel cache; default <cache>/kernels), or in
# URET_GUEST_KERNEL_CACHE=<dir> when set.
# The initramfs holds the VMM as /init, the kvm and virtio-blk modules (uncompressed, numbered in
# dependency order), a static busybox as /bin/sh and scripts/record-kvm-trace.sh, through which
# the VMM records every scenario (the users' recipe is the tested one).
# With trace-cmd installed, one more scenario is recorded by `record-kvm-trace.sh --trace-cmd`
# and its trace.dat must import exactly as its `trace-cmd report` text does.
# Results: <out>/traces/<scenario>.txt (+ .check, .replay, and .dat for trace-cmd's),
# <out>/console.log, <out>/summary.log.
# Exit status: 0 pass, 1 fail (which scenario and why are printed), 77 skipped ("skipped: <why>").
set -euo pipefail

init="" sim="" cache="" out="" kernel="" kernels="" qemu_timeout=300
while [ $# -gt 0 ]; do
  case "$1" in
    --init) init=$2; shift 2 ;;
    --sim) sim=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --kernel) kernel=$2; shift 2 ;;
    --kernels) kernels=$2; shift 2 ;;
    --timeout) qemu_timeout=$2; shift 2 ;;
    *) echo "run_kvm.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$init" ] || [ -z "$sim" ] || [ -z "$cache" ] || [ -z "$out" ] || [ -z "$kernel" ]; then
  echo "usage: run_kvm.sh --init FILE --sim FILE --cache DIR --out DIR --kernel 6.1|6.12|PKG" >&2
  exit 2
fi

skip() { echo "skipped: $*"; exit 77; }
note() { echo "kvm-test: $*"; }
clock() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(clock)" 'BEGIN { printf "%.1f", b - a }'; }
started=$(clock)
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$cache" "$out"
cache=$(cd "$cache" && pwd) out=$(cd "$out" && pwd)

# --- tools ------------------------------------------------------------------------------------
[ "$(uname -m)" = x86_64 ] || skip "the kvm test needs an x86-64 host (found $(uname -m))"
if ! "$here/../../scripts/deps.sh" kvm >"$cache/deps.log" 2>&1; then
  skip "missing packages: $(tr '\n' ' ' <"$cache/deps.log")"
fi
for tool in qemu-system-x86_64 cpio xz gzip base64 objcopy readelf dpkg-deb apt-get apt-cache timeout busybox; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool not found"
done

# --- kernel -----------------------------------------------------------------------------------
kernels=${URET_GUEST_KERNEL_CACHE:-${kernels:-$cache/kernels}}
newest_cached() {  # offline fallback: the newest cached package matching a pattern
  find "$kernels" -mindepth 2 -maxdepth 2 -name .ready -printf '%h\n' 2>/dev/null |
    xargs -r -n1 basename | grep -E "$1" | sort -V | tail -n 1
}
case $kernel in
  6.1)
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
          sed -n 's/^ *Depends: \(linux-image-6\.1\.[^ ]*\).*/\1/p' | head -n 1)
    [ -n "$pkg" ] || pkg=$(newest_cached '^linux-image-6\.1\.[0-9-]+-amd64$') ;;
  6.12)
    pkg=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' 2>/dev/null |
          cut -d' ' -f1 | sort -V | tail -n 1)
    [ -n "$pkg" ] || pkg=$(newest_cached '^linux-image-6\.12\.[0-9]+\+deb12-amd64$') ;;
  *) pkg=$kernel ;;
esac
[ -n "$pkg" ] || skip "no Debian package for kernel $kernel (apt-get update needed?)"
kdir="$kernels/$pkg"
if [ ! -f "$kdir/.ready" ]; then
  note "fetching $pkg"
  rm -rf "$kdir"
  mkdir -p "$kdir/deb" "$kdir/root"
  (cd "$kdir/deb" && apt-get download -q "$pkg" >"$kdir/download.log" 2>&1) ||
    skip "apt-get download $pkg failed (log: $kdir/download.log)"
  dpkg-deb -x "$kdir"/deb/*.deb "$kdir/root"
  touch "$kdir/.ready"
fi
vmlinuz=$(find "$kdir/root/boot" -name 'vmlinuz-*' | head -n 1)
[ -n "$vmlinuz" ] || { echo "FAIL: no vmlinuz in $pkg"; exit 1; }
release=${vmlinuz##*/vmlinuz-}
moddir="$kdir/root/lib/modules/$release"

# --- initramfs: /init and the modules in dependency order ----------------------------------------
stage="$out/initramfs"
rm -rf "$stage"
mkdir -p "$stage/dev" "$stage/proc" "$stage/sys" "$stage/m/virtio" "$stage/m/kvm"
declare -A placed=()
seq=0
# place DIR MODULE: MODULE and (first) its dependencies, uncompressed (finit_module may lack
# decompression), numbered in load order. Built-in modules have no file and are skipped.
place() {
  local dir=$1 name=${2//-/_} file deps d
  [ -z "${placed[$name]:-}" ] || return 0
  placed[$name]=1
  file=$(find "$moddir/kernel" -regextype posix-extended \
           -regex ".*/(${name}|${name//_/-})\.ko(\.xz|\.gz|\.zst)?" | head -n 1)
  if [ -z "$file" ]; then
    grep -qs "/${name}.ko" "$moddir/modules.builtin" ||
      { echo "FAIL: module $name not found in $pkg"; exit 1; }
    return 0
  fi
  local tmp="$out/$name.ko"
  case $file in
    *.xz) xz -dc "$file" >"$tmp" ;;
    *.gz) gzip -dc "$file" >"$tmp" ;;
    *.zst) zstd -dcq "$file" >"$tmp" ;;
    *) cp "$file" "$tmp" ;;
  esac
  deps=$(objcopy -O binary --only-section=.modinfo "$tmp" /dev/stdout | tr '\0' '\n' |
         sed -n 's/^depends=//p' | tr ',' ' ')
  for d in $deps; do place "$dir" "$d"; done
  seq=$((seq + 1))
  mv "$tmp" "$stage/m/$dir/$(printf %02d $seq)-$name.ko"
}
for m in virtio_pci virtio_blk; do place virtio "$m"; done
for m in kvm kvm_amd; do place kvm "$m"; done
cp "$init" "$stage/init"
strip "$stage/init" 2>/dev/null || true
# The VMM records every scenario through the users' recording helper, run by a static shell.
mkdir -p "$stage/bin"
cp "$(command -v busybox)" "$stage/bin/busybox"
for applet in sh cat; do ln -s busybox "$stage/bin/$applet"; done
cp "$here/../../scripts/record-kvm-trace.sh" "$stage/record-kvm-trace.sh"
# Debian's trace-cmd and its shared libraries, when installed: the VMM then also records one
# scenario with `record-kvm-trace.sh --trace-cmd` and brings back its trace.dat.
if tc=$(command -v trace-cmd); then
  cp "$tc" "$stage/bin/trace-cmd"
  for lib in $(ldd "$tc" | grep -o '/[^ ]*'); do
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
  done
  ln -s busybox "$stage/bin/sleep"
fi
initrd="$out/initrd.gz"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
  gzip -n -6 >"$initrd"
note "$pkg: modules $(cd "$stage/m" && find . -name '*.ko' | sort | tr '\n' ' ')"

# --- boot -------------------------------------------------------------------------------------
disk="$out/traces.img"
console="$out/console.log"
qemu_version=$(qemu-system-x86_64 --version | head -n 1)
# A guest kernel that crashes under QEMU's emulation (seen once in many boots: an Oops on an int3
# left by the kernel's own text patching, in a kernel thread, outside KVM) has recorded nothing
# to judge; so has a guest that stops making progress until the timeout (seen once: the 6.1 guest
# hung between two scenarios). The boot is repeated once, and says so. The
# second boot must pass on its own.
for attempt in 1 2; do
  rm -f "$disk"
  truncate -s 256M "$disk"
  note "booting $pkg under $qemu_version (-accel tcg -cpu EPYC -smp 2), timeout ${qemu_timeout} s"
  boot_started=$(clock)
  set +e
  timeout --kill-after=5 "$qemu_timeout" \
    qemu-system-x86_64 -M pc -accel tcg -cpu EPYC -smp 2 -m 1G \
      -kernel "$vmlinuz" -initrd "$initrd" -append "console=ttyS0 quiet panic=-1" \
      -drive "file=$disk,format=raw,if=virtio" \
      -display none -monitor none -serial stdio -nic none -no-reboot </dev/null >"$console" 2>&1
  status=$?
  set -e
  boot_seconds=$(since "$boot_started")
  tr -d '\r' <"$console" >"$console.tmp" && mv "$console.tmp" "$console"
  note "QEMU exited with status $status after ${boot_seconds} s (console: $console)"
  if [ "$attempt" = 1 ] && grep -q 'Kernel panic - not syncing' "$console"; then
    cp "$console" "$out/console.crashed.log"
    note "the guest kernel crashed ($(grep -m1 -E 'Oops|BUG|panic' "$console" | sed 's/^\[[ 0-9.]*\] //')); console kept in $out/console.crashed.log; booting again (2 of 2)"
    continue
  fi
  if [ "$attempt" = 1 ] && [ "$status" = 124 ]; then
    cp "$console" "$out/console.hung.log"
    note "the guest did not finish within ${qemu_timeout} s; console kept in $out/console.hung.log; booting again (2 of 2)"
    continue
  fi
  break
done

# --- split the disk into one trace per scenario -----------------------------------------------
traces="$out/traces"
rm -rf "$traces"
mkdir -p "$traces"
# Everything up to "=== DONE"; the rest of the image is zeros.
LC_ALL=C awk -v dir="$traces" -v hdr="# kernel $pkg ($release), $qemu_version, -accel tcg -cpu EPYC -smp 2" '
  /^=== META / { meta = $0; sub(/^=== META [^ ]+ /, "", meta); metas[$3] = meta; next }
  /^=== BEGIN / { f = dir "/" $3 ".txt"; print "# uret-kvm scenario " $3 ": " metas[$3] > f
                  print hdr > f; next }
  /^=== END / { close(f); f = ""; print $3 >> (dir "/scenarios"); next }
  /^=== DAT / { d = dir "/" $3 ".dat.b64"; next }
  /^=== ENDDAT / { close(d); d = ""; next }
  /^=== DONE/ { print > (dir "/done"); exit }
  d != "" { print > d; next }
  f != "" { print > f }
' <(head -c "$(stat -c %s "$disk")" "$disk" | tr -d '\000')
rm -f "$disk"
for b in "$traces"/*.dat.b64; do
  [ -e "$b" ] || continue
  base64 -d "$b" >"${b%.b64}" && rm -f "$b"
done

fail=0
if [ ! -f "$traces/done" ]; then
  echo "FAIL: the guest wrote no complete set of traces (QEMU status $status)"
  echo "================ guest console ($console) ================"
  tail -n 60 "$console"
  exit 1
fi
grep -q 'URET-KVM: DONE' "$console" || { echo "FAIL: the VMM reported errors:"; grep -a 'URET-KVM\|error' "$console"; fail=1; }

# --- checks -----------------------------------------------------------------------------------
# Per scenario: the write_msr of TSC_AUX (c0000103) per CPU against the VMM's META expectation,
# then the importer's verdict.
summary="$out/summary.log"
{
  echo "kvm-test: kernel $pkg, $qemu_version, boot ${boot_seconds} s"
  echo "TSC_AUX write_msr recorded/expected per CPU; ue = kvm_userspace_exit lines; import --check"
  printf '%-18s %-10s %-10s %-6s %s\n' scenario cpu0 cpu1 ue import-check
} >"$summary"
while read -r s; do
  t="$traces/$s.txt"
  meta=$(sed -n '1s/^# uret-kvm scenario [^:]*: //p' "$t")
  verdicts=""
  cols=()
  for cpu in 0 1; do
    want=$(tr ' ' '\n' <<<"$meta" | sed -n "s/^cpu$cpu=//p")
    got=$(grep -c "\[00$cpu\].* write_msr: *c0000103," "$t" || true)
    cols+=("$got/${want:-any}")
    case ${want:-any} in
      any) ;;
      '>='*) [ "$got" -ge "${want#>=}" ] || verdicts="$verdicts cpu$cpu has $got TSC_AUX writes, expected $want;" ;;
      *) [ "$got" -eq "$want" ] || verdicts="$verdicts cpu$cpu has $got TSC_AUX writes, expected $want;" ;;
    esac
    # the values in order: an exact list, or "(unit)*" for any number of repetitions
    wantseq=$(tr ' ' '\n' <<<"$meta" | sed -n "s/^seq$cpu=//p")
    if [ -n "$wantseq" ]; then
      gotseq=$(grep "\[00$cpu\].* write_msr: *c0000103," "$t" | sed 's/.*, value //' | paste -sd, -)
      case $wantseq in
        '('*')*')
          unit=${wantseq#(}; unit=${unit%)*}
          ok=$(awk -v got="$gotseq" -v unit="$unit" 'BEGIN {
                 n = split(got, g, ","); m = split(unit, u, ",")
                 print (n > 0 && n % m == 0 && got != "") ? 1 : 0
                 for (i = 1; i <= n; i++) if (g[i] != u[(i - 1) % m + 1]) { print 0; exit } }' | tail -n 1) ;;
        *) ok=0; [ "$gotseq" = "$wantseq" ] && ok=1 ;;
      esac
      [ "$ok" = 1 ] ||
        verdicts="$verdicts cpu$cpu TSC_AUX values $(cut -c1-80 <<<"$gotseq"), expected $(cut -c1-80 <<<"$wantseq");"
    fi
  done
  # The importer's verdict: exit 0 and the block's verdict line "trace complete (no gap),
  # prediction exact" (every recorded write of a user-return MSR predicted, same CPU, value and
  # order; nothing attributed to a gap or a heuristic). The recording helper names the events in
  # the trace's first line, so a scenario without writes is ground truth of none.
  set +e
  "$sim" import "$t" -o "$traces/$s.replay" --check >"$traces/$s.check" 2>&1
  rc=$?
  set -e
  total=$(awk '$1 == "all" { print $2 " recorded, " $3 " predicted"; exit }' "$traces/$s.check")
  verdict=$(sed -n 's/^ *verdict: //p' "$traces/$s.check" | head -n 1)
  if [ $rc = 0 ] && [ "$verdict" = "trace complete (no gap), prediction exact" ]; then
    imp="exact (${total:-no totals})"
  else
    imp="exit $rc, ${total:-no totals}, ${verdict:-no verdict}"
    verdicts="$verdicts import --check not exact: $imp (see $traces/$s.check);"
  fi
  # A trace.dat beside the report: `uret-sim import` must read it natively to the same replay
  # and the same counts as the guest's `trace-cmd report` text of it (the scenario file less the
  # comment lines the harness and the recording helper put at its head); only the file name in
  # the replay and the summary differs.
  if [ -f "$traces/$s.dat" ]; then
    awk 'head && /^# /{next} {head = 0; print}' head=1 "$t" >"$traces/$s.report"
    set +e
    for f in dat report; do
      "$sim" import "$traces/$s.$f" -o "$traces/$s.$f.replay" >"$traces/$s.$f.summary" 2>&1
      echo "exit $?" >>"$traces/$s.$f.summary"
    done
    set -e
    if [ "$(tail -n +2 "$traces/$s.dat.replay")" = "$(tail -n +2 "$traces/$s.report.replay")" ] &&
       [ "$(sed 's/^.*\.dat: //' "$traces/$s.dat.summary")" = \
         "$(sed 's/^.*\.report: //' "$traces/$s.report.summary")" ]; then
      imp="$imp; trace.dat imports identically"
    else
      imp="$imp; trace.dat imports DIFFERENTLY"
      verdicts="$verdicts $s.dat imports differently from its trace-cmd report (see $traces/$s.dat.summary);"
    fi
  fi
  printf '%-18s %-10s %-10s %-6s %s\n' "$s" "${cols[0]}" "${cols[1]}" \
    "$(grep -c 'kvm_userspace_exit' "$t" || true)" "$imp" >>"$summary"
  if [ -n "$verdicts" ]; then
    echo "FAIL scenario $s:$verdicts"
    fail=1
  fi
done <"$traces/scenarios"
echo "kvm-test: whole test $(since "$started") s" >>"$summary"
cat "$summary"
exit $fail
