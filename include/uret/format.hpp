// SPDX-License-Identifier: MIT
// uret/format.hpp - {fmt} formatters for the library's vocabulary, and a per-CPU table dump.
// The only header of the library that includes fmt (link uret::format).
//
//     fmt::print("{}\n", uret::msrs::lstar);            // LSTAR (0xc0000082)
//     fmt::print("{}\n", uret::errc::msr_fault);        // MSR faulted (#GP)
//     fmt::print("{}\n", uret::dump(table, cpu));       // the slot table of one CPU
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string_view>

#include "uret/msr.hpp"
#include "uret/slot_table.hpp"

/// An MSR prints as its name and hex index, "LSTAR (0xc0000082)", or "MSR 0x6e1" when the
/// library does not know its name.
template <>
struct fmt::formatter<uret::msr_index> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(uret::msr_index m, FormatContext& ctx) const -> decltype(ctx.out()) {
    const std::string_view name = uret::msr_name(m);
    if (name.empty()) return fmt::format_to(ctx.out(), "MSR {:#x}", m.value);
    return fmt::format_to(ctx.out(), "{} ({:#x})", name, m.value);
  }
};

/// A CPU prints as "cpu3".
template <>
struct fmt::formatter<uret::cpu_id> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(uret::cpu_id c, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "cpu{}", c.value);
  }
};

/// An error prints as words, "MSR faulted (#GP)"; string format specs apply.
template <>
struct fmt::formatter<uret::errc> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(uret::errc e, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(uret::to_string(e), ctx);
  }
};

namespace uret {

/// A printable view of one CPU of a slot table; see dump().
template <class Table>
struct table_dump {
  const Table& table;
  cpu_id cpu;
};

/// The slot table of `cpu`, for printing: one line for the CPU (online, registered, counters)
/// and, when online, one per slot (MSR, host, curr or "unknown", and "dirty" when the restore will
/// write it).
template <msr_backend B, std::size_t S, std::size_t C>
[[nodiscard]] table_dump<slot_table<B, S, C>> dump(const slot_table<B, S, C>& table,
                                                   cpu_id cpu) noexcept {
  return {table, cpu};
}

}  // namespace uret

template <class Table>
struct fmt::formatter<uret::table_dump<Table>> {
  constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
    return ctx.begin();
  }
  template <class FormatContext>
  auto format(const uret::table_dump<Table>& d, FormatContext& ctx) const -> decltype(ctx.out()) {
    const Table& t = d.table;
    const uret::slot_stats st = t.stats(d.cpu);
    auto out = fmt::format_to(ctx.out(), "{}: {}, {}, writes {}, skipped {}", d.cpu,
                              t.online(d.cpu) ? "online" : "offline",
                              t.registered(d.cpu) ? "registered" : "not registered", st.writes,
                              st.skipped);
    for (unsigned slot = 0; t.online(d.cpu) && slot < t.size(); ++slot) {
      const uret::result<std::uint64_t> host = t.host(d.cpu, slot);
      const uret::result<std::uint64_t> curr = t.current(d.cpu, slot);
      const bool dirty = ((t.dirty_slots(d.cpu) >> slot) & 1U) != 0;
      out = fmt::format_to(out, "\n  slot {:2} {:<28} host ", slot, fmt::to_string(*t.msr(slot)));
      out = fmt::format_to(out, "{:#018x} curr ", host.value_or(0));
      out =
          curr ? fmt::format_to(out, "{:#018x}", *curr) : fmt::format_to(out, "{:>18}", "unknown");
      if (dirty) out = fmt::format_to(out, " dirty");
    }
    return out;
  }
};
