// SPDX-License-Identifier: MIT
// uret/sim/import/detail/state.hpp - the trace importer's working state. The importer is
// layers over this one state, one header each, each adding a pass or a part of one:
//
//     import_state     records, tasks, per-CPU state, pending events     (this header)
//     import_scanner   stage 1: parse each line as it is read into a      (scanner.hpp)
//                      record; classify each thread (vCPU, user task,
//                      kernel thread)
//     import_emitter   stage 2: simulator events, gaps, context switches  (emitter.hpp)
//     import_msr_writes  stage 2: MSR records, ground truth, learnt       (msr_writes.hpp)
//                      host and guest values
//     import_mapper    stage 2: a per-CPU state machine from records to   (mapper.hpp)
//                      simulator events, gaps and ground truth
//     trace_importer   the simulator set-up, the event list, the replay    (importer.hpp)
//                      text
//
// The input text is read once. The records, the pending events and the pending expect-wrmsr
// lines are spools (spool.hpp): in memory for import_trace(), in temporary files for a
// streaming import, whose memory is then bounded by the number of CPUs and tasks, not lines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "uret/msr.hpp"
#include "uret/sim/import/detail/spool.hpp"
#include "uret/sim/import/imported_trace.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim::detail {

/// Everything the importer's passes share; one object per import.
class import_state {
 protected:
  explicit import_state(const import_options& o) : opt_(o) {
    tasks_.push_back({});  // index 0: the idle task of every CPU
    tasks_[0].r = role::idle;
    by_tid_.emplace(0u, 0u);
  }

  enum class rec : std::uint8_t {
    entry,
    exit,
    uexit,
    fpu_load,
    fpu_unload,
    sched_switch,
    sys_exit,
    sys_enter,
    migrate,
    wrmsr,
    rdmsr,
    lost_events,
    buffer_started,
    bad_line,       // an unparsed line whose CPU is readable
    time_backwards  // a record older than its CPU's previous one (the record follows)
  };
  struct record {
    // Zeroed whole, padding included (the spools write records to a file as bytes); then the
    // members' initialisers, all zero too.
    record() noexcept { std::memset(static_cast<void*>(this), 0, sizeof *this); }
    rec kind = rec::entry;
    bool flag = false;   // exit: failed VM entry; msr: faulted
    bool probe = false;  // wrmsr: kvm_probe_user_return_msr()'s write-back of its read
    std::uint32_t cpu = 0;
    std::uint32_t task = 0;   // the line's task (sched_switch: prev)
    std::uint32_t task2 = 0;  // sched_switch: next; migrate: the migrating task
    std::uint32_t aux = 0;    // msr index; migrate: destination CPU; exit: reason (see below)
    std::uint64_t value = 0;  // msr value
    std::size_t line = 0;
  };
  enum class role : std::uint8_t { idle, kernel, user, vcpu };
  enum class pending : std::uint8_t { none, certain, probable };
  struct task_info {
    std::string comm;
    std::uint32_t tid = 0;
    std::int64_t vcpu_id = -1;
    bool kvm = false;       // kvm_entry / kvm_exit / kvm_userspace_exit / kvm_fpu
    bool syscalls = false;  // syscall events: certainly a user task
    bool svm = false;
    bool vmx = false;
    role r = role::user;
    task_kind kind = task_kind::user;
    // pass 2: the simulator's view
    std::int64_t home = -1;        // CPU it lives on (-1: never placed)
    std::int64_t first_cpu = -1;   // CPU it is declared on
    std::int64_t running_on = -1;  // CPU it runs on
    bool in_guest = false;
    bool entered = false;
    bool in_syscall = false;  // a sys_enter with no sys_exit since: the task is in the kernel
    bool in_run = true;       // a vCPU thread inside KVM_RUN: switching to it is no return
    bool run_known = false;   // in_run comes from a KVM record, not from the default
    bool loaded = false;      // a vCPU whose guest values the simulator loaded in this load period
    pending ret = pending::none;
    msr_values guest{};  // the guest values now (guest-msr events change them)
    slot_set guest_known = 0;
    msr_values guest_first{};  // the first guest values (the simulator's set-up)
    std::uint32_t sim_index = idle_task;
  };
  struct cpu_state {
    std::uint32_t current = 0;  // the simulator's running task (0: idle)
    bool known = false;         // the importer knows which task runs there
    bool restore_window = false;
    bool fresh_gap = false;  // a gap was marked and no record has been mapped since
    std::uint32_t window_msrs = 0;
    msr_values host{};
    slot_set host_known = 0;
    msr_values host_read{};
    slot_set host_read_known = 0;
    // What KVM's cache (`curr`) holds, by the trace: the last user-return write or cpu_online
    // read on this CPU. A write KVM makes only when its cache differs.
    msr_values shadow{};
    slot_set shadow_known = 0;
    bool hotplug_since = false;       // cpuhp/N ran on CPU N since the shadow last changed
    std::uint32_t switched_from = 0;  // the previous task of the last sched_switch, whose
    bool after_switch = false;        // records may follow until the next task's first one
    bool resync = false;              // after a gap, until the next entry or return shows the state
    bool dropping = false;            // virtualization being disabled: restores are the drop's
    std::uint64_t efer = 0;           // EFER as last read or written here (SVME on/off)
    bool efer_known = false;
    std::uint64_t last_time = 0;
    bool timed = false;
  };
  struct pending_event {
    event_kind kind;
    exit_outcome outcome;
    event_origin origin;
    std::uint16_t reason;  // exit: index into imported_trace::exit_reasons (0: none)
    std::uint32_t cpu;
    std::uint32_t task;
    std::size_t line;
    std::uint8_t arg;     // guest-msr: the slot; unknown: the slots (0: all)
    std::uint64_t value;  // guest-msr: the value
  };
  struct pending_expect {
    std::uint32_t cpu;
    msr_index msr;
    std::uint64_t value;
    std::size_t line;
    std::size_t after;
  };

  const import_options& opt_;
  imported_trace out_;
  std::vector<task_info> tasks_;
  std::unordered_map<std::uint32_t, std::uint32_t> by_tid_;
  // Exit reason text -> index into imported_trace::exit_reasons (at most 65,535 kept; later new
  // ones are index 0, no reason).
  std::unordered_map<std::string, std::uint16_t> exit_reason_index_;
  spool<record> records_;
  std::vector<cpu_state> cpu_;
  spool<pending_event> events_;
  spool<pending_expect> expects_;
  std::uint32_t cpus_ = 1;
  std::size_t userspace_exits_ = 0;
  std::size_t fpu_records_ = 0;
  bool svm_host_ = false;               // the vendor is AMD: SVM exit reasons or EFER.SVME toggled
  bool any_user_return_write_ = false;  // a msr:write_msr of a candidate MSR was recorded
  slot_set user_return_ = 0;            // the host's user-return MSRs (as slots), from the trace
  slot_set probed_ = 0;                 // MSRs KVM probed at module load (stage 1)
};

}  // namespace uret::sim::detail
