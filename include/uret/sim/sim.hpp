// SPDX-License-Identifier: MIT
// uret/sim/sim.hpp - the simulator's umbrella header: includes every public header of
// uret/sim and nothing else.
//
//   trace.hpp      simulated MSRs and slots, task kinds, events, trace
//   strategy.hpp   the strategies by name
//   sched.hpp      scheduling state and which events are possible
//   hardware.hpp   TDX module, SEV-ES #VMEXIT and CPU bring-up models
//   checker.hpp    invariants I1-I5 and G, violations
//   oracle.hpp     the fewest WRMSRs with perfect knowledge
//   run_result.hpp run_options and run_result: what a run takes and gives back
//   simulator.hpp  the machine: run(trace, strategy, options) -> run_result
//   workload.hpp   named workloads and the reproducible generator
//   replay.hpp     the `uret-replay 1` text format
//   shrink.hpp     shrinking a failing trace
#pragma once

#include "uret/sim/checker.hpp"
#include "uret/sim/hardware.hpp"
#include "uret/sim/oracle.hpp"
#include "uret/sim/replay.hpp"
#include "uret/sim/run_result.hpp"
#include "uret/sim/sched.hpp"
#include "uret/sim/shrink.hpp"
#include "uret/sim/simulator.hpp"
#include "uret/sim/strategy.hpp"
#include "uret/sim/trace.hpp"
#include "uret/sim/workload.hpp"
