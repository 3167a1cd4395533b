// SPDX-License-Identifier: MIT
// generate_trace LINES OUT: writes a consistent KVM trace of about LINES lines (ftrace text,
// see generate_trace.hpp) to OUT, for timing `uret-sim import --stats` on a large input.
#include "generate_trace.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fputs("usage: generate_trace LINES OUT\n", stderr);
    return 2;
  }
  const auto lines = std::strtoull(argv[1], nullptr, 10);
  const std::string text = generate_kvm_trace(static_cast<std::size_t>(lines));
  std::FILE* f = std::fopen(argv[2], "wb");
  if (f == nullptr) {
    std::perror(argv[2]);
    return 1;
  }
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return (std::fclose(f) == 0 && ok) ? 0 : 1;
}
