// SPDX-License-Identifier: MIT
// uret/sim/run_result.hpp - what a simulator run takes and gives back: the options
// (checker, oracle, recorded writes, historical bugs put back) and the counts, violations and
// recorded WRMSRs of the run (uret/sim/simulator.hpp runs it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "uret/sim/checker.hpp"

namespace uret::sim {

/// Historical bugs the simulator can put back, to show the checker catching them.
struct legacy_bugs {
  /// SEV-ES: fill the host save area's TSC_AUX with the boot-time host value instead of the
  /// cached current value (the bug fixed by reloading `curr`).
  bool sev_es_boot_host = false;
};

/// How to run.
struct run_options {
  bool check = true;            ///< run the invariant checker (off: fastest)
  bool oracle = true;           ///< compute oracle_wrmsr
  bool record_writes = false;   ///< fill run_result::writes (allocates)
  std::size_t max_reports = 8;  ///< violations kept in detail
  legacy_bugs legacy{};
};

/// One WRMSR the strategy issued.
struct write_record {
  std::uint64_t event = 0;  ///< index of the event that caused it
  std::uint32_t cpu = 0;
  unsigned slot = 0;
  std::uint64_t value = 0;
  bool restore = false;  ///< issued by a restore (host value) rather than a set
};

/// What a run did.
struct run_result {
  std::uint64_t events = 0;        ///< events processed (including ignored ones)
  std::uint64_t ignored = 0;       ///< events impossible in their state (uret/sim/sched.hpp)
  std::uint64_t wrmsr = 0;         ///< successful WRMSRs
  std::uint64_t rdmsr = 0;         ///< successful RDMSRs (host capture at virtualization enable)
  std::uint64_t faults = 0;        ///< WRMSRs that faulted (injected)
  std::uint64_t oracle_wrmsr = 0;  ///< the oracle's WRMSRs on the same events (0 if not asked)
  std::uint64_t violations = 0;    ///< invariant violations (0 when not checked)
  std::array<std::uint64_t, invariant_count> by_invariant{};
  /// Index of the event of each invariant's first violation (no_event if none).
  std::array<std::uint64_t, invariant_count> first_violation{};
  std::vector<violation> reports;    ///< the first few violations
  std::vector<write_record> writes;  ///< every WRMSR, when record_writes

  /// Modelled cost: wrmsr * wrmsr_cycles + rdmsr * rdmsr_cycles.
  [[nodiscard]] double model_cycles(double wrmsr_cycles, double rdmsr_cycles) const noexcept {
    return static_cast<double>(wrmsr) * wrmsr_cycles + static_cast<double>(rdmsr) * rdmsr_cycles;
  }
};

}  // namespace uret::sim
