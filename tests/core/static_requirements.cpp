// SPDX-License-Identifier: MIT
// Static requirements of the core, compiled and never run: concepts, noexcept, layout, and
// the types users must not be able to misuse (copying a table, raw integers as CPUs).
#include <uret/uret.hpp>

#include <type_traits>
#include <utility>

namespace {
using table = uret::slot_table<uret::mock_msr>;
using chain = uret::notifier_chain<>;
constexpr uret::cpu_id cpu{0};

static_assert(uret::msr_backend<uret::mock_msr>);

// Every operation of the table is noexcept.
static_assert(noexcept(std::declval<table&>().add(uret::msrs::star)));
static_assert(noexcept(std::declval<table&>().find(uret::msrs::star)));
static_assert(noexcept(std::declval<table&>().cpu_online(cpu)));
static_assert(noexcept(std::declval<table&>().set(cpu, 0U, 1U)));
static_assert(noexcept(std::declval<table&>().set(cpu, 0U, 1U, 1U)));
static_assert(noexcept(std::declval<table&>().update_cache(cpu, 0U, 1U)));
static_assert(noexcept(std::declval<table&>().invalidate(cpu, 0U)));
static_assert(noexcept(std::declval<table&>().invalidate(cpu)));
static_assert(noexcept(std::declval<table&>().may_clobber(cpu, 0U, 1U)));
static_assert(noexcept(std::declval<const table&>().current(cpu, 0U)));
static_assert(noexcept(std::declval<const table&>().host(cpu, 0U)));
static_assert(noexcept(std::declval<table&>().on_user_return(cpu)));
static_assert(noexcept(std::declval<table&>().drop(cpu)));
static_assert(noexcept(std::declval<chain&>().fire(cpu)));
static_assert(noexcept(
    std::declval<chain&>().register_notifier(cpu, std::declval<uret::user_return_notifier&>())));
static_assert(
    noexcept(std::declval<chain&>().unregister(std::declval<uret::user_return_notifier&>())));

// Failures are values that must be looked at.
static_assert(
    std::is_same_v<decltype(std::declval<table&>().set(cpu, 0U, 1U)), uret::result<void>>);
static_assert(
    std::is_same_v<decltype(std::declval<table&>().add(uret::msrs::star)), uret::result<unsigned>>);

// Tables and chains are pinned: notifier nodes point into them.
static_assert(!std::is_copy_constructible_v<table> && !std::is_move_constructible_v<table>);
static_assert(!std::is_copy_constructible_v<chain> && !std::is_move_constructible_v<chain>);

// Per-CPU records: cache-line aligned, 16 slots in at most five cache lines.
static_assert(table::per_cpu_bytes() <= 5 * 64);
static_assert(table::per_cpu_bytes() % 64 == 0);
static_assert(uret::slot_table<uret::mock_msr, 4>::per_cpu_bytes() <= 2 * 64);

// Raw integers are not CPUs or MSRs.
static_assert(!std::is_convertible_v<int, uret::cpu_id>);
static_assert(!std::is_convertible_v<int, uret::msr_index>);
}  // namespace
