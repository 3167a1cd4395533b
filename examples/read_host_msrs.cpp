// SPDX-License-Identifier: MIT
// Print the user-return MSRs of every CPU of this machine through the Linux msr driver,
// read-only. Needs root and the msr driver (`modprobe msr`); without them it prints one line
// saying what to do and exits non-zero.
//
//     $ sudo ./read_host_msrs
//     cpu0
//       EFER (0xc0000080)             0x0000000000000d01
//       STAR (0xc0000081)             0x0023001000000000
//       ...
//       IA32_TSX_CTRL (0x122)         faults: MSR faulted (#GP)
#include <uret/backends/dev_cpu_msr.hpp>
#include <uret/format.hpp>

#include <unistd.h>

#include <cstdlib>

int main() {
  uret::dev_cpu_msr msr;  // /dev/cpu, read-only
  const long configured = ::sysconf(_SC_NPROCESSORS_CONF);
  const auto cpus = static_cast<std::uint32_t>(configured > 0 ? configured : 1);
  std::uint32_t shown = 0;
  for (std::uint32_t c = 0; c < cpus; ++c) {
    const uret::cpu_id cpu{c};
    // The first read opens the CPU's device file; its failure says whether the driver, the
    // permissions or the CPU itself is missing.
    const uret::result<std::uint64_t> probe = msr.read(cpu, uret::msrs::star);
    if (!probe && probe.error() != uret::errc::msr_fault) {
      if (probe.error() == uret::errc::no_such_cpu && shown > 0) {
        fmt::print("{}: not online, skipped\n", cpu);
        continue;
      }
      fmt::print(stderr, "read_host_msrs: {}\n", msr.message(cpu));
      return EXIT_FAILURE;
    }
    ++shown;
    fmt::print("{}\n", cpu);
    for (const uret::well_known_msr& m : uret::well_known_msrs) {
      const uret::result<std::uint64_t> v = msr.read(cpu, m.index);
      if (v) {
        fmt::print("  {:<28} {:#018x}\n", fmt::to_string(m.index), *v);
      } else {
        fmt::print("  {:<28} faults: {}\n", fmt::to_string(m.index), v.error());
      }
    }
  }
  return shown > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
