// SPDX-License-Identifier: MIT
// tools/common/tracedat.cpp - see tracedat.hpp. With URET_HAVE_TRACECMD a trace.dat is printed
// by tracedat_report.c (C: trace-cmd's headers are not C++) through libtracecmd, in a child
// process that writes the text into a pipe; this side hands it to the sink a piece at a time.
#include "common/tracedat.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifdef URET_HAVE_TRACECMD
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "common/tracedat_report.h"
#endif

namespace uret_tools {

trace_file_kind sniff_trace_file(std::string_view head) noexcept {
  static constexpr char dat_magic[] = "\x17\x08\x44tracing";
  if (head.substr(0, sizeof dat_magic - 1) == std::string_view(dat_magic, sizeof dat_magic - 1))
    return trace_file_kind::trace_dat;
  if (head.substr(0, 8) == "PERFILE2" || head.substr(0, 8) == "PERFFILE")
    return trace_file_kind::perf_data;
  return trace_file_kind::text;
}

std::string binary_trace_hint(trace_file_kind kind, const std::string& path) {
  if (kind == trace_file_kind::perf_data) {
    return path + " is a perf.data file; convert it first: perf script -i " + path + " > trace.txt";
  }
  return path +
         " is a trace-cmd trace.dat, which this build cannot read (built without "
         "libtracecmd); convert it first: trace-cmd report -i " +
         path + " > trace.txt";
}

std::size_t tracedat_piece_bytes() noexcept {
  constexpr std::size_t fallback = std::size_t{64} << 10;
  constexpr std::size_t most = std::size_t{64} << 20;
  const char* env = std::getenv("URET_TRACEDAT_PIECE_BYTES");
  if (env == nullptr) return fallback;
  const std::string_view text(env);
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < 1 || n > most) return fallback;
  return n;
}

int read_binary_trace(const std::string& tool, const std::string& path, trace_file_kind kind,
                      const tracedat_sink& sink) {
  std::string why;
  if (kind == trace_file_kind::trace_dat && tracedat_supported() && path != "-") {
    const tracedat_result r = read_tracedat(path, sink);
    if (r.ok) return 0;
    why = r.error;
  } else if (kind == trace_file_kind::trace_dat && path == "-") {
    why = "standard input is a trace-cmd trace.dat; give its file name, or pipe `trace-cmd report`";
  } else {
    why = binary_trace_hint(kind, path);
  }
  std::fprintf(stderr, "%s: %s\n", tool.c_str(), why.c_str());
  return 2;
}

#ifdef URET_HAVE_TRACECMD

bool tracedat_supported() noexcept { return true; }

