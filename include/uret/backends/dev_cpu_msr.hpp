// SPDX-License-Identifier: MIT
// uret/backends/dev_cpu_msr.hpp - the Linux msr driver as an msr_backend: RDMSR/WRMSR on a
// chosen CPU through the character device <root>/<cpu>/msr (root is /dev/cpu by default).
//
// The driver's interface: an 8-byte pread at file offset = MSR index runs RDMSR on that CPU,
// an 8-byte pwrite runs WRMSR there (from another CPU it goes through an IPI). The driver
// catches the #GP of a faulting access and returns EIO; opening fails with ENXIO for a CPU
// that does not exist or is offline, with EIO for a CPU without MSRs, with EPERM without
// CAP_SYS_RAWIO, and the file is absent (ENOENT) until `modprobe msr` has run. Writes may also
// fail with EPERM when the kernel forbids them (lockdown, or msr.allow_writes=off).
//
// Guarantees of this backend:
//  - one descriptor per CPU, opened on first use and kept until destruction (RAII, move-only);
//    a failed open is not remembered, so the next call tries again (after `modprobe msr`);
//  - every failure is a value (errc) and the last one is kept per CPU with the errno and the
//    system call, so that a caller can tell the user what to do (message(), describe());
//  - EINTR is retried; a short transfer is an error, never retried at another offset (the next
//    8 bytes of the file are the next MSR);
//  - read-only unless constructed with access::read_write: a write on a read-only backend fails
//    with errc::not_permitted before any system call;
//  - calls for different CPUs may run concurrently on different threads: all mutable state is
//    per CPU, on its own cache line.
// System calls go through a policy (`msr_syscalls`) so tests can run against a fake tree of
// regular files and inject errors; the default calls POSIX directly.
//
// Unlike the core headers this one needs POSIX (<fcntl.h>, <unistd.h>) and allocates in its
// constructor (the per-CPU records and the root path).
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "uret/msr.hpp"
#include "uret/msr_backend.hpp"

namespace uret {

static_assert(
    sizeof(off_t) >= 8,
    "dev_cpu_msr needs a 64-bit off_t for MSR offsets: build with -D_FILE_OFFSET_BITS=64");

/// @brief The system calls dev_cpu_msr makes, as a policy. Each behaves as its POSIX namesake:
/// it returns -1 and sets errno on failure. `open` receives the full flags (O_RDONLY or O_RDWR,
/// plus O_CLOEXEC); `pread`/`pwrite` move `n` bytes at offset `off`. The calls for one CPU's
/// descriptor never overlap; calls for different CPUs may.
template <class S>
concept msr_syscalls = requires(S& s, const char* path, int flags, int fd, void* out,
                                const void* in, std::size_t n, off_t off) {
  { s.open(path, flags) }
  noexcept->std::same_as<int>;
  { s.pread(fd, out, n, off) }
  noexcept->std::same_as<ssize_t>;
  { s.pwrite(fd, in, n, off) }
  noexcept->std::same_as<ssize_t>;
  { s.close(fd) }
  noexcept->std::same_as<int>;
};

/// The default policy: the POSIX calls themselves.
struct posix_syscalls {
  int open(const char* path, int flags) noexcept { return ::open(path, flags); }
  ssize_t pread(int fd, void* out, std::size_t n, off_t off) noexcept {
    return ::pread(fd, out, n, off);
  }
  ssize_t pwrite(int fd, const void* in, std::size_t n, off_t off) noexcept {
    return ::pwrite(fd, in, n, off);
  }
  int close(int fd) noexcept { return ::close(fd); }
};
static_assert(msr_syscalls<posix_syscalls>);

/// Which access of dev_cpu_msr failed.
enum class msr_syscall : std::uint8_t {
  none,   ///< no failure recorded
  open,   ///< opening <root>/<cpu>/msr
  read,   ///< the 8-byte pread (RDMSR)
  write,  ///< the 8-byte pwrite (WRMSR), or a write refused by a read-only backend
  range,  ///< CPU number beyond the count the backend was built for (no system call)
};

/// The last failure on one CPU: the library error, the errno behind it (0 when no system call
/// failed: read-only backend, CPU out of range, short transfer), the call and the MSR.
struct dev_cpu_msr_error {
  errc code{};
  int sys_errno = 0;
  msr_syscall call = msr_syscall::none;
  msr_index msr{};
};

namespace detail {

/// The library error for an errno from opening a CPU's msr device.
[[nodiscard]] constexpr errc dev_msr_open_errc(int e) noexcept {
  switch (e) {
    case ENOENT:  // no device node: driver not loaded, or no such CPU
    case ENXIO:   // CPU number beyond the possible CPUs, or offline
    case ENODEV:
    case EIO:  // the CPU has no MSRs at all
      return errc::no_such_cpu;
    case EACCES:  // file permissions (the node is root-only)
    case EPERM:   // no CAP_SYS_RAWIO
      return errc::not_permitted;
    default: return errc::io_error;
  }
}

/// The library error for an errno from an 8-byte pread/pwrite on an open msr device.
[[nodiscard]] constexpr errc dev_msr_access_errc(int e) noexcept {
  switch (e) {
    case EIO:  // RDMSR/WRMSR raised #GP: absent MSR or reserved bits
      return errc::msr_fault;
    case ENXIO:  // the CPU went offline since the open
    case ENODEV: return errc::no_such_cpu;
    case EACCES:
    case EPERM:  // writes forbidden by lockdown or msr.allow_writes=off
      return errc::not_permitted;
    default: return errc::io_error;
  }
}

}  // namespace detail

/// MSR access through the Linux msr driver, with the system calls of `Syscalls`.
///
///     uret::dev_cpu_msr msr;                          // /dev/cpu, read-only
///     uret::result<std::uint64_t> v = msr.read(uret::cpu_id{0}, uret::msrs::lstar);
///     if (!v) std::fprintf(stderr, "%s\n", msr.message(uret::cpu_id{0}).c_str());
///
///     uret::dev_cpu_msr rw{uret::dev_cpu_msr::access::read_write};
///     uret::slot_table<uret::dev_cpu_msr> table{rw, chain, cpus};
template <msr_syscalls Syscalls = posix_syscalls>
class basic_dev_cpu_msr {
 public:
  /// Whether the backend may write MSRs. Descriptors are opened O_RDONLY or O_RDWR to match.
  enum class access : std::uint8_t { read_only, read_write };

