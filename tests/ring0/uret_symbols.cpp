// SPDX-License-Identifier: MIT
// tests/ring0/uret_symbols.cpp - every member of the core's templates over native_msr,
// instantiated in one object compiled with the kernel's flags but not linked into it: its
// undefined symbols are exactly what the uret headers need from a freestanding environment.
#include "uret/backends/native_msr.hpp"
#include "uret/msr.hpp"
#include "uret/msr_backend.hpp"
#include "uret/notifier.hpp"
#include "uret/slot_table.hpp"
#include "uret/uret.hpp"

template class uret::native_msr<uret::fault_policy::exception_table>;
template class uret::native_msr<uret::fault_policy::fatal>;
template class uret::notifier_chain<64>;
template class uret::slot_table<uret::native_msr<uret::fault_policy::exception_table>, 16, 64>;
template class uret::slot_table<uret::native_msr<uret::fault_policy::fatal>, 64, 8>;
template class uret::result<std::uint64_t>;
template class uret::result<unsigned>;

// The non-template functions, each kept by an external definition that calls it.
namespace uret_symbols {
std::string_view to_string(uret::errc e) noexcept { return uret::to_string(e); }
std::string_view msr_name(uret::msr_index m) noexcept { return uret::msr_name(m); }
std::uintptr_t fixup(std::uintptr_t rip) noexcept { return uret::native_msr_fixup(rip); }
}  // namespace uret_symbols
