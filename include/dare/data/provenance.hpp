// dare/data/provenance.hpp — the knobs of the data protocol, and the record of where a
// dataset came from: which raw log (its size and XXH64) and which knobs.
//
// Design note. A dataset is a deterministic function of (raw log bytes, format, options)
// (preprocess.hpp), so that triple identifies it. Every dataset file stores it (the
// `provenance` section, dataset.hpp): a tool holding a raw log and a set of options can tell
// whether an existing file is exactly what preprocessing would produce now (dare_train's
// cache), and a tool given a dataset can refuse options that contradict how it was made.
// Only the options that change the output are recorded; `read_buffer_bytes` (how the log is
// read) is not, and reads back as its default. describe_difference() names the first field
// that differs, in the order of the struct, so a message says why a file is not the one
// wanted ("max_len: the cache has 200, this run asks for 100").
#pragma once

#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/data/raw_log.hpp"

namespace dare {

/// Which click of an item decides the category its negatives carry.
enum class ItemCategoryRule {
  /// The item's first click in file order (the protocol's rule).
  first_seen,
  /// The item's last click in file order (what the reference script's dict update does).
  last_seen
};

/// "first_seen" / "last_seen".
inline const char* to_string(ItemCategoryRule rule) noexcept {
  return rule == ItemCategoryRule::first_seen ? "first_seen" : "last_seen";
}

/// The most negatives per positive preprocessing accepts (each is a 20-byte sample).
inline constexpr Index kMaxNegatives = 1000;

/// Every knob of the protocol; the defaults are the paper's.
struct PreprocessOptions {
  /// Users with fewer clicks are dropped.
  Index min_clicks = 210;
  /// Training targets per user: i = T - 2 - stride * j for j = 0 .. train_windows - 1.
  Index train_windows = 19;
  Index stride = 5;
  /// History window length L.
  Index max_len = 200;
  /// Negatives per positive.
  Index negatives = 2;
  /// TWIN-V2's γ: cluster each user's history (clustering.hpp) so every cluster has at most
  /// this many behaviours, and store a cluster id per click; 0 (the default): no clustering.
  Index cluster_max_size = 0;
  /// Seeds negative sampling and the training shuffle.
  std::uint64_t seed = 2024;
  /// Skip and count malformed rows instead of failing on the first one.
  bool skip_malformed = false;
  /// Tmall: drop clicks whose time_stamp is not exactly 4 characters, as the reference does.
  bool tmall_four_digit_dates_only = true;
  ItemCategoryRule negative_category = ItemCategoryRule::first_seen;
  /// Read buffer of the raw log reader, also the longest line accepted (RawLogOptions).
  /// It does not change the output, so a dataset's provenance does not record it.
  std::size_t read_buffer_bytes = std::size_t{16} << 20;
};

/// Where a dataset came from: the raw log's format and identity, and the options that shaped
/// the output. A dataset built by hand (not by preprocess()) carries whatever its builder set;
/// the defaults describe an empty Taobao log under the paper's options.
struct DatasetProvenance {
  RawFormat format = RawFormat::taobao;
  PreprocessOptions options;
  /// Size of the raw log in bytes and the XXH64 (seed 0) of all of them.
  std::uint64_t input_bytes = 0;
  std::uint64_t input_xxh64 = 0;
};

namespace detail {

inline void check_preprocess_options(const PreprocessOptions& o) {
  constexpr Index kMaxClicks = std::numeric_limits<std::uint32_t>::max();
  DARE_CHECK_ARG(o.min_clicks >= 1 && o.min_clicks <= kMaxClicks,
                 "PreprocessOptions::min_clicks must be from 1 to 2^32 - 1, got ", o.min_clicks);
  DARE_CHECK_ARG(o.train_windows >= 0 && o.train_windows <= o.min_clicks,
                 "PreprocessOptions::train_windows must be from 0 to min_clicks = ", o.min_clicks, ", got ",
                 o.train_windows);
  DARE_CHECK_ARG(o.stride >= 1 && o.stride <= o.min_clicks,
                 "PreprocessOptions::stride must be from 1 to min_clicks = ", o.min_clicks, ", got ", o.stride);
  DARE_CHECK_ARG(o.max_len >= 1 && o.max_len <= kMaxHistoryLength,
                 "PreprocessOptions::max_len must be from 1 to ", kMaxHistoryLength, ", got ", o.max_len);
  DARE_CHECK_ARG(o.negatives >= 0 && o.negatives <= kMaxNegatives,
                 "PreprocessOptions::negatives must be from 0 to ", kMaxNegatives, ", got ", o.negatives);
  DARE_CHECK_ARG(o.cluster_max_size >= 0 && o.cluster_max_size <= kMaxClicks,
                 "PreprocessOptions::cluster_max_size must be from 0 (no clustering) to 2^32 - 1, got ",
                 o.cluster_max_size);
  // The earliest target (train window j = train_windows - 1, 0-based position
  // T - 3 - stride * j) must keep at least one history click for every kept user. Both
  // factors are below 2^32 (checked above), but their product may not fit: compare by
  // division, so the positions computed later cannot overflow either.
  const Index span = o.train_windows > 1 ? o.train_windows - 1 : 0;
  const bool fits = span == 0 ? o.min_clicks >= (o.train_windows > 0 ? 4 : 3)
                              : o.min_clicks >= 4 && o.stride <= (o.min_clicks - 4) / span;
  if (!fits) {
    const std::string needed = span > 0 && o.stride > (std::numeric_limits<Index>::max() - 4) / span
                                   ? std::string("more than 2^63")
                                   : std::to_string(4 + o.stride * span);
    detail::throw_invalid("PreprocessOptions::min_clicks = ", o.min_clicks, " is too small for train_windows = ",
                          o.train_windows, " and stride = ", o.stride,
                          ": the earliest target would have no history (need at least ", needed, ")");
  }
}

inline std::string hex64(std::uint64_t x) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016" PRIx64, x);
  return buf;
}

/// The provenance as the dataset file stores it: fixed-width fields, no padding, enums and
/// flags as explicit codes (so a change of the C++ enums cannot silently change the format).
struct ProvenanceRecord {
  std::uint32_t format;             // 0 taobao, 1 tmall
  std::uint32_t negative_category;  // 0 first_seen, 1 last_seen
  std::uint32_t skip_malformed;     // 0 or 1
  std::uint32_t tmall_four_digit_dates_only;
  std::int64_t min_clicks;
  std::int64_t train_windows;
  std::int64_t stride;
  std::int64_t max_len;
  std::int64_t negatives;
  std::int64_t cluster_max_size;  // since dataset version 3
  std::uint64_t seed;
  std::uint64_t input_bytes;
  std::uint64_t input_xxh64;
};
static_assert(std::is_trivially_copyable_v<ProvenanceRecord> && sizeof(ProvenanceRecord) == 4 * 4 + 9 * 8,
              "ProvenanceRecord is stored byte for byte and must have no padding");

inline ProvenanceRecord to_record(const DatasetProvenance& p) noexcept {
  ProvenanceRecord r{};
  r.format = p.format == RawFormat::taobao ? 0 : 1;
  r.negative_category = p.options.negative_category == ItemCategoryRule::first_seen ? 0 : 1;
  r.skip_malformed = p.options.skip_malformed ? 1 : 0;
  r.tmall_four_digit_dates_only = p.options.tmall_four_digit_dates_only ? 1 : 0;
  r.min_clicks = p.options.min_clicks;
  r.train_windows = p.options.train_windows;
  r.stride = p.options.stride;
  r.max_len = p.options.max_len;
  r.negatives = p.options.negatives;
  r.cluster_max_size = p.options.cluster_max_size;
  r.seed = p.options.seed;
  r.input_bytes = p.input_bytes;
  r.input_xxh64 = p.input_xxh64;
  return r;
}

/// Decodes a stored record; calls fail(message) (which must throw) for a code no writer
/// produces. The options' ranges are checked with the rest of the dataset (dataset.hpp).
template <class Fail>
DatasetProvenance from_record(const ProvenanceRecord& r, Fail&& fail) {
  auto flag = [&](std::uint32_t code, const char* name) {
    if (code > 1) fail(concat(name, " is stored as ", code, " (expected 0 or 1)"));
    return code == 1;
  };
  if (r.format > 1) fail(concat("format code ", r.format, " (expected 0 for taobao or 1 for tmall)"));
  if (r.negative_category > 1) {
    fail(concat("negative_category code ", r.negative_category, " (expected 0 for first_seen or 1 for last_seen)"));
  }
  DatasetProvenance p;
  p.format = r.format == 0 ? RawFormat::taobao : RawFormat::tmall;
  p.options.negative_category = r.negative_category == 0 ? ItemCategoryRule::first_seen : ItemCategoryRule::last_seen;
  p.options.skip_malformed = flag(r.skip_malformed, "skip_malformed");
  p.options.tmall_four_digit_dates_only = flag(r.tmall_four_digit_dates_only, "tmall_four_digit_dates_only");
  p.options.min_clicks = r.min_clicks;
  p.options.train_windows = r.train_windows;
  p.options.stride = r.stride;
  p.options.max_len = r.max_len;
  p.options.negatives = r.negatives;
  p.options.cluster_max_size = r.cluster_max_size;
  p.options.seed = r.seed;
  p.input_bytes = r.input_bytes;
  p.input_xxh64 = r.input_xxh64;
  return p;
}

}  // namespace detail

