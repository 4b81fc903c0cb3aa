// examples/tool_checks.hpp — option checks shared by dare_gen, dare_prep and dare_train.
//
// CLI11's own range validators print machine text ("Value 0 not in range 0.000000 to
// 1797693..."); these say the accepted range in words, so a user reads
// "--epochs: must be a whole number from 1 to 1000, got '0'".
#pragma once

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

namespace dare_tools {

/// A whole number from `lo` to `hi` (both included).
inline CLI::Validator whole_number(long long lo, long long hi) {
  const std::string range = "a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
  return CLI::Validator(
      [lo, hi, range](std::string& text) -> std::string {
        long long v = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, v);
        if (text.empty() || ec != std::errc() || ptr != end || v < lo || v > hi) {
          return "must be " + range + ", got '" + text + "'";
        }
        return {};
      },
      "INT from " + std::to_string(lo) + " to " + std::to_string(hi));
}

/// A whole number from `lo` to `hi` for an unsigned 64-bit option (a seed): CLI11 alone would
/// read "-1" as 2^64 - 1.
inline CLI::Validator unsigned_whole_number(std::uint64_t lo, std::uint64_t hi) {
  const std::string range = "a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
  return CLI::Validator(
      [lo, hi, range](std::string& text) -> std::string {
        std::uint64_t v = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, v);
        if (text.empty() || ec != std::errc() || ptr != end || v < lo || v > hi) {
          return "must be " + range + ", got '" + text + "'";
        }
        return {};
      },
      "UINT from " + std::to_string(lo) + " to " + std::to_string(hi));
}

/// A finite number in [lo, hi], or in (lo, hi] when `above_lo` (lo itself excluded).
inline CLI::Validator number(double lo, double hi, bool above_lo = false) {
  const auto text_of = [](double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", x);
    return std::string(buf);
  };
  const std::string range = std::string(above_lo ? "a number greater than " : "a number from ") + text_of(lo) +
                            (above_lo ? " and at most " : " to ") + text_of(hi);
  return CLI::Validator(
      [lo, hi, above_lo, range](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const double v = std::strtod(text.c_str(), &end);
        const bool parsed = !text.empty() && end == text.c_str() + text.size() && errno == 0;
        if (!parsed || !(v <= hi) || (above_lo ? !(v > lo) : !(v >= lo))) {
          return "must be " + range + ", got '" + text + "'";
        }
        return {};
      },
      "NUMBER " + std::string(above_lo ? "in (" : "in [") + text_of(lo) + ", " + text_of(hi) + "]");
}

}  // namespace dare_tools
