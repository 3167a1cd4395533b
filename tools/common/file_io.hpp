// SPDX-License-Identifier: MIT
// tools/common/file_io.hpp - whole-file reading and writing for uret-sim and uret-bench.
// "-" names stdin (reading) or stdout (writing). Errors are returned, never thrown; the tool
// decides how to report them.
#pragma once

#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

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

/// Writes `text` to `path` ("-": stdout), replacing it; false when it cannot be written whole.
inline bool write_file(const std::string& path, std::string_view text) {
  const bool to_stdout = path == "-";
  std::FILE* f = to_stdout ? stdout : std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return (to_stdout ? std::fflush(f) == 0 : std::fclose(f) == 0) && ok;
}

}  // namespace uret_tools
