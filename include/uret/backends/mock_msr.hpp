// SPDX-License-Identifier: MIT
// uret/backends/mock_msr.hpp - an in-memory MSR file for tests and the simulator.
//
// Models what the slot table can observe of real hardware: per-CPU registers; MSRs that were
// never declared fault (#GP) on read and write; per-MSR reserved-bit masks whose violation
// faults; one-shot injected faults. Every successful write is counted and (unless logging is
// off) logged per CPU; `poke` changes a register the way firmware would (no log, no count, no
// fault), `peek` reads it without counting. A write hook, if set, runs after each successful
// write, while the caller is still inside write(): the simulator uses it to land an interrupt
// (a virtualization disable) between a WRMSR and the cache update.
//
// Set-up (constructor, declare, set_logging, set_write_hook) is single-threaded. After it,
// threads that each own a CPU may call read/write/poke/peek/inject/log for their CPU
// concurrently: all mutable state is per CPU, on its own cache lines.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "uret/msr.hpp"
#include "uret/msr_backend.hpp"

namespace uret {

/// In-memory MSR backend with fault injection and a write log.
///
///     uret::mock_msr hw{2};
///     hw.declare(uret::msrs::tsc_aux, 0);                 // every CPU, value 0
///     hw.declare(uret::msr_index{0x6E1}, 0, 0xffffffff00000000);  // reserved bits fault
///     hw.fail_next_write(uret::cpu_id{1}, uret::msrs::tsc_aux);   // one-shot #GP
class mock_msr {
 public:
  /// One logged write.
  struct write_record {
    msr_index msr;
    std::uint64_t value;
    friend bool operator==(const write_record&, const write_record&) = default;
  };
  /// Per-CPU counters.
  struct counters {
    std::uint64_t reads = 0;   ///< successful reads
    std::uint64_t writes = 0;  ///< successful writes
    std::uint64_t faults = 0;  ///< reads and writes that faulted (declared, reserved, injected)
  };
  /// Called after each successful write, with the CPU, MSR and value written.
  using write_hook = void (*)(void* context, cpu_id cpu, msr_index msr,
                              std::uint64_t value) noexcept;

  /// A register file for CPUs 0 .. cpus-1, with no MSR declared.
  explicit mock_msr(std::size_t cpus) : cpus_(cpus) {}

  [[nodiscard]] std::size_t cpus() const noexcept { return cpus_.size(); }

  /// Declare `msr` on every CPU with `value`; writes that set any bit of `reserved` fault.
  /// Declaring an MSR again resets its value and reserved mask.
  void declare(msr_index msr, std::uint64_t value = 0, std::uint64_t reserved = 0) {
    const std::optional<std::size_t> i = lookup(msr);
    if (i) {
      decls_[*i].reserved = reserved;
      for (auto& c : cpus_) c.reg(*i) = value;
      return;
    }
    const std::size_t n = decls_.size();
    decls_.push_back({msr, reserved});
    std::int16_t& h = index_[bucket(msr)];
    h = h == empty_bucket ? static_cast<std::int16_t>(n) : shared_bucket;
    for (auto& c : cpus_) {
      if (n % reg_line::count == 0) c.regs.emplace_back();
      c.reg(n) = value;
    }
  }

  /// RDMSR on `cpu`.
  result<std::uint64_t> read(cpu_id cpu, msr_index msr) noexcept {
    if (cpu.value >= cpus_.size()) return errc::no_such_cpu;
    per_cpu& c = cpus_[cpu.value];
    const std::optional<std::size_t> i = lookup(msr);
    if (!i || take_injected(c.fail_reads, msr)) {
      ++c.stats.faults;
      return errc::msr_fault;
    }
    ++c.stats.reads;
    return c.reg(*i);
  }

  /// WRMSR on `cpu`: faults (changing nothing) when undeclared, a reserved bit is set, or a
  /// fault was injected; otherwise stores, counts, logs and runs the write hook.
  result<void> write(cpu_id cpu, msr_index msr, std::uint64_t value) noexcept {
    if (cpu.value >= cpus_.size()) return errc::no_such_cpu;
    per_cpu& c = cpus_[cpu.value];
    const std::optional<std::size_t> i = lookup(msr);
    if (!i || (value & decls_[*i].reserved) != 0 || take_injected(c.fail_writes, msr)) {
      ++c.stats.faults;
      return errc::msr_fault;
    }
    c.reg(*i) = value;
    ++c.stats.writes;
    if (logging_) c.log.push_back({msr, value});  // may terminate on allocation failure
    if (hook_ != nullptr) hook_(hook_context_, cpu, msr, value);
    return {};
  }