namespace {

// libtracecmd is not safe on a damaged trace.dat: a corrupted file can make it crash
// (tracecmd_close on the error path of tracecmd_open_fd), loop for ever, and it prints lines of
// its own to stderr ("mmap: Unknown error -22") even with its logging off. So it runs in a child
// process: the child writes the report text into a pipe, the parent hands it to the sink a piece
// at a time as it arrives (memory stays bounded: one piece on each side and the pipe), and a
// child that dies becomes a one-line error instead of taking the tool with it.

// The exit statuses of the child, beside 0 (the whole report written).
constexpr int child_cannot_open = 3;   // uret_tracedat_report: -1
constexpr int child_read_failed = 4;   // -2
constexpr int child_write_failed = 5;  // -3: the pipe closed (the parent stopped reading)
constexpr int child_setup_failed = 6;  // before libtracecmd ran

// The size of the pieces the child writes into the pipe; the parent cuts the stream again at
// the caller's piece size, so this changes no byte and no piece the sink sees.
constexpr std::size_t child_piece_bytes = std::size_t{64} << 10;

// All of buf[0 .. size) to fd, across short writes and signals. False when the pipe is gone.
bool write_all(int fd, const char* buf, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, buf, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

extern "C" int write_to_pipe(void* context, const char* text, std::size_t size) {
  return write_all(*static_cast<int*>(context), text, size) ? 0 : 1;
}

// The child's CPU time limit, in seconds: generous, 10 s per MB of trace.dat plus 30 s (the
// fixture's 16 KB take a few milliseconds), so only a loop inside libtracecmd reaches it. It
// then gets SIGXCPU, and SIGKILL 5 s later should it survive that, which the parent reports like
// any other death of the child. URET_TRACEDAT_CPU_SECONDS (a whole number, 1 .. 1000000) sets
// it instead, for tests that make a looping trace.dat end quickly.
rlim_t child_cpu_seconds(const std::string& path) {
  const char* env = std::getenv("URET_TRACEDAT_CPU_SECONDS");
  if (env != nullptr) {
    const std::string_view text(env);
    rlim_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc() && end == text.data() + text.size() && n >= 1 && n <= 1000000) return n;
  }
  struct stat st {};
  const rlim_t megabytes =
      ::stat(path.c_str(), &st) == 0 && st.st_size > 0 ? static_cast<rlim_t>(st.st_size) >> 20 : 0;
  return 30 + 10 * megabytes;
}

// The child: libtracecmd reads `path` and the report text goes to `out`. Never returns, and
// leaves by _exit, so that nothing of the parent's (stdio buffers, atexit handlers, destructors)
// runs twice. The tools are single-threaded while they read a trace, so libtracecmd's malloc is
// safe here.
[[noreturn]] void run_child(const std::string& path, int out, rlim_t cpu_seconds) {
  // libtracecmd's own messages go nowhere: the parent says what went wrong, in one line.
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null < 0 || ::dup2(null, STDERR_FILENO) < 0 || ::dup2(null, STDOUT_FILENO) < 0)
    ::_exit(child_setup_failed);
  // Within the hard limit the tool was started with, which an unprivileged process cannot raise.
  struct rlimit cpu = {cpu_seconds, cpu_seconds + 5};
  struct rlimit was {};
  if (::getrlimit(RLIMIT_CPU, &was) == 0 && was.rlim_max != RLIM_INFINITY) {
    if (cpu.rlim_max > was.rlim_max) cpu.rlim_max = was.rlim_max;
    if (cpu.rlim_cur > cpu.rlim_max) cpu.rlim_cur = cpu.rlim_max;
  }
  // No core file from a crash on a bad trace.dat: the crash is libtracecmd's, the user's input
  // is the cause, and the error message says so.
  const struct rlimit no_core = {0, 0};
  if (::setrlimit(RLIMIT_CPU, &cpu) != 0 || ::setrlimit(RLIMIT_CORE, &no_core) != 0)
    ::_exit(child_setup_failed);
  // The parent may ignore SIGPIPE; here a closed pipe just ends the report (write fails).
  ::signal(SIGPIPE, SIG_IGN);
  // A crash in libtracecmd ends the child by its signal, which the parent names; a handler the
  // tool inherited (a sanitizer's, which would report into /dev/null and exit 1) must not turn
  // it into an exit status.
  for (const int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) ::signal(sig, SIG_DFL);
  int fd = out;
  switch (uret_tracedat_report(path.c_str(), child_piece_bytes, write_to_pipe, &fd)) {
    case 0: ::_exit(0);
    case -1: ::_exit(child_cannot_open);
    case -2: ::_exit(child_read_failed);
    default: ::_exit(child_write_failed);
  }
}

// The child process, killed and reaped on the way out unless wait() has reaped it already: an
// exception from the sink must not leave it running or a zombie.
class child_process {
 public:
  explicit child_process(pid_t pid) : pid_(pid) {}
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  // Waits for the child to end: its wait status, or -1 (errno set) when it cannot be had.
  int wait(struct rusage& usage) {
    int status = 0;
    pid_t got;
    do {
      got = ::wait4(pid_, &status, 0, &usage);
    } while (got < 0 && errno == EINTR);
    // Whatever wait4 said, the child is not to be killed or waited for again: after an error
    // (ECHILD) its pid may belong to another process.
    pid_ = 0;
    return got < 0 ? -1 : status;
  }

