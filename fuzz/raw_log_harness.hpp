// fuzz/raw_log_harness.hpp — the body of the Taobao and Tmall raw-log reader harnesses.
//
// The input is the log file. It is read strictly and with skip_malformed, each with a
// 64-byte buffer (so buffer refills, over-long lines and lines across refills are hit
// constantly) and a 64 KiB one. Oracles besides the sanitizers: the row counts add up,
// strict and skipping reads agree when nothing is malformed, and the two buffer sizes give
// the same clicks and counts when every line fits the small buffer.
#pragma once

#include <string_view>
#include <vector>

#include "dare/data/raw_log.hpp"
#include "fuzz_util.hpp"

namespace dare::fuzz {

struct RawLogRun {
  bool threw = false;
  RawLogStats stats;
  std::vector<RawClick> clicks;
};

inline RawLogRun read_raw_log(const std::string& path, RawFormat format, bool skip,
                              std::size_t buffer_bytes) {
  RawLogOptions o;
  o.skip_malformed = skip;
  o.buffer_bytes = buffer_bytes;
  RawLogRun run;
  try {
    run.stats = RawLogReader(path, format, o).for_each_click([&](const RawClick& c) {
      run.clicks.push_back(c);
    });
  } catch (const std::exception&) {
    run.threw = true;
  }
  if (!run.threw) {
    const RawLogStats& s = run.stats;
    FUZZ_CHECK(s.rows_read == s.rows_kept + s.rows_other_behavior + s.rows_short_date + s.rows_malformed);
    FUZZ_CHECK(s.rows_kept == static_cast<long long>(run.clicks.size()));
    FUZZ_CHECK(skip || s.rows_malformed == 0);
  }
  return run;
}

inline bool same_clicks(const RawLogRun& a, const RawLogRun& b) {
  if (a.clicks.size() != b.clicks.size()) return false;
  for (std::size_t i = 0; i < a.clicks.size(); ++i) {
    const RawClick& x = a.clicks[i];
    const RawClick& y = b.clicks[i];
    if (x.user != y.user || x.item != y.item || x.cat != y.cat || x.time != y.time) return false;
  }
  return a.stats.rows_read == b.stats.rows_read && a.stats.rows_malformed == b.stats.rows_malformed &&
         a.stats.rows_other_behavior == b.stats.rows_other_behavior &&
         a.stats.rows_short_date == b.stats.rows_short_date;
}

inline void fuzz_raw_log(RawFormat format, const std::uint8_t* data, std::size_t size) {
  static MemFile file;
  const std::string& path = file.write(data, size);
  constexpr std::size_t kSmall = 64;
  const RawLogRun strict_small = read_raw_log(path, format, false, kSmall);
  const RawLogRun skip_small = read_raw_log(path, format, true, kSmall);
  const RawLogRun strict_big = read_raw_log(path, format, false, std::size_t{1} << 16);
  const RawLogRun skip_big = read_raw_log(path, format, true, std::size_t{1} << 16);
  // A strict read that succeeds saw no malformed row, so skipping changes nothing.
  if (!strict_small.threw) FUZZ_CHECK(!skip_small.threw && same_clicks(strict_small, skip_small));
  if (!strict_big.threw) FUZZ_CHECK(!skip_big.threw && same_clicks(strict_big, skip_big));
  // The buffer size must not matter while every line (with its newline) fits the small one.
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::size_t longest = 0;
  for (std::size_t begin = 0; begin <= size;) {
    std::size_t nl = text.find('\n', begin);
    if (nl == std::string_view::npos) nl = size;
    longest = std::max(longest, nl - begin + 1);
    begin = nl + 1;
  }
  if (longest < kSmall) {
    FUZZ_CHECK(strict_small.threw == strict_big.threw);
    if (!strict_small.threw) FUZZ_CHECK(same_clicks(strict_small, strict_big));
    FUZZ_CHECK(skip_small.threw == skip_big.threw);
    if (!skip_small.threw) FUZZ_CHECK(same_clicks(skip_small, skip_big));
  }
}

}  // namespace dare::fuzz
