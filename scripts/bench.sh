#!/bin/sh
# SPDX-License-Identifier: MIT
# The main job: installs missing build dependencies (as root), builds in Release and runs the
# strategy benchmark, which prints the WRMSR table per workload. Arguments go to uret-bench;
# paths in them (--trace FILE, --json FILE, ...) are taken from where the script was called.
# The dependency and build output goes to stderr, so stdout is uret-bench's alone.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${URET_BUILD_DIR:-$root/build-release}
case $build in /*) ;; *) build=$PWD/$build ;; esac
{
  "$root/scripts/deps.sh" build bench
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DURET_BUILD_TESTS=OFF
  if [ -f "$root/tools/bench/CMakeLists.txt" ]; then
    cmake --build "$build" -j"$(nproc)" --target uret-bench
  else
    cmake --build "$build" -j"$(nproc)" --target walkthrough
  fi
} >&2
if [ -f "$root/tools/bench/CMakeLists.txt" ]; then
  exec "$build/tools/bench/uret-bench" "$@"
fi
exec "$build/examples/walkthrough" "$@"