 private:
  pid_t pid_;
};

// A file descriptor closed on the way out.
class unique_fd {
 public:
  explicit unique_fd(int fd = -1) : fd_(fd) {}
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Why the child failed, for "libtracecmd failed: ...".
std::string child_failure(int status, const struct rusage& usage, rlim_t cpu_seconds) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec);
    if (sig == SIGXCPU || (sig == SIGKILL && cpu >= static_cast<double>(cpu_seconds)))
      return "still running after its CPU time limit of " + std::to_string(cpu_seconds) + " s";
    const char* name = sigabbrev_np(sig);
    return name != nullptr ? "killed by SIG" + std::string(name)
                           : "killed by signal " + std::to_string(sig);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == child_setup_failed)
    return "could not set up its process";
  return "exit status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : status);
}

}  // namespace

tracedat_result read_tracedat(const std::string& path, const tracedat_sink& sink,
                              std::size_t piece_bytes) {
  tracedat_result r;
  if (piece_bytes == 0) piece_bytes = 1;
  const rlim_t cpu_seconds = child_cpu_seconds(path);
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) {
    r.error = "cannot read " + path + ": pipe: " + std::strerror(errno);
    return r;
  }
  unique_fd in(ends[0]);
  unique_fd out(ends[1]);
  // Empty the stdio buffers before fork, so that nothing the tool has printed can come out twice,
  // whatever the child does with its copies of them.
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    r.error = "cannot read " + path + ": fork: " + std::strerror(errno);
    return r;
  }
  if (pid == 0) {
    in.reset();
    run_child(path, out.get(), cpu_seconds);
  }
  child_process child(pid);
  // Only the child writes: with the parent's write end closed, the child's exit is end of file.
  out.reset();

  // The text, cut at exactly piece_bytes again, whatever the pipe hands over at a time. The
  // buffer is not touched beyond what is read into it (a piece may be 64 MiB in tests).
  const std::unique_ptr<char[]> piece(new char[piece_bytes]);
  std::size_t used = 0;
  for (;;) {
    const ssize_t n = ::read(in.get(), piece.get() + used, piece_bytes - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.error = "cannot read " + path + ": reading from libtracecmd: " + std::strerror(errno);
      return r;  // ~child_process kills and reaps the child
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
    if (used == piece_bytes) {
      // May throw: the child is killed and reaped on the way out.
      sink(std::string_view(piece.get(), used));
      used = 0;
    }
  }
  in.reset();
  struct rusage usage {};
  const int status = child.wait(usage);
  if (status < 0) {
    r.error = "cannot read " + path + ": waiting for libtracecmd: " + std::strerror(errno);
    return r;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    // The last, partial piece: only after a complete read, so that a failed one hands over no
    // more text than it had to.
    if (used > 0) sink(std::string_view(piece.get(), used));
    r.ok = true;
    return r;
  }
  // The wording of the failures libtracecmd itself reports, as before it ran in a child.
  if (WIFEXITED(status) && WEXITSTATUS(status) == child_cannot_open) {
    r.error = "libtracecmd cannot open " + path + " as a trace.dat";
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == child_read_failed) {
    r.error = "libtracecmd failed reading the records of " + path;
  } else {
    r.error = path + ": not a readable trace.dat (libtracecmd failed: " +
              child_failure(status, usage, cpu_seconds) + "); try: trace-cmd report -i " + path +
              " > trace.txt";
  }
  return r;
}

#else

bool tracedat_supported() noexcept { return false; }

tracedat_result read_tracedat(const std::string& path, const tracedat_sink& sink,
                              std::size_t piece_bytes) {
  static_cast<void>(sink);
  static_cast<void>(piece_bytes);
  tracedat_result r;
  r.error = binary_trace_hint(trace_file_kind::trace_dat, path);
  return r;
}

#endif

}  // namespace uret_tools
