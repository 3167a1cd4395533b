// SPDX-License-Identifier: MIT
// tools/common/file_io.hpp - whole-file reading and writing for uret-sim and uret-bench, and
// reading a piece at a time for the streaming import. "-" names stdin (reading) or stdout
// (writing). Errors are returned, never thrown; the tool decides how to report them.
#pragma once

#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uret_tools {

/// The whole of `path` ("-": stdin), or nullopt when it cannot be opened or read.
inline std::optional<std::string> read_file(const std::string& path) {
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (f == nullptr) return std::nullopt;
  std::string text;
  char buf[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const bool ok = std::ferror(f) == 0;
  if (f != stdin) std::fclose(f);
  if (!ok) return std::nullopt;
  return text;
}

/// Calls `piece(std::string_view)` with the bytes of `in` in order, a window at a time, until it
/// returns false or the input ends: `mapped`, a regular file of known size is mapped 8 MiB at a
/// time (nothing is copied out of the page cache, and only the window is resident); anything
/// else (a pipe, a tracefs file) is read 1 MiB at a time. False on a read error (errno says why).
template <class Piece>
bool read_pieces(std::FILE* in, bool mapped, Piece&& piece) {
  const int fd = fileno(in);
  struct stat st {};
  if (mapped && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    constexpr std::size_t window = std::size_t{8} << 20;  // a multiple of the page size
    const auto size = static_cast<std::size_t>(st.st_size);
    for (std::size_t at = 0; at < size; at += window) {
      const std::size_t n = size - at < window ? size - at : window;
      void* p = mmap(nullptr, n, PROT_READ, MAP_PRIVATE, fd, static_cast<off_t>(at));
      if (p == MAP_FAILED) return false;
      static_cast<void>(madvise(p, n, MADV_SEQUENTIAL));
      const bool more = piece(std::string_view(static_cast<const char*>(p), n));
      munmap(p, n);
      if (!more) break;
    }
    return true;
  }
  std::vector<char> buf(std::size_t{1} << 20);
  for (std::size_t n = 0; (n = std::fread(buf.data(), 1, buf.size(), in)) > 0;) {
    if (!piece(std::string_view(buf.data(), n))) break;
  }
  return std::ferror(in) == 0;
}

/// Why `path` ("-": stdout) cannot be written, or nullopt when it can: checked before the work,
/// so a bad output path fails in a second, not after the run. An existing file is left alone; a
/// new one is created and removed again.
inline std::optional<std::string> unwritable(const std::string& path) {
  if (path == "-") return std::nullopt;
  std::FILE* existing = std::fopen(path.c_str(), "rb");
  const bool existed = existing != nullptr;
  if (existing != nullptr) std::fclose(existing);
  std::FILE* f = std::fopen(path.c_str(), "ab");
  if (f == nullptr) return std::string(std::strerror(errno));
  std::fclose(f);
  if (!existed) std::remove(path.c_str());
  return std::nullopt;
}

/// Writes `text` to `path` ("-": stdout), replacing it; false when it cannot be written whole.
inline bool write_file(const std::string& path, std::string_view text) {
  const bool to_stdout = path == "-";
  std::FILE* f = to_stdout ? stdout : std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return (to_stdout ? std::fflush(f) == 0 : std::fclose(f) == 0) && ok;
}

}  // namespace uret_tools
