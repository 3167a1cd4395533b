#!/bin/sh
# SPDX-License-Identifier: MIT
# Compile and run the consumer against an installed prefix, with flags from pkg-config only.
# usage: pkg_config_consumer.sh PREFIX SOURCE OUT CXX
set -eu
prefix=$1 src=$2 out=$3 cxx=$4
PKG_CONFIG_PATH="$prefix/share/pkgconfig" pkg-config --exists --print-errors uret
flags=$(PKG_CONFIG_PATH="$prefix/share/pkgconfig" pkg-config --cflags uret)
echo "pkg-config --cflags uret: $flags"
# shellcheck disable=SC2086
"$cxx" -std=c++20 $flags "$src" -o "$out"
"$out"