  /// The default root of the per-CPU device files.
  static constexpr std::string_view default_root = "/dev/cpu";

  /// A backend for CPUs 0 .. cpus-1 (0 means every CPU the system has configured), reading
  /// `<root>/<cpu>/msr`. Nothing is opened yet. Allocates; throws only std::bad_alloc.
  explicit basic_dev_cpu_msr(access mode = access::read_only, std::string_view root = default_root,
                             std::size_t cpus = 0, Syscalls syscalls = Syscalls{})
      : sys_(std::move(syscalls)),
        root_(root),
        cpus_(cpus != 0 ? cpus : configured_cpus()),
        cpu_(std::make_unique<per_cpu[]>(cpus_)),
        mode_(mode) {}

  basic_dev_cpu_msr(const basic_dev_cpu_msr&) = delete;
  basic_dev_cpu_msr& operator=(const basic_dev_cpu_msr&) = delete;
  /// Takes over `other`'s descriptors; `other` is left with no CPUs.
  basic_dev_cpu_msr(basic_dev_cpu_msr&& other) noexcept
      : sys_(std::move(other.sys_)),
        root_(std::move(other.root_)),
        cpus_(std::exchange(other.cpus_, 0)),
        cpu_(std::move(other.cpu_)),
        mode_(other.mode_) {}
  /// Closes this backend's descriptors and takes over `other`'s.
  basic_dev_cpu_msr& operator=(basic_dev_cpu_msr&& other) noexcept {
    if (this != &other) {
      close_all();
      sys_ = std::move(other.sys_);
      root_ = std::move(other.root_);
      cpus_ = std::exchange(other.cpus_, 0);
      cpu_ = std::move(other.cpu_);
      mode_ = other.mode_;
    }
    return *this;
  }
  /// Closes every descriptor it opened.
  ~basic_dev_cpu_msr() { close_all(); }