  /// Change a register as firmware would: no fault, no count, no log, no hook.
  /// Returns false when the CPU or MSR does not exist.
  bool poke(cpu_id cpu, msr_index msr, std::uint64_t value) noexcept {
    const std::optional<std::size_t> i = lookup(msr);
    if (cpu.value >= cpus_.size() || !i) return false;
    cpus_[cpu.value].reg(*i) = value;
    return true;
  }

  /// What the register holds, without counting; nullopt when the CPU or MSR does not exist.
  [[nodiscard]] std::optional<std::uint64_t> peek(cpu_id cpu, msr_index msr) const noexcept {
    const std::optional<std::size_t> i = lookup(msr);
    if (cpu.value >= cpus_.size() || !i) return std::nullopt;
    return cpus_[cpu.value].reg(*i);
  }

  /// The next write of `msr` on `cpu` faults (once per call).
  void fail_next_write(cpu_id cpu, msr_index msr) {
    if (cpu.value < cpus_.size()) cpus_[cpu.value].fail_writes.push_back(msr);
  }
  /// The next read of `msr` on `cpu` faults (once per call).
  void fail_next_read(cpu_id cpu, msr_index msr) {
    if (cpu.value < cpus_.size()) cpus_[cpu.value].fail_reads.push_back(msr);
  }

  /// Counters of `cpu` (zero for a CPU out of range).
  [[nodiscard]] counters stats(cpu_id cpu) const noexcept {
    return cpu.value < cpus_.size() ? cpus_[cpu.value].stats : counters{};
  }
  /// Successful writes on `cpu` in order, since the last clear_log() (empty out of range).
  [[nodiscard]] std::span<const write_record> log(cpu_id cpu) const noexcept {
    if (cpu.value >= cpus_.size()) return {};
    return cpus_[cpu.value].log;
  }
  /// Empty every CPU's log (counters are kept).
  void clear_log() noexcept {
    for (auto& c : cpus_) c.log.clear();
  }
  /// Turn the write log on (the default) or off (the simulator, which must not allocate).
  void set_logging(bool on) noexcept { logging_ = on; }
  /// Install (or, with nullptr, remove) the write hook.
  void set_write_hook(write_hook hook, void* context) noexcept {
    hook_ = hook;
    hook_context_ = context;
  }

 private:
  struct decl {
    msr_index msr;
    std::uint64_t reserved;
  };
  // Registers in whole, aligned cache lines, so that CPUs' register files never share one.
  struct alignas(64) reg_line {
    static constexpr std::size_t count = 8;
    std::uint64_t value[count] = {};
  };
  struct alignas(64) per_cpu {
    std::uint64_t& reg(std::size_t i) noexcept {
      return regs[i / reg_line::count].value[i % reg_line::count];
    }
    [[nodiscard]] std::uint64_t reg(std::size_t i) const noexcept {
      return regs[i / reg_line::count].value[i % reg_line::count];
    }
    std::vector<reg_line> regs;
    std::vector<write_record> log;
    std::vector<msr_index> fail_reads;
    std::vector<msr_index> fail_writes;
    counters stats;
  };

  [[nodiscard]] std::optional<std::size_t> lookup(msr_index msr) const noexcept {
    const std::int16_t h = index_[bucket(msr)];
    if (h == empty_bucket) return std::nullopt;
    if (h != shared_bucket) {
      const auto i = static_cast<std::size_t>(h);
      if (decls_[i].msr == msr) return i;
      return std::nullopt;
    }
    for (std::size_t i = 0; i < decls_.size(); ++i) {
      if (decls_[i].msr == msr) return i;
    }
    return std::nullopt;
  }

  static bool take_injected(std::vector<msr_index>& pending, msr_index msr) noexcept {
    for (std::size_t i = 0; i < pending.size(); ++i) {
      if (pending[i] == msr) {
        pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
        return true;
      }
    }
    return false;
  }

  // A small hash index over decls_: a bucket holds the one declared MSR that hashes there,
  // or says that none does, or that several do (then the lookup scans decls_).
  static constexpr std::int16_t empty_bucket = -1;
  static constexpr std::int16_t shared_bucket = -2;
  static constexpr std::size_t buckets = 64;
  static constexpr std::size_t bucket(msr_index msr) noexcept {
    return (msr.value * 0x9E3779B1U) >> 26;  // Fibonacci hashing to 6 bits
  }

  std::vector<decl> decls_;
  std::array<std::int16_t, buckets> index_ = make_empty_index();
  static constexpr std::array<std::int16_t, buckets> make_empty_index() noexcept {
    std::array<std::int16_t, buckets> a{};
    a.fill(empty_bucket);
    return a;
  }
  std::vector<per_cpu> cpus_;
  bool logging_ = true;
  write_hook hook_ = nullptr;
  void* hook_context_ = nullptr;
};

static_assert(msr_backend<mock_msr>);

}  // namespace uret
