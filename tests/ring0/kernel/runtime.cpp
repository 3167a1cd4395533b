// SPDX-License-Identifier: MIT
// tests/ring0/kernel/runtime.cpp - the whole C/C++ runtime of the test kernel.
//
// GCC and Clang may emit calls to memcpy, memmove, memset and memcmp even in freestanding code
// (aggregate copies, zero-initialisation), so a freestanding image must define them. strlen is
// here for the -O0 image only: there std::string_view's constructor from a string literal is
// not folded, and uret::to_string(errc) calls it. The run script prints which of these each of
// the kernel's objects actually references. String instructions keep the compiler from
// recognising a copy loop here and turning it into a call to the function being defined.
#include <cstddef>

extern "C" {

void* memcpy(void* dst, const void* src, std::size_t n) {
  void* d = dst;
  asm volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
  return dst;
}

void* memmove(void* dst, const void* src, std::size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  if (d <= s || d >= s + n) return memcpy(dst, src, n);
  // Overlap with dst above src: copy from the last byte down, direction flag set for the copy.
  d += n - 1;
  s += n - 1;
  asm volatile("std\n\trep movsb\n\tcld" : "+D"(d), "+S"(s), "+c"(n) : : "memory", "cc");
  return dst;
}

void* memset(void* dst, int value, std::size_t n) {
  void* d = dst;
  asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(value) : "memory");
  return dst;
}

int memcmp(const void* a, const void* b, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(a);
  const auto* q = static_cast<const unsigned char*>(b);
  for (; n != 0; --n, ++p, ++q) {
    if (*p != *q) return *p < *q ? -1 : 1;
  }
  return 0;
}

std::size_t strlen(const char* s) {
  const char* p = s;
  while (*p != '\0') ++p;
  return static_cast<std::size_t>(p - s);
}

}  // extern "C"
