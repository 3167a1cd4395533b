// SPDX-License-Identifier: MIT
// tests/sim/import/generate_trace.hpp - a consistent KVM trace in ftrace text form, of any length,
// for the importer's speed measurement (import_golden_test.cpp, and the generate_trace tool that
// feeds `uret-sim import --stats`). Each iteration, on each of four CPUs, one vCPU thread goes
// through KVM_RUN with in-kernel exits, a HLT that blocks it (switch to the idle task and back)
// and an MMIO exit to user space, with the WRMSRs KVM issues as msr:write_msr.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

/// A consistent KVM trace of about `target` lines in ftrace form: four vCPUs, each on its own
/// CPU, looping through KVM_RUN with in-kernel exits, a HLT that blocks the thread, and an MMIO
/// exit to user space, with KVM's WRMSRs as msr:write_msr.
inline std::string generate_kvm_trace(std::size_t target) {
  std::string out;
  out.reserve(target * 110);
  std::size_t lines = 0;
  char buf[256];
  auto line = [&](std::uint32_t cpu, const char* comm, unsigned tid, double t, const char* ev,
                  const std::string& payload) {
    std::snprintf(buf, sizeof buf, "%16s-%-5u [%03u] d..1. %12.6f: %s: ", comm, tid, cpu, t, ev);
    out += buf;
    out += payload;
    out += '\n';
    ++lines;
  };
  const char* host_lstar = "ffffffffa7a00080";
  const char* guest_lstar = "ffffffff9c600080";
  unsigned iter = 0;
  while (lines < target) {
    for (std::uint32_t cpu = 0; cpu < 4; ++cpu) {
      const unsigned vcpu = (cpu + 1) % 4;  // guest TSC_AUX != host TSC_AUX
      const unsigned tid = 5000 + vcpu;
      char comm[16];
      std::snprintf(comm, sizeof comm, "CPU %u/KVM", vcpu);
      double t = 1000.0 + iter * 1e-3 + cpu * 2e-4;
      const double dt = 1e-6;
      const std::string v = std::string("vcpu ") + std::to_string(vcpu);
      line(cpu, comm, tid, t += dt, "sys_enter", "NR 16 (d, ae80, 0, 0, 0, 0)");
      line(cpu, comm, tid, t += dt, "kvm_fpu", "load");
      line(cpu, comm, tid, t += dt, "write_msr", std::string("c0000082, value ") + guest_lstar);
      line(cpu, comm, tid, t += dt, "write_msr",
           std::string("c0000103, value ") + std::to_string(vcpu));
      line(cpu, comm, tid, t += dt, "kvm_entry", v + ", rip 0xffffffff9d2f14a6");
      for (int k = 0; k < 3; ++k) {
        line(cpu, comm, tid, t += dt, "kvm_exit",
             v + " reason EXTERNAL_INTERRUPT rip 0xffffffff9d2f14a6 info1 0x0000000000000000 "
                 "info2 0x0000000000000000 intr_info 0x800000ec error_code 0x00000000");
        line(cpu, comm, tid, t += dt, "kvm_entry", v + ", rip 0xffffffff9d2f14a6");
      }
      line(cpu, comm, tid, t += dt, "kvm_exit",
           v + " reason HLT rip 0xffffffff9d2f2a1e info1 0x0000000000000000 info2 "
               "0x0000000000000000 intr_info 0x00000000 error_code 0x00000000");
      const std::string cs = std::string(comm);
      const std::string idle = std::string("swapper/") + std::to_string(cpu);
      line(cpu, comm, tid, t += dt, "sched_switch",
           std::string("prev_comm=") + cs + " prev_pid=" + std::to_string(tid) +
               " prev_prio=120 prev_state=S ==> next_comm=" + idle + " next_pid=0 next_prio=120");
      line(cpu, "<idle>", 0, t += dt, "sched_switch",
           std::string("prev_comm=") + idle +
               " prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=" + cs +
               " next_pid=" + std::to_string(tid) + " next_prio=120");
      line(cpu, comm, tid, t += dt, "kvm_entry", v + ", rip 0xffffffff9d2f2a1f");
      line(cpu, comm, tid, t += dt, "kvm_exit",
           v + " reason EPT_MISCONFIG rip 0xffffffff9d8b6c30 info1 0x0000000000000000 info2 "
               "0x0000000000000000 intr_info 0x00000000 error_code 0x00000000");
      line(cpu, comm, tid, t += dt, "kvm_fpu", "unload");
      line(cpu, comm, tid, t += dt, "kvm_userspace_exit", "reason KVM_EXIT_MMIO (6)");
      line(cpu, comm, tid, t += dt, "sys_exit", "NR 16 = 0");
      line(cpu, comm, tid, t += dt, "write_msr", std::string("c0000082, value ") + host_lstar);
      line(cpu, comm, tid, t += dt, "write_msr",
           std::string("c0000103, value ") + std::to_string(cpu));
    }
    ++iter;
  }
  return out;
}
