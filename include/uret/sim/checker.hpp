// SPDX-License-Identifier: MIT
// uret/sim/checker.hpp - the invariants of lazy user-return MSR restoration and a recorder of
// their violations.
//
// The invariants (docs/design.md, Invariants), checked by the simulator after every event against
// the *true* hardware (mock_msr::peek), never against what the cache believes:
//   I1  a slot whose cache differs from host (or is unknown) implies the restore is registered;
//   I2  outside guest mode and outside the TDX module's window, a known cache equals hardware;
//   I3  at every return to user mode hardware holds the host value Linux programmed, and
//       afterwards the cache equals host and nothing is registered;
//   I4  a set() whose merged value equals a known cache issues no WRMSR;
//   I5  a failed WRMSR changes no cache state;
//   G   (guest entry) a VMX/SVM guest is entered with the value it needs in every slot its
//       kind loads: the guest's bits inside the mask, the host's outside it.
// G is not among I1-I5; it is how "the guest then runs with the wrong TSC_AUX" shows up.
//
// `checker` counts a state invariant (I1, I2) once per incident: a slot that stays wrong is
// one violation until it is seen correct again. Event invariants (I3, I4, I5, G) count every
// failing event. The first `max_reports` violations are kept in detail.
//
// The check_* functions work on any slot_table over mock_msr, so a user's own hypervisor test
// can run the same checks on its own table.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "uret/backends/mock_msr.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim {

/// An invariant the checker enforces.
enum class invariant : std::uint8_t { i1, i2, i3, i4, i5, guest_entry };
inline constexpr std::size_t invariant_count = 6;

/// "I1" .. "I5", "G".
[[nodiscard]] constexpr std::string_view to_string(invariant i) noexcept {
  switch (i) {
    case invariant::i1: return "I1";
    case invariant::i2: return "I2";
    case invariant::i3: return "I3";
    case invariant::i4: return "I4";
    case invariant::i5: return "I5";
    case invariant::guest_entry: return "G";
  }
  return "?";
}

/// One sentence stating the invariant.
[[nodiscard]] constexpr std::string_view describe(invariant i) noexcept {
  switch (i) {
    case invariant::i1:
      return "a cached value differing from host implies the restore is registered";
    case invariant::i2: return "outside guest mode a known cached value equals the hardware";
    case invariant::i3: return "on return to user mode the hardware holds the host value";
    case invariant::i4: return "a set of the cached value issues no WRMSR";
    case invariant::i5: return "a failed WRMSR changes no state";
    case invariant::guest_entry: return "the guest is entered with the value it needs";
  }
  return "?";
}

/// The invariant named `s` ("I2", "i2", "G"), or nullopt.
[[nodiscard]] constexpr std::optional<invariant> parse_invariant(std::string_view s) noexcept {
  for (std::size_t i = 0; i < invariant_count; ++i) {
    const auto inv = static_cast<invariant>(i);
    const std::string_view n = to_string(inv);
    if (s.size() == n.size() && (s == n || (s.size() == 2 && s[0] == 'i' && s[1] == n[1]) ||
                                 (s == "g" && inv == invariant::guest_entry))) {
      return inv;
    }
  }
  return std::nullopt;
}

/// `slot` of a violation that concerns no single slot.
inline constexpr unsigned no_slot = 0xff;
/// An event index that names no event.
inline constexpr std::uint64_t no_event = ~std::uint64_t{0};

/// One violation. What `expected` and `actual` hold depends on the invariant:
///   I1: 1 / 0 (registered); I2: hardware / cache; I3: host / hardware (or, slot no_slot, 0 / 1
///   for "still registered"); I4: 0 / WRMSRs issued; I5: cache before / cache after;
///   G: value the guest needs / hardware.
struct violation {
  std::uint64_t index = 0;  ///< index of the event after (or during) which it was seen
  event ev{};               ///< that event
  invariant inv = invariant::i1;
  std::uint32_t cpu = 0;
  unsigned slot = no_slot;
  std::uint64_t expected = 0;
  std::uint64_t actual = 0;
};

/// A recorder of violations.
class checker {
 public:
  explicit checker(std::size_t max_reports = 8) : max_reports_(max_reports) {
    reports_.reserve(max_reports);
  }

  /// Attribute what follows to event number `index`.
  void begin_event(std::uint64_t index, const event& e) noexcept {
    index_ = index;
    event_ = e;
  }

  /// A state invariant (I1, I2): counted when it starts failing, re-armed when it holds.
  void expect_state(invariant inv, std::uint32_t cpu, unsigned slot, bool ok,
                    std::uint64_t expected, std::uint64_t actual) noexcept {
    std::uint16_t& failing = failing_[cpu][static_cast<std::size_t>(inv)];
    const auto bit = static_cast<std::uint16_t>(1U << (slot < 15 ? slot : 15));
    if (ok) {
      failing = static_cast<std::uint16_t>(failing & ~bit);
      return;
    }
    if ((failing & bit) != 0) return;
    failing = static_cast<std::uint16_t>(failing | bit);
    record(inv, cpu, slot, expected, actual);
  }

  /// An event invariant (I3, I4, I5, G): every failure counts.
  void expect(invariant inv, std::uint32_t cpu, unsigned slot, bool ok, std::uint64_t expected,
              std::uint64_t actual) noexcept {
    if (!ok) record(inv, cpu, slot, expected, actual);
  }

