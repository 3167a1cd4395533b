#!/bin/sh
# SPDX-License-Identifier: MIT
# The main job: installs missing build dependencies (as root), builds in Release and runs the
# strategy benchmark, which prints the WRMSR table per workload. Arguments go to uret-bench.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh build bench
build=${URET_BUILD_DIR:-build-release}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DURET_BUILD_TESTS=OFF >/dev/null
if [ -f tools/bench/CMakeLists.txt ]; then
  cmake --build "$build" -j"$(nproc)" --target uret-bench
  exec "$build/tools/bench/uret-bench" "$@"
fi
cmake --build "$build" -j"$(nproc)" --target walkthrough
exec "$build/examples/walkthrough" "$@"
