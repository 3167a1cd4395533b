#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole test suite: installs missing build dependencies (as root), configures, builds and
# runs every test except the long soak runs (label `long`). Includes the QEMU guest test (real
# msr driver) and the ring-0 test kernel. Extra arguments go to ctest. URET_WERROR=ON in the
# environment (as .ci/run sets it) makes warnings errors.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh build bench guest
build=${URET_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DURET_WERROR="${URET_WERROR:-OFF}" >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" -j"$(nproc)" -LE long --output-on-failure "$@"
