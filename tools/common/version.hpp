// SPDX-License-Identifier: MIT
// tools/common/version.hpp - the `--version` line of uret-sim and uret-bench: the tool, the
// library version it was built from, and whether it reads trace.dat itself.
#pragma once

#include <string>

#include "common/tracedat.hpp"
#include "uret/version.hpp"

namespace uret_tools {

/// "uret-sim 0.1.0 (trace.dat: read through libtracecmd)" and a newline.
inline std::string version_line(const std::string& tool) {
  return tool + " " + uret::version_string +
         (tracedat_supported() ? " (trace.dat: read through libtracecmd)\n"
                               : " (trace.dat: not read, built without libtracecmd)\n");
}

}  // namespace uret_tools
