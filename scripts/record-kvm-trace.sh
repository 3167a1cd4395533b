#!/bin/sh
# SPDX-License-Identifier: MIT
# record-kvm-trace.sh - record what `uret-sim import` reads from a KVM host, in one command: the
# events and the MSR filter of docs/traces.md, system-wide.
#
#   record-kvm-trace.sh [options] record OUT [SECONDS | -- COMMAND...]
#                                     start, wait SECONDS (default 10) or run COMMAND, stop
#   record-kvm-trace.sh [options] start        configure tracefs, clear the buffer, tracing on
#   record-kvm-trace.sh [options] stop OUT     tracing off, write the text to OUT (- = stdout)
#   record-kvm-trace.sh events                 print the event list and the filter
#
# Options (before the verb):
#   --tracefs DIR     tracefs mount point (default /sys/kernel/tracing)
#   --buffer-kb N     per-CPU buffer in KiB (default 65536)
#   --trace-cmd       `record` with trace-cmd instead of tracefs by hand: OUT.dat is kept and
#                     OUT is `trace-cmd report -i OUT.dat` (needs trace-cmd)
#
# The tracefs variant needs nothing but a POSIX shell and cat, so it also runs in a minimal
# initramfs (the live-KVM test, tests/kvm, records every scenario through it). Root is needed.
# Exit status: 0 done, 1 tracefs or trace-cmd failed, 2 usage error.
set -eu

tracefs=/sys/kernel/tracing
buffer_kb=65536
backend=tracefs

# docs/traces.md, "The events": KVM entries/exits, returns to the VMM, who runs where, system
# call returns, and the MSR writes/reads of the user-return MSRs (the filter below).
EVENTS="kvm/kvm_entry kvm/kvm_exit kvm/kvm_userspace_exit kvm/kvm_fpu sched/sched_switch
sched/sched_migrate_task raw_syscalls/sys_exit msr/write_msr msr/read_msr"
FILTER='msr == 0xc0000081 || msr == 0xc0000082 || msr == 0xc0000083 || msr == 0xc0000084 || msr == 0xc0000103 || msr == 0xc0000080 || msr == 0x122'

usage() {
  echo "usage: record-kvm-trace.sh [--tracefs DIR] [--buffer-kb N] [--trace-cmd]" \
       "record OUT [SECONDS | -- COMMAND...] | start | stop OUT | events" >&2
  exit 2
}
die() { echo "record-kvm-trace.sh: $*" >&2; exit 1; }

put() {  # put VALUE FILE: one tracefs write, with a clear error
  # shellcheck disable=SC2039
  { echo "$1" >"$2"; } 2>/dev/null || die "cannot write '$1' to $2"
}

start() {
  [ -d "$tracefs/events" ] || die "no tracefs at $tracefs (mount -t tracefs tracefs $tracefs)"
  put 0 "$tracefs/tracing_on"
  put "$buffer_kb" "$tracefs/buffer_size_kb"
  for e in $EVENTS; do
    if [ ! -d "$tracefs/events/$e" ]; then
      echo "record-kvm-trace.sh: event $e not available (module not loaded?), not recorded" >&2
      continue
    fi
    case $e in msr/*) put "$FILTER" "$tracefs/events/$e/filter" ;; esac
    put 1 "$tracefs/events/$e/enable"
  done
  : >"$tracefs/trace" 2>/dev/null || die "cannot clear $tracefs/trace"
  put 1 "$tracefs/tracing_on"
}

# The events enabled now, as the trace's first line: `uret-sim import` reads it, so that a
# recording with msr/write_msr but no write of a user-return MSR is ground truth of none.
header() {
  list=""
  for e in $EVENTS; do
    [ "$(cat "$tracefs/events/$e/enable" 2>/dev/null)" = 1 ] && list="$list $e"
  done
  echo "# uret-record: events$list"
}

stop() {
  put 0 "$tracefs/tracing_on"
  if [ "$1" = - ]; then
    { header; cat "$tracefs/trace"; } || die "cannot read $tracefs/trace"
  else
    { header; cat "$tracefs/trace"; } >"$1" || die "cannot read $tracefs/trace"
  fi
}

while [ $# -gt 0 ]; do
  case $1 in
    --tracefs) [ $# -ge 2 ] || usage; tracefs=$2; shift 2 ;;
    --buffer-kb)
      [ $# -ge 2 ] || usage
      case $2 in ''|*[!0-9]*) echo "record-kvm-trace.sh: --buffer-kb needs a number of KiB" >&2; exit 2 ;; esac
      buffer_kb=$2; shift 2 ;;
    --trace-cmd) backend=trace-cmd; shift ;;
    -h|--help) usage ;;
    -*) echo "record-kvm-trace.sh: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || usage
verb=$1; shift

case $verb in
  events)
    for e in $EVENTS; do echo "$e"; done
    echo "filter (msr/*): $FILTER" ;;
  start) [ $# -eq 0 ] || usage; start ;;
  stop) [ $# -eq 1 ] || usage; stop "$1" ;;
  record)
    [ $# -ge 1 ] || usage
    out=$1; shift
    seconds=10
    if [ $# -ge 1 ] && [ "$1" != -- ]; then
      case $1 in ''|*[!0-9]*) usage ;; esac
      seconds=$1; shift
    fi
    [ $# -eq 0 ] || [ "$1" = -- ] || usage
    [ $# -eq 0 ] || shift
    if [ $# -eq 0 ]; then set -- sleep "$seconds"; fi
    if [ "$backend" = trace-cmd ]; then
      command -v trace-cmd >/dev/null 2>&1 || die "trace-cmd not found (Debian: apt-get install trace-cmd)"
      dat="$out.dat"
      trace-cmd record -b "$buffer_kb" -o "$dat" \
        -e kvm:kvm_entry -e kvm:kvm_exit -e kvm:kvm_userspace_exit -e kvm:kvm_fpu \
        -e sched:sched_switch -e sched:sched_migrate_task -e raw_syscalls:sys_exit \
        -e msr:write_msr -f "$FILTER" -e msr:read_msr -f "$FILTER" "$@" >&2 ||
        die "trace-cmd record failed"
      { echo "# uret-record: events $(echo $EVENTS)"; trace-cmd report -i "$dat"; } >"$out" ||
        die "trace-cmd report failed"
    else
      start
      status=0
      "$@" || status=$?
      stop "$out"
      [ "$status" = 0 ] || echo "record-kvm-trace.sh: the command exited with status $status" >&2
    fi ;;
  *) usage ;;
esac