  /// Violations seen.
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  /// Violations seen, per invariant.
  [[nodiscard]] const std::array<std::uint64_t, invariant_count>& by_invariant() const noexcept {
    return by_invariant_;
  }
  /// Index of the event of the first violation of each invariant (no_event if none).
  [[nodiscard]] const std::array<std::uint64_t, invariant_count>& first() const noexcept {
    return first_;
  }
  /// The first violations, in detail.
  [[nodiscard]] const std::vector<violation>& reports() const noexcept { return reports_; }

 private:
  static constexpr std::array<std::uint64_t, invariant_count> filled(std::uint64_t v) noexcept {
    std::array<std::uint64_t, invariant_count> a{};
    for (auto& x : a) x = v;
    return a;
  }

  void record(invariant inv, std::uint32_t cpu, unsigned slot, std::uint64_t expected,
              std::uint64_t actual) noexcept {
    ++count_;
    const auto i = static_cast<std::size_t>(inv);
    if (by_invariant_[i]++ == 0) first_[i] = index_;
    if (reports_.size() < max_reports_) {
      reports_.push_back({index_, event_, inv, cpu, slot, expected, actual});
    }
  }

  std::size_t max_reports_;
  std::uint64_t index_ = 0;
  event event_{};
  std::uint64_t count_ = 0;
  std::array<std::uint64_t, invariant_count> by_invariant_{};
  std::array<std::uint64_t, invariant_count> first_ = filled(no_event);
  std::vector<violation> reports_;
  std::array<std::array<std::uint16_t, invariant_count>, max_cpus> failing_{};
};

/// I1 and (unless `in_guest`) I2 for every slot of `table` on `cpu`, against `hw`'s registers.
/// Does nothing for a CPU the table has offline.
template <class Table>
void check_cache(checker& chk, const Table& table, const mock_msr& hw, std::uint32_t cpu,
                 bool in_guest) noexcept {
  const cpu_id c{cpu};
  if (!table.online(c)) return;
  const bool registered = table.registered(c);
  for (unsigned s = 0; s < table.size(); ++s) {
    const auto cur = table.current(c, s);
    if (!registered) {  // with the restore registered, I1 holds whatever the slot holds
      const auto host = table.host(c, s);
      chk.expect_state(invariant::i1, cpu, s, cur && host && *cur == *host, 1, 0);
    } else {
      chk.expect_state(invariant::i1, cpu, s, true, 1, 0);
    }
    if (in_guest) continue;
    if (!cur) {
      chk.expect_state(invariant::i2, cpu, s, true, 0, 0);
      continue;
    }
    const std::uint64_t real = hw.peek(c, *table.msr(s)).value_or(0);
    chk.expect_state(invariant::i2, cpu, s, real == *cur, real, *cur);
  }
}

/// I3 after `cpu` returned to user mode: every slot's hardware equals `true_host`, and the
/// table (if online there) caches host everywhere with nothing registered.
template <class Table>
void check_user_return(checker& chk, const Table& table, const mock_msr& hw, std::uint32_t cpu,
                       const msr_values& true_host) noexcept {
  const cpu_id c{cpu};
  for (unsigned s = 0; s < table.size() && s < msr_count; ++s) {
    const auto msr = table.msr(s);
    const std::uint64_t real = hw.peek(c, *msr).value_or(0);
    chk.expect(invariant::i3, cpu, s, real == true_host[s], true_host[s], real);
  }
  chk.expect(invariant::i3, cpu, no_slot, !table.registered(c), 0, 1);
}

/// A one-line description: "event 12 (enter 0): I2 on CPU 0, TSC_AUX: hardware 0x1, cache
/// 0x0".
[[nodiscard]] inline std::string describe(const violation& v) {
  auto hex = [](std::uint64_t x) {
    char buf[24];
    const char* digits = "0123456789abcdef";
    int n = 0;
    do {
      buf[n++] = digits[x & 0xf];
      x >>= 4;
    } while (x != 0);
    std::string s = "0x";
    while (n > 0) s += buf[--n];
    return s;
  };
  std::string s = "event " + std::to_string(v.index) + " (" + std::string(to_string(v.ev.kind)) +
                  " " + std::to_string(v.ev.cpu) + "): " + std::string(to_string(v.inv)) +
                  " on CPU " + std::to_string(v.cpu);
  if (v.slot < msr_count) s += ", " + std::string(msr_name(slot_msrs[v.slot]));
  switch (v.inv) {
    case invariant::i1: s += ": cache differs from host but the restore is not registered"; break;
    case invariant::i2: s += ": hardware " + hex(v.expected) + ", cache " + hex(v.actual); break;
    case invariant::i3:
      if (v.slot == no_slot) {
        s += ": restore still registered after the return to user mode";
      } else {
        s += ": host " + hex(v.expected) + ", hardware " + hex(v.actual);
      }
      break;
    case invariant::i4:
      s += ": set of the cached value issued " + std::to_string(v.actual) + " WRMSR";
      break;
    case invariant::i5:
      s += ": failed WRMSR changed the cache from " + hex(v.expected) + " to " + hex(v.actual);
      break;
    case invariant::guest_entry:
      s += ": guest needs " + hex(v.expected) + ", hardware " + hex(v.actual);
      break;
  }
  return s;
}

}  // namespace uret::sim
