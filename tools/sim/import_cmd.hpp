// SPDX-License-Identifier: MIT
// tools/sim/import_cmd.hpp - the `uret-sim import` subcommand, built when import_cmd.cpp exists.
#pragma once

/// Run `uret-sim import`: argv[0] is "import", argv[1 .. argc-1] its arguments. Returns the
/// process exit status (0 success, 2 usage error).
int import_command(int argc, char** argv);
