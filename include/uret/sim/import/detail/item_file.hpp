// SPDX-License-Identifier: MIT
// uret/sim/import/detail/item_file.hpp - the events and traced writes of a streaming import,
// kept in an unnamed temporary file in trace order (32 bytes each) so they can be read again,
// any number of times, with only a window of them in memory: the strategies' runs and the
// ground-truth comparison of `uret-sim import --check` and `uret-bench --trace` then take memory
// that does not grow with the trace.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "uret/msr.hpp"
#include "uret/sim/trace.hpp"

namespace uret::sim::detail {

/// One item as stored: an event (with its trace line, origin and exit reason) or a traced
/// write (ev.cpu is its CPU).
struct stored_item {
  std::uint64_t line = 0;
  std::uint64_t value = 0;  ///< a traced write's value
  event ev{};
  std::uint32_t msr = 0;     ///< a traced write's MSR
  std::uint8_t origin = 0;   ///< an event's event_origin
  std::uint8_t write = 0;    ///< 1: a traced write, 0: an event
  std::uint16_t reason = 0;  ///< an exit's reason, an index into imported_trace::exit_reasons
};
static_assert(sizeof(stored_item) == 32);

/// Written once, in order, then read from the start as often as wanted.
class item_file {
 public:
  item_file() = default;
  item_file(const item_file&) = delete;
  item_file& operator=(const item_file&) = delete;
  ~item_file() {
    if (file_ != nullptr) std::fclose(file_);
  }

  /// False when no temporary file could be created.
  bool open() {
    file_ = std::tmpfile();
    return file_ != nullptr;
  }

  void push_back(const stored_item& it) {
    buf_.push_back(it);
    ++size_;
    if (buf_.size() >= chunk) flush();
  }

  /// Writing is over.
  void close_writing() { flush(); }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool failed() const noexcept { return failed_; }

  /// Calls `f(const stored_item&)` for every item from the first; false (and `failed()`) when
  /// the file could not be read back whole. Not reentrant: one reader at a time.
  template <class F>
  bool for_each(F&& f) {
    if (file_ == nullptr || failed_ || std::fseek(file_, 0, SEEK_SET) != 0) {
      failed_ = true;
      return false;
    }
    std::vector<stored_item> in(chunk);
    std::size_t seen = 0;
    for (;;) {
      const std::size_t n = std::fread(in.data(), sizeof(stored_item), in.size(), file_);
      for (std::size_t i = 0; i < n; ++i) f(in[i]);
      seen += n;
      if (n < in.size()) break;
    }
    if (seen != size_ || std::ferror(file_) != 0) failed_ = true;
    return !failed_;
  }

 private:
  static constexpr std::size_t chunk = std::size_t{1} << 12;

  void flush() {
    if (buf_.empty()) return;
    if (file_ == nullptr || std::fseek(file_, 0, SEEK_END) != 0 ||
        std::fwrite(buf_.data(), sizeof(stored_item), buf_.size(), file_) != buf_.size()) {
      failed_ = true;
    }
    buf_.clear();
  }

  std::vector<stored_item> buf_;
  std::size_t size_ = 0;
  std::FILE* file_ = nullptr;
  bool failed_ = false;
};

}  // namespace uret::sim::detail
