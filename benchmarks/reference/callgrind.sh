#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# benchmarks/reference/callgrind.sh - instructions per operation of uret against the plain-C
# reference of the kernel's user-return MSR functions, counted by callgrind.
#
#   benchmarks/reference/callgrind.sh [--n N] [--build-dir DIR] [--cc CC] [--cxx CXX]
#
# Builds the driver (C reference with $CC -O2, uret side with $CXX -O2 -std=c++20), checks that
# both implementations agree on a random operation sequence, then runs one process per
# (implementation, operation) under
#   valgrind --tool=callgrind --toggle-collect='measure_*'
# so that only the measured entry points and what they call are counted, and prints
#   total instructions / N
# for each, and the ratio uret/C. Needs gcc, g++ and valgrind (Debian: build-essential
# valgrind). Exit status 0 when every run succeeded (the ratios are reported, not enforced).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
n=1000
build=""
cc=${CC:-gcc}
cxx=${CXX:-g++}
while [[ $# -gt 0 ]]; do
  case $1 in
    --n) n=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --cc) cc=$2; shift 2 ;;
    --cxx) cxx=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "callgrind.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not found" >&2; exit 2; }
if [[ -z $build ]]; then
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
fi
mkdir -p "$build"

cflags=(-O2 -g -std=c11 -Wall -Wextra)
cxxflags=(-O2 -g -std=c++20 -Wall -Wextra -I"$root/include" -I"$here")
"$cc" "${cflags[@]}" -c "$here/user_return.c" -o "$build/user_return.o"
"$cc" "${cflags[@]}" -c "$here/mock_msr.c" -o "$build/mock_msr.o"
"$cxx" "${cxxflags[@]}" -c "$here/driver.cpp" -o "$build/driver.o"
"$cxx" "$build/driver.o" "$build/user_return.o" "$build/mock_msr.o" -o "$build/uret-ref-driver"
drv=$build/uret-ref-driver

"$drv" verify 100000 1

count() {  # count IMPL OP -> instructions per operation (two decimals)
  local out=$build/callgrind.$1.$2
  valgrind --tool=callgrind --toggle-collect='measure_*' --callgrind-out-file="$out" \
    "$drv" run "$1" "$2" "$n" >"$out.stdout" 2>"$out.stderr" || {
    echo "callgrind.sh: run $1 $2 failed:" >&2
    cat "$out.stdout" "$out.stderr" >&2
    exit 1
  }
  awk -v n="$n" '/^totals:/ { printf "%.2f", $2 / n; found = 1 } END { if (!found) exit 1 }' "$out"
}

echo
echo "instructions per operation (callgrind, N=$n per run, $("$cc" -dumpfullversion 2>/dev/null || echo "$cc") -O2)"
printf '%-22s %9s %9s %8s %7s  %s\n' operation C uret uret-C uret/C what
while IFS=$'\t' read -r op what; do
  c=$(count c "$op")
  u=$(count uret "$op")
  read -r delta ratio < <(awk -v c="$c" -v u="$u" 'BEGIN { printf "%+.1f %.2f\n", u - c, u / c }')
  printf '%-22s %9s %9s %8s %7s  %s\n' "$op" "$c" "$u" "$delta" "$ratio" "$what"
done < <("$drv" list)
