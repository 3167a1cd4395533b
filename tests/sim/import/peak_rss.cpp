// SPDX-License-Identifier: MIT
// peak_rss LIMIT_KB COMMAND [ARG...]: runs COMMAND (standard input, output and error inherited),
// prints its peak resident set size ("peak RSS: N KiB", from wait4()'s rusage) on stderr, and
// exits 1 when it is over LIMIT_KB KiB, with COMMAND's own exit status when that is not 0, else 0.
// The streaming importer's memory bound (tests/sim/import/CMakeLists.txt) is checked with it.
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fputs("usage: peak_rss LIMIT_KB COMMAND [ARG...]\n", stderr);
    return 2;
  }
  const long limit = std::strtol(argv[1], nullptr, 10);
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("peak_rss: fork");
    return 2;
  }
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    std::perror(argv[2]);
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  if (wait4(pid, &status, 0, &ru) != pid) {
    std::perror("peak_rss: wait4");
    return 2;
  }
  std::fprintf(stderr, "peak RSS: %ld KiB (limit %ld KiB)\n", ru.ru_maxrss, limit);
  if (!WIFEXITED(status)) {
    std::fputs("peak_rss: the command did not exit normally\n", stderr);
    return 2;
  }
  if (WEXITSTATUS(status) != 0) return WEXITSTATUS(status);
  if (ru.ru_maxrss > limit) {
    std::fputs("peak_rss: over the limit\n", stderr);
    return 1;
  }
  return 0;
}
