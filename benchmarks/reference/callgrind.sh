#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# benchmarks/reference/callgrind.sh - instructions per operation of uret against the plain-C
# reference of the kernel's user-return MSR functions, counted by callgrind, and the goals
# they must meet.
#
#   benchmarks/reference/callgrind.sh [--opt "-O2 -O3"] [--n N] [--build-dir DIR] [--cc CC]
#                                     [--cxx CXX] [--no-goals]
#
# For each optimisation level (default: -O2 and -O3) builds the driver (C reference with $CC,
# uret with $CXX -std=c++20, both at that level, both over the one register file of
# regfile.h), checks that both implementations agree on a random operation sequence, then runs
# one process per (implementation, operation) under
#   valgrind --tool=callgrind --toggle-collect='measure_*'
# so that only the measured entry points and what they call are counted, and prints
#   total instructions / N
# for C, for uret's handle operations (`uret`) and for its checked operations (`checked`),
# with the ratio uret/C. Callgrind counts instructions, so the figures do not depend on the
# machine's load. Needs gcc, g++ and valgrind (scripts/deps.sh bench).
#
# Exit status: 0 when every run succeeded and every goal is met (uret = handle operations):
#   set_hit, set_miss, update_cache, cpu_online_16, on_user_return_16: uret/C <= 1.00
#   on_user_return_1:                                                  uret/C <= 0.50
# 1 when a goal is missed (each miss is printed), 2 on a usage or build error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
n=1000
build=""
opts="-O2 -O3"
goals=1
cc=${CC:-gcc}
cxx=${CXX:-g++}
while [[ $# -gt 0 ]]; do
  case $1 in
    --n) n=$2; shift 2 ;;
    --opt) opts=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --cc) cc=$2; shift 2 ;;
    --cxx) cxx=$2; shift 2 ;;
    --no-goals) goals=0; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "callgrind.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not found" >&2; exit 2; }
if [[ -z $build ]]; then
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
fi
mkdir -p "$build"

# goal OP -> the largest allowed uret/C ratio, or nothing
goal() {
  case $1 in
    set_hit|set_miss|update_cache|cpu_online_16|on_user_return_16) echo 1.00 ;;
    on_user_return_1) echo 0.50 ;;
  esac
}

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$root" status --porcelain -- include benchmarks 2>/dev/null) ]]; then
  commit="$commit+local changes"
fi
missed=0
for opt in $opts; do
  dir=$build/$opt
  mkdir -p "$dir"
  cflags=("$opt" -g -std=c11 -Wall -Wextra)
  cxxflags=("$opt" -g -std=c++20 -Wall -Wextra -I"$root/include" -I"$here")
  "$cc" "${cflags[@]}" -c "$here/user_return.c" -o "$dir/user_return.o"
  "$cxx" "${cxxflags[@]}" -c "$here/driver.cpp" -o "$dir/driver.o"
  "$cxx" "$dir/driver.o" "$dir/user_return.o" -o "$dir/uret-ref-driver"
  drv=$dir/uret-ref-driver
  "$drv" verify 100000 1

  count() {  # count IMPL OP -> instructions per operation (two decimals), or "-"
    local out=$dir/callgrind.$1.$2 rc=0
    valgrind --tool=callgrind --toggle-collect='measure_*' --callgrind-out-file="$out" \
      "$drv" run "$1" "$2" "$n" >"$out.stdout" 2>"$out.stderr" || rc=$?
    if [[ $rc -eq 3 ]]; then echo -; return; fi
    if [[ $rc -ne 0 ]]; then
      echo "callgrind.sh: run $1 $2 failed:" >&2
      cat "$out.stdout" "$out.stderr" >&2
      exit 2
    fi
    awk -v n="$n" '/^totals:/ { printf "%.2f", $2 / n; found = 1 } END { if (!found) exit 1 }' "$out"
  }
  ratio() { [[ $1 == - || $2 == - ]] && { echo -; return; }; awk -v c="$1" -v u="$2" 'BEGIN { printf "%.2f", u / c }'; }

  echo
  echo "instructions per operation (callgrind, N=$n per run, $("$cc" -dumpfullversion 2>/dev/null || echo "$cc") $opt, commit $commit)"
  printf '%-20s %8s %8s %8s %7s %9s %6s  %s\n' operation C uret checked uret/C checked/C goal what
  while IFS=$'\t' read -r op what; do
    c=$(count c "$op")
    u=$(count uret "$op")
    k=$(count checked "$op")
    ru=$(ratio "$c" "$u")
    rk=$(ratio "$c" "$k")
    g=$(goal "$op")
    mark=""
    if [[ -n $g ]]; then
      # On the per-operation counts, not the rounded ratio: 95/189 prints 0.50 yet misses 0.50.
      if awk -v c="$c" -v u="$u" -v g="$g" 'BEGIN { exit !(u + 0 <= (g + 0) * (c + 0)) }'; then
        mark="<=$g"
      else
        mark="MISSED"
        missed=$((missed + 1))
        echo "callgrind.sh: goal missed at $opt: $op uret/C = $ru > $g" >&2
      fi
    fi
    printf '%-20s %8s %8s %8s %7s %9s %6s  %s\n' "$op" "$c" "$u" "$k" "$ru" "$rk" "$mark" "$what"
  done < <("$drv" list)
done
if [[ $goals -eq 1 && $missed -gt 0 ]]; then
  echo "callgrind.sh: $missed goal(s) missed" >&2
  exit 1
fi