  /// RDMSR of `msr` on `cpu`: an 8-byte pread at offset `msr`.
  /// Errors: msr_fault (EIO), no_such_cpu, not_permitted, io_error (short read, other errno).
  result<std::uint64_t> read(cpu_id cpu, msr_index msr) noexcept {
    if (cpu.value >= cpus_) [[unlikely]]
      return errc::no_such_cpu;
    per_cpu& r = cpu_[cpu.value];
    if (r.fd < 0) [[unlikely]] {
      if (const errc e = open_cpu(r, cpu, msr); e != errc{}) return e;
    }
    std::uint64_t value = 0;
    ssize_t n = 0;
    do {
      n = sys_.pread(r.fd, &value, sizeof value, static_cast<off_t>(msr.value));
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(sizeof value)) [[likely]]
      return value;
    return fail_access(r, msr_syscall::read, msr, n);
  }

  /// WRMSR of `value` into `msr` on `cpu`: an 8-byte pwrite at offset `msr`.
  /// Errors: not_permitted (read-only backend, or the kernel forbids the write), msr_fault
  /// (EIO: the CPU rejected the value), no_such_cpu, io_error.
  result<void> write(cpu_id cpu, msr_index msr, std::uint64_t value) noexcept {
    if (cpu.value >= cpus_) [[unlikely]]
      return errc::no_such_cpu;
    per_cpu& r = cpu_[cpu.value];
    if (mode_ != access::read_write) [[unlikely]] {
      r.last = {errc::not_permitted, 0, msr_syscall::write, msr};
      return errc::not_permitted;
    }
    if (r.fd < 0) [[unlikely]] {
      if (const errc e = open_cpu(r, cpu, msr); e != errc{}) return e;
    }
    ssize_t n = 0;
    do {
      n = sys_.pwrite(r.fd, &value, sizeof value, static_cast<off_t>(msr.value));
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(sizeof value)) [[likely]]
      return {};
    return fail_access(r, msr_syscall::write, msr, n);
  }

  /// Number of CPUs the backend serves (0 after being moved from).
  [[nodiscard]] std::size_t cpus() const noexcept { return cpus_; }
  /// True when the backend was built with access::read_write.
  [[nodiscard]] bool writable() const noexcept { return mode_ == access::read_write; }
  /// The directory holding the per-CPU device files.
  [[nodiscard]] std::string_view root() const noexcept { return root_; }
  /// True when `cpu`'s descriptor is open (it opens on the first read or write).
  [[nodiscard]] bool is_open(cpu_id cpu) const noexcept {
    return cpu.value < cpus_ && cpu_[cpu.value].fd >= 0;
  }
  /// The system-call policy (a test's fake keeps its injected faults here).
  [[nodiscard]] Syscalls& syscalls() noexcept { return sys_; }

  /// The last failure on `cpu` (code errc{} when none; not cleared by later successes). For a
  /// CPU beyond cpus(), the failure every call on it gets (no_such_cpu, no system call).
  [[nodiscard]] dev_cpu_msr_error last_error(cpu_id cpu) const noexcept {
    if (cpu.value >= cpus_) return {errc::no_such_cpu, 0, msr_syscall::range, msr_index{}};
    return cpu_[cpu.value].last;
  }

  /// What the user should do about `e`, in one sentence.
  [[nodiscard]] static constexpr std::string_view describe(errc e) noexcept {
    switch (e) {
      case errc::msr_fault:
        return "the CPU rejected the access (#GP): the MSR does not exist on this CPU or the "
               "value sets reserved bits";
      case errc::no_such_cpu:
        return "no msr device for this CPU: load the driver with `modprobe msr` (as root) and "
               "check that the CPU exists and is online";
      case errc::not_permitted:
        return "not permitted: run as root (CAP_SYS_RAWIO and access to /dev/cpu/*/msr are "
               "needed); writes also need a backend built with access::read_write and a "
               "kernel that allows MSR writes (no lockdown, msr.allow_writes not off)";
      case errc::io_error:
        return "unexpected I/O error from the msr device (short transfer or unusual errno)";
      default: return to_string(e);
    }
  }

