// SPDX-License-Identifier: MIT
// uret/sim/import/detail/spool.hpp - a sequence the importer writes once, in order, then reads
// once, in order: kept in memory, or (a streaming import) in an unnamed temporary file with only
// a window of it in memory, so memory does not grow with the trace.
#pragma once

#include <cstddef>
#include <cstdio>
#include <type_traits>
#include <vector>

namespace uret::sim::detail {

/// Items of a trivially copyable `T`, appended, then read by index from the first one on. In
/// memory, every item stays; spooled (to_file()), at most `chunk` items wait to be written, and
/// reading keeps the items from the last release() on (a bounded window when the reader
/// releases as it goes).
template <class T>
class spool {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  spool() = default;
  spool(const spool&) = delete;
  spool& operator=(const spool&) = delete;
  ~spool() {
    if (file_ != nullptr) std::fclose(file_);
  }

  /// Keeps the items in a temporary file from now on, `chunk` at a time; false when none can be
  /// created (the items then stay in memory).
  bool to_file(std::size_t chunk) {
    file_ = std::tmpfile();
    chunk_ = chunk > 0 ? chunk : 1;
    return file_ != nullptr;
  }

  void push_back(const T& v) {
    buf_.push_back(v);
    ++size_;
    if (file_ != nullptr && buf_.size() >= chunk_) flush();
  }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  /// Writing is over: at() reads from the first item.
  void rewind() {
    if (file_ == nullptr) return;
    flush();
    if (std::fflush(file_) != 0 || std::fseek(file_, 0, SEEK_SET) != 0) failed_ = true;
    base_ = 0;
  }

  /// Item `i`, or nullptr past the end. `i` is at least the last release(). The pointer holds
  /// until the next at().
  [[nodiscard]] const T* at(std::size_t i) {
    while (i >= base_ + buf_.size()) {
      if (!load()) return nullptr;
    }
    return &buf_[i - base_];
  }

  /// Items before `i` will not be read again.
  void release(std::size_t i) {
    if (file_ == nullptr || i <= base_) return;
    const std::size_t drop = i - base_ < buf_.size() ? i - base_ : buf_.size();
    if (drop < chunk_) return;  // drop a chunk at a time
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(drop));
    base_ += drop;
  }

  /// A write or read of the temporary file failed.
  [[nodiscard]] bool failed() const noexcept { return failed_; }

 private:
  void flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), sizeof(T), buf_.size(), file_) != buf_.size()) {
      failed_ = true;
    }
    base_ += buf_.size();
    buf_.clear();
  }

  bool load() {
    if (file_ == nullptr) return false;
    const std::size_t old = buf_.size();
    buf_.resize(old + chunk_);
    const std::size_t n = std::fread(buf_.data() + old, sizeof(T), chunk_, file_);
    buf_.resize(old + n);
    if (n == 0 && std::ferror(file_) != 0) failed_ = true;
    return n > 0;
  }

  std::vector<T> buf_;
  std::size_t base_ = 0;  // index of buf_[0]
  std::size_t size_ = 0;
  std::size_t chunk_ = 1;
  std::FILE* file_ = nullptr;
  bool failed_ = false;
};

}  // namespace uret::sim::detail
