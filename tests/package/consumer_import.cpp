// SPDX-License-Identifier: MIT
// A consumer of uret::import: a host trace (argument 1) imported and its traced WRMSRs
// compared with the user-return strategy's.
#include <uret/sim/import.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) return 1;
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return 2;
  const auto imp = uret::sim::import_trace(text.str());
  if (!imp.has_ground_truth()) return 3;
  const auto gt = uret::sim::check_ground_truth(imp);
  if (!gt.comparison.exact()) return 4;
  std::printf("consumer: %zu events imported, every traced WRMSR predicted\n",
              imp.trace.events.size());
  return 0;
}