  /// A one-line account of the last failure on `cpu`, for a human: what failed, on which
  /// file and MSR, the errno, and what to do. Empty when there was none. Allocates.
  [[nodiscard]] std::string message(cpu_id cpu) const {
    const dev_cpu_msr_error e = last_error(cpu);
    if (e.code == errc{}) return {};
    const std::string path = root_ + "/" + std::to_string(cpu.value) + "/msr";
    std::string m;
    switch (e.call) {
      case msr_syscall::open: m = "open " + path; break;
      case msr_syscall::read: m = "read of MSR " + hex(e.msr.value) + " via " + path; break;
      case msr_syscall::write: m = "write of MSR " + hex(e.msr.value) + " via " + path; break;
      case msr_syscall::range:
        m = "CPU " + std::to_string(cpu.value) + " (this backend serves " + std::to_string(cpus_) +
            " CPUs)";
        break;
      case msr_syscall::none: break;
    }
    if (e.sys_errno != 0) {
      m += ": ";
      m += errno_text(e.sys_errno);
    } else if (e.code == errc::io_error) {
      m += ": short transfer";
    }
    m += "; ";
    m += advice(e);
    return m;
  }

 private:
  // One record per CPU, each on its own cache line: threads owning different CPUs never share.
  struct alignas(64) per_cpu {
    int fd = -1;
    dev_cpu_msr_error last{};
  };

  static std::size_t configured_cpus() noexcept {
    const long n = ::sysconf(_SC_NPROCESSORS_CONF);
    return n > 0 ? static_cast<std::size_t>(n) : 1;
  }

  // describe(), narrowed to what the failed call can mean.
  static std::string_view advice(const dev_cpu_msr_error& e) noexcept {
    if (e.code == errc::not_permitted && e.call == msr_syscall::write) {
      return e.sys_errno == 0 ? "the backend is read-only: build it with access::read_write"
                              : "the kernel forbids MSR writes (lockdown, or msr.allow_writes=off)";
    }
    if (e.code == errc::not_permitted) {
      return "not permitted: run as root (the msr device needs CAP_SYS_RAWIO)";
    }
    return describe(e.code);
  }

  // strerror_r comes in two flavours (XSI returns int, GNU returns the text); both handled.
  static std::string errno_text(int e) {
    char buf[128] = {};
    return errno_text_from(::strerror_r(e, buf, sizeof buf), buf, e);
  }
  static std::string errno_text_from(int rc, const char* buf, int e) {
    return rc == 0 ? std::string(buf) : "errno " + std::to_string(e);
  }
  static std::string errno_text_from(const char* text, const char*, int) { return text; }

  static std::string hex(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%#x", static_cast<unsigned>(v));
    return buf;
  }

  errc open_cpu(per_cpu& r, cpu_id cpu, msr_index msr) noexcept {
    char path[4096];
    const int len = std::snprintf(path, sizeof path, "%.*s/%u/msr", static_cast<int>(root_.size()),
                                  root_.data(), cpu.value);
    if (len < 0 || static_cast<std::size_t>(len) >= sizeof path) {
      r.last = {errc::io_error, ENAMETOOLONG, msr_syscall::open, msr};
      return errc::io_error;
    }
    const int flags = (mode_ == access::read_write ? O_RDWR : O_RDONLY) | O_CLOEXEC;
    int fd = -1;
    do {
      fd = sys_.open(path, flags);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      const int e = errno;
      r.last = {detail::dev_msr_open_errc(e), e, msr_syscall::open, msr};
      return r.last.code;
    }
    r.fd = fd;
    return errc{};
  }

  errc fail_access(per_cpu& r, msr_syscall call, msr_index msr, ssize_t n) noexcept {
    const int e = n < 0 ? errno : 0;
    r.last = {n < 0 ? detail::dev_msr_access_errc(e) : errc::io_error, e, call, msr};
    return r.last.code;
  }

  void close_all() noexcept {
    for (std::size_t c = 0; c < cpus_; ++c) {
      if (cpu_[c].fd >= 0) static_cast<void>(sys_.close(cpu_[c].fd));
      cpu_[c].fd = -1;
    }
  }

  [[no_unique_address]] Syscalls sys_;
  std::string root_;
  std::size_t cpus_;
  std::unique_ptr<per_cpu[]> cpu_;
  access mode_;
};

/// The Linux msr driver backend with real system calls.
using dev_cpu_msr = basic_dev_cpu_msr<>;

static_assert(msr_backend<dev_cpu_msr>);

}  // namespace uret
