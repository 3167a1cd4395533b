#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_ring0.sh - boot the ring-0 test kernel under QEMU (TCG) and turn what happens into an exit
# status CTest understands.
#
#   run_ring0.sh --kernel K.elf [--smp N] [--append "k=v ..."] [--expect OUTCOME]
#                [--timeout S] [--objects a.o,b.o,...] [--work DIR]
#
# Outcomes, told apart by QEMU's exit status AND the console marker (both must agree):
#   pass     status 85 (isa-debug-exit 0x2a) and "RING0: PASS"
#   fail     status 87 (0x2b) and "RING0: FAIL"      a check failed
#   crash    status 89 (0x2c) and "RING0: CRASH"     an exception the kernel did not expect
#   timeout  no exit within --timeout seconds        a hang
#   died     anything else: QEMU exits 0 without a verdict after a triple fault (-no-reboot),
#            1 when QEMU itself fails
# Exit status: 0 when the outcome is the expected one (default: pass); otherwise 1 fail,
# 2 crash, 3 timeout, 4 died, 5 an unexpected pass; 77 when QEMU is missing and cannot be
# installed (CTest's SKIP_RETURN_CODE: reported as not run, never as passed).
#
# QEMU is installed with apt-get when missing and running as root (URET_RING0_NO_INSTALL=1
# forbids it). --objects lists the kernel's objects, whose runtime symbols are then reported.
# QEMU names the emulator (default qemu-system-x86_64), QEMU_ACCEL the accelerator (default tcg).
set -euo pipefail

kernel="" smp=2 append="" expect=pass timeout=60 objects="" work="${TMPDIR:-/tmp}/uret-ring0"
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --append) append=$2; shift 2 ;;
    --expect) expect=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --objects) objects=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    *) echo "run_ring0.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$kernel" ] || { echo "run_ring0.sh: --kernel is required" >&2; exit 2; }
[ -f "$kernel" ] || { echo "run_ring0.sh: no kernel image $kernel (build first)" >&2; exit 2; }
mkdir -p "$work"

# ---------------------------------------------------------------- QEMU
qemu=${QEMU:-qemu-system-x86_64}
have_qemu() {
  command -v "$qemu" >/dev/null 2>&1 && [ -e /usr/share/qemu/pvh.bin ] ||
    { command -v "$qemu" >/dev/null 2>&1 && [ -e "$(dirname "$(command -v "$qemu")")/../share/qemu/pvh.bin" ]; }
}
if ! have_qemu; then
  if [ "$(id -u)" = 0 ] && [ "${URET_RING0_NO_INSTALL:-0}" != 1 ] && command -v apt-get >/dev/null; then
    echo "ring0: $qemu missing, installing qemu-system-x86"
    (
      flock 9  # one installer at a time when CTest runs these tests in parallel
      have_qemu || {
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends qemu-system-x86 >/dev/null 2>&1 ||
          { apt-get update -q >/dev/null 2>&1 &&
            apt-get install -y -q --no-install-recommends qemu-system-x86 >/dev/null 2>&1; } || true
      }
    ) 9>"$work/install.lock"
  fi
  if ! have_qemu; then
    if [ "${URET_RING0_NO_INSTALL:-0}" = 1 ]; then why="URET_RING0_NO_INSTALL=1"
    elif [ "$(id -u)" != 0 ]; then why="not root, so not installed"
    elif ! command -v apt-get >/dev/null; then why="no apt-get to install qemu-system-x86 with"
    else why="apt-get could not install qemu-system-x86"; fi
    echo "skipped: $qemu (with its PVH option ROM, package qemu-system-x86) is not available: $why"
    exit 77
  fi
fi

