#!/bin/sh
# SPDX-License-Identifier: MIT
# The streaming importer's benchmark: `uret-sim import FILE -o /dev/null` against `wc -l FILE`
# on one generated trace, side by side. The trace is a real KVM recording
# (tests/sim/import/fixtures/kvm_svm_6_1_preempt_user.txt) repeated with advancing timestamps
# (benchmarks/repeat_trace.awk) to MB megabytes (default 1024), in a temporary file deleted
# afterwards. Prints the wall time, MB/s and peak resident set size of both, their ratio, and
# the rates by CPU time (user + system: on a machine shared with other work the wall time also
# counts the time spent waiting for a CPU).
#   benchmarks/import_stream.sh [MB]
# Builds uret-sim in Release into $URET_BUILD_DIR (default build-release), as scripts/bench.sh
# does; peak RSS comes from GNU time (/usr/bin/time, Debian package `time`).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${URET_BUILD_DIR:-$root/build-release}
case $build in /*) ;; *) build=$PWD/$build ;; esac
mb=${1:-1024}
{
  "$root/scripts/deps.sh" build bench
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DURET_BUILD_TESTS=OFF
  cmake --build "$build" -j"$(nproc)" --target uret-sim
} >&2
sim=$build/tools/sim/uret-sim
tmp=$(mktemp -d "${TMPDIR:-/tmp}/uret-import-stream.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
trace=$tmp/trace.txt
awk -v bytes=$((mb * 1000000)) -f "$root/benchmarks/repeat_trace.awk" \
  "$root/tests/sim/import/fixtures/kvm_svm_6_1_preempt_user.txt" >"$trace"
bytes=$(wc -c <"$trace")
cat "$trace" >/dev/null  # both runs read from the page cache

# run NAME COMMAND...: "wall-seconds peak-KiB user-seconds system-seconds" of COMMAND (stdout discarded) into $tmp/NAME.
run() {
  name=$1
  shift
  /usr/bin/time -f "%e %M %U %S" -o "$tmp/$name" "$@" >/dev/null 2>"$tmp/$name.err" || {
    cat "$tmp/$name.err" >&2
    exit 1
  }
}
run wc wc -l "$trace"
run import "$sim" import "$trace" -o /dev/null
lines=$(wc -l <"$trace")
awk -v bytes="$bytes" -v lines="$lines" -v wc="$(cat "$tmp/wc")" -v imp="$(cat "$tmp/import")" '
function row(name, r,    f, s, c) {
  split(r, f, " "); s = f[1] > 0 ? f[1] : 0.01; c = f[3] + f[4] > 0 ? f[3] + f[4] : 0.01
  printf "  %-30s %7.2f s %8.1f MB/s   peak RSS %7.1f MiB   CPU %6.2f s %8.1f MB/s\n", \
    name, f[1], bytes / s / 1e6, f[2] / 1024, f[3] + f[4], bytes / c / 1e6
  cpu[name] = bytes / c / 1e6
  return bytes / s / 1e6
}
BEGIN {
  printf "import_stream: %.1f MB trace, %d lines (kvm_svm_6_1_preempt_user repeated)\n", bytes / 1e6, lines
  w = row("wc -l", wc)
  i = row("uret-sim import -o /dev/null", imp)
  printf "  import / wc -l: %.3f of wc -l'"'"'s rate by wall time (%.1fx slower), %.3f by CPU time\n", \
    i / w, w / i, cpu["uret-sim import -o /dev/null"] / cpu["wc -l"]
}'
