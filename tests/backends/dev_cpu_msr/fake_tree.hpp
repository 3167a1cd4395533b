// SPDX-License-Identifier: MIT
// tests/backends/dev_cpu_msr/fake_tree.hpp - what the dev_cpu_msr tests run on instead of the msr
// driver: a temporary tree <dir>/<cpu>/msr of sparse regular files (offset = MSR index, 8 bytes per
// MSR value, unwritten MSRs read 0), and a system-call policy that passes through to POSIX but can
// inject failures: an errno or a short transfer for the next N matching calls, and a
// reserved-bit mask per MSR whose violation fails the pwrite with EIO, as the driver reports a
// #GP. It counts every call, so tests can assert which system calls a backend call made.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "uret/backends/dev_cpu_msr.hpp"

namespace uret_test {

/// A system-call policy over POSIX with injected faults and call counters.
struct fault_syscalls {
  enum class call : std::uint8_t { open, pread, pwrite };
  /// The next `times` calls of `what` (at `offset`, or any offset when -1) fail: with errno
  /// `err` when it is non-zero, else they report `short_bytes` bytes moved and touch nothing
  /// (the msr driver moves whole 8-byte values or none).
  struct rule {
    call what;
    off_t offset = -1;
    int err = 0;
    ssize_t short_bytes = 0;
    int times = 1;
  };
  /// A pwrite at offset `msr` of a value with any bit of `mask` set fails with EIO.
  struct reserved {
    std::uint32_t msr;
    std::uint64_t mask;
  };

  std::vector<rule> rules;
  std::vector<reserved> reserved_bits;
  int opens = 0, preads = 0, pwrites = 0, closes = 0;
  int last_open_flags = 0;

  int open(const char* path, int flags) noexcept {
    ++opens;
    last_open_flags = flags;
    if (const rule* r = take(call::open, -1)) return fail(*r);
    return ::open(path, flags);
  }
  ssize_t pread(int fd, void* out, std::size_t n, off_t off) noexcept {
    ++preads;
    if (const rule* r = take(call::pread, off)) {
      return r->err != 0 ? fail(*r) : r->short_bytes;
    }
    return ::pread(fd, out, n, off);
  }
  ssize_t pwrite(int fd, const void* in, std::size_t n, off_t off) noexcept {
    ++pwrites;
    if (const rule* r = take(call::pwrite, off)) {
      return r->err != 0 ? fail(*r) : r->short_bytes;
    }
    if (n == 8) {
      std::uint64_t v = 0;
      std::memcpy(&v, in, sizeof v);
      for (const reserved& rb : reserved_bits) {
        if (static_cast<off_t>(rb.msr) == off && (v & rb.mask) != 0) {
          errno = EIO;
          return -1;
        }
      }
    }
    return ::pwrite(fd, in, n, off);
  }
  int close(int fd) noexcept {
    ++closes;
    return ::close(fd);
  }

  /// Inject: the next `times` calls of `what` at `offset` (-1: any) fail with `err`.
  void fail_with(call what, int err, int times = 1, off_t offset = -1) {
    rules.push_back({what, offset, err, 0, times});
  }
  /// Inject: the next call of `what` at `offset` (-1: any) transfers only `bytes` bytes.
  void short_transfer(call what, ssize_t bytes, off_t offset = -1) {
    rules.push_back({what, offset, 0, bytes, 1});
  }

 private:
  rule* take(call what, off_t off) noexcept {
    for (rule& r : rules) {
      if (r.what == what && r.times > 0 && (r.offset == -1 || r.offset == off)) {
        --r.times;
        return &r;
      }
    }
    return nullptr;
  }
  static int fail(const rule& r) noexcept {
    errno = r.err;
    return -1;
  }
};
static_assert(uret::msr_syscalls<fault_syscalls>);

/// A temporary <dir>/<cpu>/msr tree for `cpus` CPUs, removed on destruction.
class fake_msr_tree {
 public:
  explicit fake_msr_tree(std::uint32_t cpus) : cpus_(cpus) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/uret-fake-msr-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) return;
    root_ = templ;
    for (std::uint32_t c = 0; c < cpus; ++c) {
      const std::string dir = root_ + "/" + std::to_string(c);
      if (::mkdir(dir.c_str(), 0700) != 0) return;
      const int fd = ::open((dir + "/msr").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
      if (fd < 0) return;
      // Sparse: every MSR index up to 2^32 - 1 is a readable 8-byte slot holding 0.
      const bool sized = ::ftruncate(fd, off_t{1} << 33) == 0;
      ::close(fd);
      if (!sized) return;
    }
    ok_ = true;
  }
  fake_msr_tree(const fake_msr_tree&) = delete;
  fake_msr_tree& operator=(const fake_msr_tree&) = delete;
  ~fake_msr_tree() {
    if (root_.empty()) return;
    for (std::uint32_t c = 0; c < cpus_; ++c) {
      const std::string dir = root_ + "/" + std::to_string(c);
      ::unlink((dir + "/msr").c_str());
      ::rmdir(dir.c_str());
    }
    ::rmdir(root_.c_str());
  }

  /// True when the whole tree was created.
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] const std::string& root() const noexcept { return root_; }
  [[nodiscard]] std::string file(std::uint32_t cpu) const {
    return root_ + "/" + std::to_string(cpu) + "/msr";
  }

  /// The 8 bytes at offset `msr` of `cpu`'s file, read behind the backend's back (all ones
  /// when the read fails).
  [[nodiscard]] std::uint64_t peek(std::uint32_t cpu, uret::msr_index msr) const {
    std::uint64_t v = ~std::uint64_t{0};
    const int fd = ::open(file(cpu).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      std::uint64_t got = 0;
      if (::pread(fd, &got, sizeof got, static_cast<off_t>(msr.value)) == sizeof got) v = got;
      ::close(fd);
    }
    return v;
  }
  /// Store `value` at offset `msr` of `cpu`'s file, as firmware would (the backend sees nothing).
  bool poke(std::uint32_t cpu, uret::msr_index msr, std::uint64_t value) const {
    const int fd = ::open(file(cpu).c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool ok =
        ::pwrite(fd, &value, sizeof value, static_cast<off_t>(msr.value)) == sizeof value;
    ::close(fd);
    return ok;
  }

 private:
  std::string root_;
  std::uint32_t cpus_;
  bool ok_ = false;
};

}  // namespace uret_test