# ---------------------------------------------------------------- runtime symbols
if [ -n "$objects" ]; then
  IFS=, read -r -a objs <<<"$objects"
  runtime="" others=()
  for o in "${objs[@]}"; do
    case "$o" in */runtime.o) runtime=$o ;; *) others+=("$o") ;; esac
  done
  if [ -n "$runtime" ]; then
    provided=$(nm --defined-only "$runtime" | awk '$2 ~ /[TW]/ {print $3}' | sort -u)
    undefined=$(for o in "${others[@]}"; do nm -u "$o" | awk '{print $2}'; done | sort -u)
    # uret_symbols.o is not linked, but what it needs, a kernel using the headers must provide
    needed=$(comm -12 <(echo "$provided") <(echo "$undefined") | tr '\n' ' ')
    echo "ring0: runtime symbols the kernel had to provide (defined in runtime.o, referenced below): ${needed:-none}"
    for o in "${others[@]}"; do
      mine=$(comm -12 <(echo "$provided") <(nm -u "$o" | awk '{print $2}' | sort -u) | tr '\n' ' ')
      case "$o" in
        */uret_symbols.o) what="the uret headers alone, every member instantiated, not linked" ;;
        */ring0_test.o) what="the test" ;;
        *) what="the kernel" ;;
      esac
      echo "ring0:   $(basename "$o") ($what) references: ${mine:-none}"
    done
    for o in "${others[@]}"; do
      case "$o" in
        */ring0_test.o)
          # The compiler's dependency file: the headers really compiled in, from the source tree.
          if [ -f "$o.d" ]; then
            echo "ring0: uret headers compiled into $(basename "$o"):" \
              "$(tr ' \\' '\n\n' <"$o.d" | grep '/include/uret/.*\.hpp$' | sed 's|.*/include/|include/|' | sort -u | tr '\n' ' ')"
          fi
          echo "ring0: nm -u $(basename "$o") (the test: uret headers + the kernel's services):"
          nm -u "$o" | awk '{print $2}' | c++filt | sed 's/^/         /' ;;
      esac
    done
  fi
  echo "ring0: undefined symbols in the linked image: $(nm -u "$kernel" | wc -l)"
fi
echo "ring0: image $(basename "$kernel"): $(stat -c %s "$kernel") bytes;" \
  "$(size -A "$kernel" | awk '$1 ~ /^(\.text|\.rodata|uret_extable|\.data|\.bss)$/ {printf "%s %d, ", $1, $2}')"

# ---------------------------------------------------------------- boot
label="smp$smp${append:+-${append//[^a-z0-9]/_}}"
log="$work/$(basename "$kernel" .elf)-$label.log"
cmd=("$qemu" -machine pc -accel "${QEMU_ACCEL:-tcg}" -cpu max -smp "$smp" -m 64M
  -nodefaults -no-reboot -display none -monitor none -serial stdio
  -device isa-debug-exit,iobase=0xf4,iosize=0x04
  -kernel "$kernel" -append "ring0.cpus=$smp $append")
echo "ring0: ${cmd[*]}"
t0=$(date +%s%N)
rc=0
timeout -k 2 "$timeout" "${cmd[@]}" </dev/null >"$log.raw" 2>&1 || rc=$?
t1=$(date +%s%N)
tr -d '\r' <"$log.raw" >"$log" && rm -f "$log.raw"
cat "$log"

has() { grep -q -- "$1" "$log"; }
case "$rc" in
  85) has "RING0: PASS" && outcome=pass || outcome=died ;;
  87) has "RING0: FAIL" && outcome=fail || outcome=died ;;
  89) has "RING0: CRASH" && outcome=crash || outcome=died ;;
  124 | 137) outcome=timeout ;;
  *) outcome=died ;;
esac
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
echo "ring0: outcome $outcome (QEMU status $rc), boot to verdict ${secs} s wall, expected $expect; log $log"

[ "$outcome" = "$expect" ] && exit 0
case "$outcome" in
  fail) exit 1 ;;
  crash) exit 2 ;;
  timeout) exit 3 ;;
  died) exit 4 ;;
  pass) exit 5 ;;
esac