/// "" when `a` and `b` describe the same preprocessing of the same input, else one sentence
/// naming the first field that differs and both values:
/// "<field>: <a_has> <value of a>, <b_has> <value of b>", e.g. with a_has = "the cache has"
/// and b_has = "this run asks for": "max_len: the cache has 200, this run asks for 100".
/// Fields are compared in this order: format, min_clicks, train_windows, stride, max_len,
/// negatives, cluster_max_size, seed, negative_category, tmall_four_digit_dates_only, skip_malformed,
/// input_bytes, input_xxh64 (read_buffer_bytes is not part of a provenance).
inline std::string describe_difference(const DatasetProvenance& a, const DatasetProvenance& b,
                                       const std::string& a_has = "the first has",
                                       const std::string& b_has = "the second has") {
  auto say = [&](const char* field, const std::string& x, const std::string& y) {
    return detail::concat(field, ": ", a_has, " ", x, ", ", b_has, " ", y);
  };
  auto yes_no = [](bool v) { return std::string(v ? "true" : "false"); };
  const PreprocessOptions& x = a.options;
  const PreprocessOptions& y = b.options;
  if (a.format != b.format) return say("format", to_string(a.format), to_string(b.format));
  const struct {
    const char* field;
    Index x, y;
  } counts[] = {{"min_clicks", x.min_clicks, y.min_clicks},
                {"train_windows", x.train_windows, y.train_windows},
                {"stride", x.stride, y.stride},
                {"max_len", x.max_len, y.max_len},
                {"negatives", x.negatives, y.negatives},
                {"cluster_max_size", x.cluster_max_size, y.cluster_max_size}};
  for (const auto& c : counts) {
    if (c.x != c.y) return say(c.field, std::to_string(c.x), std::to_string(c.y));
  }
  if (x.seed != y.seed) return say("seed", std::to_string(x.seed), std::to_string(y.seed));
  if (x.negative_category != y.negative_category) {
    return say("negative_category", to_string(x.negative_category), to_string(y.negative_category));
  }
  if (x.tmall_four_digit_dates_only != y.tmall_four_digit_dates_only) {
    return say("tmall_four_digit_dates_only", yes_no(x.tmall_four_digit_dates_only),
               yes_no(y.tmall_four_digit_dates_only));
  }
  if (x.skip_malformed != y.skip_malformed) {
    return say("skip_malformed", yes_no(x.skip_malformed), yes_no(y.skip_malformed));
  }
  if (a.input_bytes != b.input_bytes) {
    return say("input_bytes", std::to_string(a.input_bytes), std::to_string(b.input_bytes));
  }
  if (a.input_xxh64 != b.input_xxh64) {
    return say("input_xxh64", detail::hex64(a.input_xxh64), detail::hex64(b.input_xxh64));
  }
  return {};
}

}  // namespace dare
