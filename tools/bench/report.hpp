// SPDX-License-Identifier: MIT
// tools/bench/report.hpp - what uret-bench prints: one table per workload (fmt), the JSON rows
// (--json) and the SVG chart (--svg). Everything here works on `row`s only, whatever produced
// them (a generated workload, an imported trace).
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "common/text_out.hpp"

namespace uret_bench {

/// One strategy run over one trace.
struct row {
  std::string workload;
  std::string strategy;
  std::uint64_t seed = 0;
  std::uint32_t cpus = 0;
  std::uint64_t events = 0;        ///< events in the trace
  std::uint64_t wrmsr = 0;         ///< WRMSRs the strategy issued
  std::uint64_t rdmsr = 0;         ///< RDMSRs the strategy issued
  std::uint64_t oracle_wrmsr = 0;  ///< fewest WRMSRs any strategy could have issued
  std::uint64_t violations = 0;    ///< invariant violations the checker found
  std::string first_violation;     ///< the first one, in words (empty without violations)
  double model_cycles = 0;         ///< wrmsr * wrmsr_cycles + rdmsr * rdmsr_cycles
  double ns_per_event = 0;         ///< wall-clock library+simulator time per event, checker off

  /// WRMSRs relative to the oracle; 1 when both are 0, infinity when only the oracle is 0.
  [[nodiscard]] double ratio() const noexcept {
    if (oracle_wrmsr == 0) return wrmsr == 0 ? 1.0 : INFINITY;
    return static_cast<double>(wrmsr) / static_cast<double>(oracle_wrmsr);
  }
  [[nodiscard]] double wrmsr_per_1000() const noexcept {
    return events == 0 ? 0.0 : 1000.0 * static_cast<double>(wrmsr) / static_cast<double>(events);
  }
  [[nodiscard]] double oracle_per_1000() const noexcept {
    return events == 0 ? 0.0
                       : 1000.0 * static_cast<double>(oracle_wrmsr) / static_cast<double>(events);
  }
};

/// A workload's heading: name, one line of description, the trace's size.
struct table_heading {
  std::string workload;
  std::string description;
  std::uint64_t events = 0;
  std::uint32_t cpus = 0;
  std::uint64_t seed = 0;
  std::uint64_t oracle_wrmsr = 0;
};

inline std::string format_ratio(double r) {
  if (std::isinf(r)) return "inf";
  return fmt::format("{:.2f}", r);
}

/// Thousands separated by commas, for the big counts.
inline std::string group_digits(std::uint64_t v) {
  const std::string digits = fmt::format("{}", v);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

/// The table of one workload; rows of other workloads are skipped.
inline std::string format_table(const table_heading& h, const std::vector<row>& rows) {
  std::string out = fmt::format("{} - {}\n  {} events on {} CPUs, seed {}; oracle: {} WRMSRs\n",
                                h.workload, h.description, group_digits(h.events), h.cpus, h.seed,
                                group_digits(h.oracle_wrmsr));
  out += fmt::format("  {:<22} {:>12} {:>8} {:>15} {:>9} {:>10} {:>9}\n", "strategy", "WRMSR",
                     "RDMSR", "model cycles", "x oracle", "violations", "ns/event");
  for (const row& r : rows) {
    if (r.workload != h.workload) continue;
    out += fmt::format("  {:<22} {:>12} {:>8} {:>15} {:>9} {:>10} {:>9.1f}{}\n", r.strategy,
                       group_digits(r.wrmsr), group_digits(r.rdmsr),
                       group_digits(static_cast<std::uint64_t>(std::llround(r.model_cycles))),
                       format_ratio(r.ratio()), group_digits(r.violations), r.ns_per_event,
                       r.violations != 0 ? "  WRONG" : "");
  }
  return out;
}

using uret_tools::json_string;

/// The rows as a JSON array, one object per line (schema in docs/benchmarks.md).
inline std::string format_json(const std::vector<row>& rows, double wrmsr_cycles,
                               double rdmsr_cycles) {
  std::string out = "[\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const row& r = rows[i];
    const double ratio = r.ratio();
    out += fmt::format(
        "  {{\"workload\": {}, \"strategy\": {}, \"seed\": {}, \"cpus\": {}, \"events\": {}, "
        "\"wrmsr\": {}, \"rdmsr\": {}, \"oracle_wrmsr\": {}, \"ratio_to_oracle\": {}, "
        "\"violations\": {}, \"wrong\": {}, \"first_violation\": {}, \"model_cycles\": {:.0f}, "
        "\"wrmsr_cycles\": {}, \"rdmsr_cycles\": {}, \"ns_per_event\": {:.2f}}}{}\n",
        json_string(r.workload), json_string(r.strategy), r.seed, r.cpus, r.events, r.wrmsr,
        r.rdmsr, r.oracle_wrmsr,
        std::isinf(ratio) ? std::string("null") : fmt::format("{:.6f}", ratio), r.violations,
        r.violations != 0 ? "true" : "false", json_string(r.first_violation), r.model_cycles,
        wrmsr_cycles, rdmsr_cycles, r.ns_per_event, i + 1 < rows.size() ? "," : "");
  }
  return out + "]\n";
}

namespace detail {

inline std::string xml_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A per-1000 figure for a label: 0, 0.47, 6.89, 342, 4,670.
inline std::string short_value(double v) {
  if (v == 0) return "0";
  if (v >= 100) return group_digits(static_cast<std::uint64_t>(std::llround(v)));
  if (v >= 10) return fmt::format("{:.1f}", v);
  return fmt::format("{:.2f}", v);
}

// Distinct colours for up to 8 strategies (Okabe-Ito, readable by colour-blind readers).
inline constexpr const char* palette[] = {"#E69F00", "#56B4E9", "#009E73", "#0072B2",
                                          "#D55E00", "#CC79A7", "#999999", "#000000"};

}  // namespace detail

/// A horizontal bar chart, log scale: for each workload (a block of bars) the WRMSRs per 1000
/// events of each strategy, the oracle as a dashed line through the block, strategies with
/// violations drawn hatched and labelled "wrong". `strategies` gives the bar order and colours.
inline std::string format_svg(const std::vector<row>& rows,
                              const std::vector<std::string>& workloads,
                              const std::vector<std::string>& strategies, std::string_view title) {
  constexpr double label_w = 170;  // workload / strategy labels
  constexpr double plot_w = 560;   // the bars
  constexpr double right_w = 200;  // value labels
  constexpr double bar_h = 11;
  constexpr double bar_gap = 2;
  constexpr double block_gap = 22;
  constexpr double top = 70;
  const double width = label_w + plot_w + right_w + 20;

  // Decades covering every non-zero value and oracle.
  double lo = INFINITY;
  double hi = 0;
  for (const row& r : rows) {
    for (const double v : {r.wrmsr_per_1000(), r.oracle_per_1000()}) {
      if (v > 0) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  }
  if (!(hi > 0)) {
    lo = 0.1;
    hi = 10;
  }
  const double d_lo = std::floor(std::log10(lo));
  const double d_hi = std::max(std::ceil(std::log10(hi)), d_lo + 1);
  const auto x_of = [&](double v) {
    if (v <= 0) return label_w;
    const double f = (std::log10(v) - d_lo) / (d_hi - d_lo);
    return label_w + std::clamp(f, 0.0, 1.0) * plot_w;
  };

  std::vector<std::string> shown;  // strategies present in the rows, in the given order
  for (const std::string& s : strategies) {
    if (std::any_of(rows.begin(), rows.end(), [&](const row& r) { return r.strategy == s; })) {
      shown.push_back(s);
    }
  }
  const double block_h = static_cast<double>(shown.size()) * (bar_h + bar_gap);
  const double legend_h = 20.0 * std::ceil(static_cast<double>(shown.size()) / 4.0) + 40;
  const double height =
      top + static_cast<double>(workloads.size()) * (block_h + block_gap) + 30 + legend_h;

  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" "
      "viewBox=\"0 0 {:.0f} {:.0f}\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" "
      "font-size=\"11\">\n",
      width, height, width, height);
  s += "<defs><pattern id=\"wrong\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
       "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff\"/>"
       "<rect width=\"3\" height=\"6\" fill=\"#C00\"/></pattern></defs>\n";
  s += fmt::format("<rect width=\"{:.0f}\" height=\"{:.0f}\" fill=\"#fff\"/>\n", width, height);
  s += fmt::format("<text x=\"4\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
                   detail::xml_escape(title));
  s += "<text x=\"4\" y=\"38\" fill=\"#333\">WRMSR per 1000 events, log scale (fewer is "
       "better). Dashed line: the oracle, the fewest WRMSRs possible. \u00d7: WRMSRs over the "
       "oracle's.</text>\n";

  // Grid: one line per decade, labelled at top and bottom.
  const double plot_bottom = top + static_cast<double>(workloads.size()) * (block_h + block_gap);
  for (double d = d_lo; d <= d_hi; d += 1) {
    const double x = label_w + (d - d_lo) / (d_hi - d_lo) * plot_w;
    const double v = std::pow(10.0, d);
    const std::string label = v >= 1 ? fmt::format("{:.0f}", v) : fmt::format("{:g}", v);
    s += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.0f}\" x2=\"{0:.1f}\" y2=\"{2:.0f}\" stroke=\"#ddd\"/>"
        "<text x=\"{0:.1f}\" y=\"{3:.0f}\" text-anchor=\"middle\" fill=\"#555\">{4}</text>"
        "<text x=\"{0:.1f}\" y=\"{5:.0f}\" text-anchor=\"middle\" fill=\"#555\">{4}</text>\n",
        x, top - 12, plot_bottom - block_gap + 6, top - 16, label, plot_bottom - block_gap + 18);
  }

  double y = top;
  for (const std::string& w : workloads) {
    s += fmt::format("<text x=\"4\" y=\"{:.1f}\" font-weight=\"bold\">{}</text>\n", y + 10,
                     detail::xml_escape(w));
    double oracle = -1;
    for (std::size_t i = 0; i < shown.size(); ++i) {
      const auto it = std::find_if(rows.begin(), rows.end(), [&](const row& r) {
        return r.workload == w && r.strategy == shown[i];
      });
      const double by = y + static_cast<double>(i) * (bar_h + bar_gap);
      s += fmt::format(
          "<text x=\"{:.0f}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"#333\">{}</text>\n",
          label_w - 6, by + bar_h - 2, detail::xml_escape(shown[i]));
      if (it == rows.end()) continue;
      oracle = it->oracle_per_1000();
      const double v = it->wrmsr_per_1000();
      const double x1 = x_of(v);
      const bool wrong = it->violations != 0;
      const std::string fill =
          wrong ? std::string("url(#wrong)") : std::string(detail::palette[i % 8]);
      s += fmt::format(
          "<rect x=\"{:.0f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.0f}\" fill=\"{}\"{}>"
          "<title>{} / {}: {} WRMSR in {} events ({:.3g} per 1000), oracle {}, {} "
          "violations</title></rect>\n",
          label_w, by, std::max(x1 - label_w, 1.0), bar_h, fill, wrong ? " stroke=\"#C00\"" : "",
          detail::xml_escape(w), detail::xml_escape(shown[i]), it->wrmsr, it->events, v,
          it->oracle_wrmsr, it->violations);
      const double ratio = it->ratio();
      std::string note;
      if (wrong) {
        note = fmt::format("  wrong ({} violations)", group_digits(it->violations));
      } else if (std::isinf(ratio)) {
        note = "  (oracle: 0)";
      } else if (it->wrmsr == it->oracle_wrmsr) {
        note = "  = oracle";
      } else {
        note =
            fmt::format("  \u00d7{}",
                        ratio >= 100 ? group_digits(static_cast<std::uint64_t>(std::llround(ratio)))
                                     : fmt::format("{:.2f}", ratio));
      }
      s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\">{}{}</text>\n", x1 + 4,
                       by + bar_h - 2, wrong ? "#C00" : "#333", detail::short_value(v), note);
    }
    if (oracle >= 0) {
      const double x = x_of(oracle);
      s += fmt::format(
          "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#000\" "
          "stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>"
          "<text x=\"{0:.1f}\" y=\"{3:.1f}\" font-size=\"9\" text-anchor=\"middle\">oracle "
          "{4}</text>\n",
          x, y - 3, y + block_h, y + block_h + 9, detail::short_value(oracle));
    }
    y += block_h + block_gap;
  }

  // Legend.
  double ly = plot_bottom + 30;
  for (std::size_t i = 0; i < shown.size(); ++i) {
    const double lx = label_w + static_cast<double>(i % 4) * 150;
    if (i != 0 && i % 4 == 0) ly += 20;
    s += fmt::format(
        "<rect x=\"{:.0f}\" y=\"{:.0f}\" width=\"12\" height=\"11\" fill=\"{}\"/>"
        "<text x=\"{:.0f}\" y=\"{:.0f}\">{}</text>\n",
        lx, ly, detail::palette[i % 8], lx + 16, ly + 10, detail::xml_escape(shown[i]));
  }
  ly += 22;
  s += fmt::format(
      "<rect x=\"{:.0f}\" y=\"{:.0f}\" width=\"12\" height=\"11\" fill=\"url(#wrong)\" "
      "stroke=\"#C00\"/><text x=\"{:.0f}\" y=\"{:.0f}\">wrong: the checker found invariant "
      "violations (hardware and cache disagree)</text>\n",
      label_w, ly, label_w + 16, ly + 10);
  s += "</svg>\n";
  return s;
}

}  // namespace uret_bench
