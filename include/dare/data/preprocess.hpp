// dare/data/preprocess.hpp — the data protocol of the DARE paper, from a raw log to a dataset.
//
// Design note. This reproduces the public reference preprocessing (taobao_v4.py,
// tmall_sort_log.py + tmall_v4.py) rule for rule:
//  - Only clicks are used (Taobao `pv`, Tmall action_type 0). Raw user, item and category
//    ids are remapped to dense ids from 1 (0 = padding) in first-seen order over the clicks.
//  - Users with fewer than `min_clicks` (210) clicks are dropped.
//  - A user's clicks are sorted by time, stably (equal times keep file order). Tmall's log is
//    not time-ordered; Taobao's is grouped by user in time order, where the sort is a no-op.
//  - For a user with clicks c_1..c_T, train targets are c_i for i = T-2-5j, j = 0..18,
//    validation c_{T-1}, test c_T; each history is the up to 200 clicks before the target.
//    A sample stores only (user, end = index of the target in 0-based positions), see
//    dataset.hpp.
//  - Each positive gets 2 negatives, drawn with probability proportional to the item's
//    click count in the whole log (all users, not only kept ones) and re-drawn while the
//    item is among the user's clicked items (all of them, not only the window). A negative
//    carries its item's category: the category of the item's first click in file order
//    (`ItemCategoryRule::first_seen`). The reference script keeps the category of the item's
//    last click instead; `last_seen` reproduces that. The two differ only for the few items
//    listed under several categories (counted in the summary).
//  - Samples are emitted user by user (first-seen order), each positive followed by its
//    negatives. Validation and test keep that order. The training split is shuffled by
//    GROUPS: a positive and its negatives (same user, same history) stay adjacent and in that
//    order, and the groups are permuted uniformly. A sample-level shuffle would be equally
//    valid statistically; keeping groups lets training embed a shared history once per group.
//  Negatives and the shuffle are driven by DataRng streams derived from `seed`, so the output
//  is a deterministic function of (input, options). The reference's Python RNG stream is not
//  reproduced; only its distribution is.
//  The output records both (DatasetData::provenance: the format, the options, the input's
//  size and XXH64) and the vocabulary: the raw id of every dense user, item and category id.
//  - With cluster_max_size γ > 0, every kept user's sequence is clustered for TWIN-V2
//    (clustering.hpp: by category, then recursive k-means on recency and training-part
//    popularity, clusters of at most γ) after the samples exist, since the training part
//    excludes the validation and test targets; the ids go to DatasetData::click_clusters.
//
// Scale. The full Taobao log (100M rows) is read twice, streaming: pass 1 builds the id maps
// and counts clicks per user and per item; pass 2 writes the kept users' clicks straight
// into their final slots (offsets from pass 1), so no per-row array of the whole log is ever
// held. Memory is ~16 bytes per kept click during the sort, 8 after it, plus 20 bytes per
// sample and the id maps (and 8 bytes per distinct id for the vocabulary). Both passes hash
// the bytes they read (XXH64, a small fraction of the parsing time): pass 1's hash is the
// input's identity in the provenance, and pass 2's must equal it, so a file rewritten between
// the passes is caught even when its rows still count the same.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdint>
#include <iomanip>
#include <limits>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dare/core/aligned.hpp"
#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/data/clustering.hpp"
#include "dare/data/dataset.hpp"
#include "dare/data/provenance.hpp"
#include "dare/data/raw_log.hpp"
#include "dare/data/sampling.hpp"

namespace dare {

/// What preprocessing read and produced.
struct PreprocessSummary {
  std::string input;
  RawFormat format = RawFormat::taobao;
  Index min_clicks = 0;
  /// Data rows (the Tmall header excluded); rows_read = rows_kept + rows_other_behavior +
  /// rows_short_date + rows_malformed.
  long long rows_read = 0;
  /// Clicks (Taobao pv / Tmall action_type 0) used.
  long long rows_kept = 0;
  long long rows_other_behavior = 0;
  /// Tmall clicks dropped because their time_stamp is not 4 characters.
  long long rows_short_date = 0;
  /// Malformed rows skipped (only with skip_malformed).
  long long rows_malformed = 0;
  std::string first_malformed;
  long long bytes_read = 0;
  /// Distinct users with at least one click, and those with at least min_clicks.
  long long users = 0;
  long long qualifying_users = 0;
  long long items = 0;
  long long categories = 0;
  /// Items whose clicks carry more than one category.
  long long multi_category_items = 0;
  /// Clicks of the qualifying users (stored in the dataset).
  long long clicks_stored = 0;
  long long train_samples = 0;
  long long val_samples = 0;
  long long test_samples = 0;
  /// Negative draws rejected because the user had clicked the item.
  long long negative_redraws = 0;
  /// TWIN-V2 clusters over all users (cluster_max_size > 0 only), and the time they took.
  long long clusters = 0;
  double cluster_seconds = 0.0;
  /// Wall time of preprocess(), and of writing the dataset file (preprocess_to_file only).
  double seconds = 0.0;
  double write_seconds = 0.0;
};

/// The dataset contents and the summary.
struct PreprocessResult {
  DatasetData data;
  PreprocessSummary summary;
};

namespace detail {

/// Raw id -> dense id (1, 2, ... in first-insertion order). Open addressing with linear
/// probing over one array of {key, value} slots (one cache miss per lookup on big maps).
class IdRemap {
 public:
  IdRemap() { rehash(1024); }

  /// The dense id of `key`, assigning the next one if it is new; `inserted` tells which.
  Id find_or_insert(std::uint64_t key, bool& inserted) {
    std::size_t i = home(key);
    while (true) {
      Slot& s = slots_[i];
      if (s.key == key) {
        inserted = false;
        return s.value;
      }
      if (s.key == kEmpty) {
        if ((size_ + 1) * 2 > slots_.size()) {
          rehash(slots_.size() * 2);
          return find_or_insert(key, inserted);
        }
        if (size_ >= static_cast<std::size_t>(std::numeric_limits<Id>::max())) {
          throw std::runtime_error("IdRemap: more than 2^31 - 1 distinct ids");
        }
        s.key = key;
        s.value = static_cast<Id>(++size_);
        inserted = true;
        return s.value;
      }
      i = (i + 1) & mask_;
    }
  }

  /// The dense id of `key`, or 0 if it was never inserted.
  Id find(std::uint64_t key) const noexcept {
    std::size_t i = home(key);
    while (true) {
      const Slot& s = slots_[i];
      if (s.key == key) return s.value;
      if (s.key == kEmpty) return 0;
      i = (i + 1) & mask_;
    }
  }

  Index size() const noexcept { return static_cast<Index>(size_); }

 private:
  static constexpr std::uint64_t kEmpty = std::numeric_limits<std::uint64_t>::max();
  struct Slot {
    std::uint64_t key;
    Id value;
  };

  std::size_t home(std::uint64_t key) const noexcept {
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ULL) >> shift_);
  }

  void rehash(std::size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{kEmpty, 0});
    mask_ = capacity - 1;
    shift_ = 64;
    for (std::size_t c = capacity; c > 1; c >>= 1) --shift_;
    for (const Slot& s : old) {
      if (s.key == kEmpty) continue;
      std::size_t i = home(s.key);
      while (slots_[i].key != kEmpty) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
  int shift_ = 64;
};

/// Preprocessing reads the log twice: a pipe or a device cannot be read again, so refuse
/// it up front with a message saying so (instead of "the file changed between the passes").
inline void require_regular_input(const std::string& input) {
  struct stat st {};
  if (::stat(input.c_str(), &st) != 0) {
    throw std::runtime_error(concat("cannot open '", input, "': ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    throw std::runtime_error(concat(input, ": not a regular file (a pipe or device?): preprocessing reads the "
                                           "log twice, so it needs a regular file; save the log to a file first"));
  }
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace detail

/// Runs the protocol on a raw log. Throws FormatError for a malformed row (unless
/// options.skip_malformed), std::invalid_argument for bad options, std::runtime_error if the
/// file cannot be read, changes between the two passes, or a user has clicked every item
/// (no negative can exist).
inline PreprocessResult preprocess(const std::string& input, RawFormat format,
                                   const PreprocessOptions& options = {}) {
  detail::check_preprocess_options(options);
  detail::require_regular_input(input);
  const auto start = std::chrono::steady_clock::now();
  RawLogOptions read_options;
  read_options.skip_malformed = options.skip_malformed;
  read_options.tmall_four_digit_dates_only = options.tmall_four_digit_dates_only;
  read_options.buffer_bytes = options.read_buffer_bytes;
  const RawLogReader reader(input, format, read_options);

  // ---- pass 1: id maps, clicks per user, click counts and category per item ----------------
  detail::IdRemap users;
  detail::IdRemap items;
  detail::IdRemap cats;
  std::vector<std::uint64_t> user_clicks;  // by dense user id - 1
  std::vector<std::uint64_t> item_freq;    // by dense item id - 1
  std::vector<Id> item_cat;                // by dense item id - 1
  std::vector<std::uint8_t> item_multi;    // by dense item id - 1
  std::vector<std::uint64_t> raw_users;    // by dense user id - 1: the vocabulary
  std::vector<std::uint64_t> raw_items{0};  // by dense item id (0: padding)
  std::vector<std::uint64_t> raw_cats{0};   // by dense category id (0: padding)
  const bool last_seen = options.negative_category == ItemCategoryRule::last_seen;
  std::uint64_t memo_raw_user = std::numeric_limits<std::uint64_t>::max();
  Id memo_user = 0;
  detail::Xxh64Stream input_hash;
  const auto hash_into = [](detail::Xxh64Stream& h) {
    return [&h](const char* bytes, std::size_t size) { h.update(bytes, size); };
  };
  const RawLogStats stats = reader.for_each_click([&](const RawClick& c) {
    bool inserted = false;
    if (c.user != memo_raw_user) {
      memo_user = users.find_or_insert(c.user, inserted);
      memo_raw_user = c.user;
      if (inserted) {
        user_clicks.push_back(0);
        raw_users.push_back(c.user);
      }
    }
    ++user_clicks[static_cast<std::size_t>(memo_user - 1)];
    const Id item = items.find_or_insert(c.item, inserted);
    if (inserted) raw_items.push_back(c.item);
    const Id cat = cats.find_or_insert(c.cat, inserted);
    if (inserted) raw_cats.push_back(c.cat);
    const auto i = static_cast<std::size_t>(item - 1);
    if (i == item_freq.size()) {
      item_freq.push_back(0);
      item_cat.push_back(cat);
      item_multi.push_back(0);
    } else if (item_cat[i] != cat) {
      item_multi[i] = 1;
      if (last_seen) item_cat[i] = cat;
    }
    ++item_freq[i];
  }, hash_into(input_hash));

  // ---- qualifying users and their click slots ----------------------------------------------
  std::vector<std::int32_t> kept_index(user_clicks.size(), -1);
  DatasetData data;
  data.max_len = options.max_len;
  data.group_size = 1 + options.negatives;
  for (std::size_t u = 0; u < user_clicks.size(); ++u) {
    if (user_clicks[u] < static_cast<std::uint64_t>(options.min_clicks)) continue;
    if (user_clicks[u] > std::numeric_limits<std::uint32_t>::max()) {
      throw std::runtime_error(detail::concat(input, ": user with dense id ", u + 1, " has ",
                                              user_clicks[u], " clicks, more than 2^32 - 1"));
    }
    kept_index[u] = static_cast<std::int32_t>(data.user_ids.size());
    data.user_ids.push_back(static_cast<Id>(u + 1));
    data.raw_user_ids.push_back(raw_users[u]);
    data.user_offsets.push_back(data.user_offsets.back() + user_clicks[u]);
  }
  const std::size_t num_kept = data.user_ids.size();
  const std::uint64_t num_stored = data.user_offsets.back();
  if (num_kept == 0) {
    // A dataset without users trains nothing: say why here rather than at training time.
    const std::uint64_t most = user_clicks.empty() ? 0 : *std::max_element(user_clicks.begin(), user_clicks.end());
    throw std::runtime_error(detail::concat(
        input, ": no user qualifies: the protocol keeps users with at least ", options.min_clicks,
        " clicks (the 210-click rule; --min-clicks)", stats.rows_read == 0 ? ", and the log has no rows"
        : stats.rows_kept == 0 ? ", and none of the log's " + std::to_string(stats.rows_read) + " rows is a click"
        : "; the most active of its " + std::to_string(user_clicks.size()) + " users has " + std::to_string(most) +
              " clicks",
        ". The dataset would be empty"));
  }

  // ---- pass 2: the kept users' clicks, straight into their slots ---------------------------
  std::vector<std::int64_t> times(num_stored);
  data.click_items.resize(num_stored);
  data.click_cats.resize(num_stored);
  std::vector<std::uint64_t> fill(data.user_offsets.begin(), data.user_offsets.end() - 1);
  auto changed = [&input]() {
    return std::runtime_error(detail::concat(input, ": the file changed between the two passes"));
  };
  memo_raw_user = std::numeric_limits<std::uint64_t>::max();
  std::int32_t memo_kept = -1;
  if (num_kept > 0) {
    detail::Xxh64Stream again_hash;
    const RawLogStats again = reader.for_each_click([&](const RawClick& c) {
      if (c.user != memo_raw_user) {
        const Id u = users.find(c.user);
        if (u == 0) throw changed();
        memo_kept = kept_index[static_cast<std::size_t>(u - 1)];
        memo_raw_user = c.user;
      }
      if (memo_kept < 0) return;
      const auto k = static_cast<std::size_t>(memo_kept);
      const std::uint64_t pos = fill[k]++;
      if (pos >= data.user_offsets[k + 1]) throw changed();
      const Id item = items.find(c.item);
      const Id cat = cats.find(c.cat);
      if (item == 0 || cat == 0) throw changed();
      times[pos] = c.time;
      data.click_items[pos] = item;
      data.click_cats[pos] = cat;
    }, hash_into(again_hash));
    if (again.rows_read != stats.rows_read || again.rows_kept != stats.rows_kept ||
        again_hash.size() != input_hash.size() || again_hash.digest() != input_hash.digest()) {
      throw changed();
    }
    for (std::size_t k = 0; k < num_kept; ++k) {
      if (fill[k] != data.user_offsets[k + 1]) throw changed();
    }
  }
  std::vector<std::uint64_t>().swap(fill);

  // ---- stable sort of each user's clicks by time -------------------------------------------
  {
    std::vector<std::uint32_t> perm;
    std::vector<Id> scratch;
    for (std::size_t k = 0; k < num_kept; ++k) {
      const std::uint64_t b = data.user_offsets[k];
      const std::uint64_t e = data.user_offsets[k + 1];
      const std::int64_t* t = times.data() + b;
      if (std::is_sorted(t, t + (e - b))) continue;
      perm.resize(e - b);
      std::iota(perm.begin(), perm.end(), 0u);
      std::stable_sort(perm.begin(), perm.end(),
                       [t](std::uint32_t x, std::uint32_t y) { return t[x] < t[y]; });
      for (std::vector<Id>* column : {&data.click_items, &data.click_cats}) {
        Id* col = column->data() + b;
        scratch.assign(col, col + (e - b));
        for (std::size_t j = 0; j < perm.size(); ++j) col[j] = scratch[perm[j]];
      }
    }
  }
  std::vector<std::int64_t>().swap(times);

  // ---- samples -----------------------------------------------------------------------------
  data.num_cats = cats.size() + 1;
  data.item_category.resize(item_cat.size() + 1);
  data.item_category[0] = 0;
  std::copy(item_cat.begin(), item_cat.end(), data.item_category.begin() + 1);
  std::vector<Id>().swap(item_cat);
  std::vector<std::uint64_t>().swap(raw_users);
  data.raw_item_ids = std::move(raw_items);
  data.raw_cat_ids = std::move(raw_cats);
  data.provenance.format = format;
  data.provenance.options = options;
  data.provenance.options.read_buffer_bytes = PreprocessOptions{}.read_buffer_bytes;  // not recorded
  data.provenance.input_bytes = input_hash.size();
  data.provenance.input_xxh64 = input_hash.digest();

  PreprocessSummary summary;
  summary.input = input;
  summary.format = format;
  summary.min_clicks = options.min_clicks;
  summary.rows_read = stats.rows_read;
  summary.rows_kept = stats.rows_kept;
  summary.rows_other_behavior = stats.rows_other_behavior;
  summary.rows_short_date = stats.rows_short_date;
  summary.rows_malformed = stats.rows_malformed;
  summary.first_malformed = stats.first_malformed;
  summary.bytes_read = stats.bytes_read;
  summary.users = users.size();
  summary.qualifying_users = static_cast<long long>(num_kept);
  summary.items = items.size();
  summary.categories = cats.size();
  summary.multi_category_items =
      std::count(item_multi.begin(), item_multi.end(), std::uint8_t{1});
  summary.clicks_stored = static_cast<long long>(num_stored);
  std::vector<std::uint8_t>().swap(item_multi);

  const auto group = static_cast<std::size_t>(data.group_size);
  detail::check_fits_in_memory(
      static_cast<double>(num_kept) * static_cast<double>(options.train_windows + 2) *
          static_cast<double>(group) * sizeof(Sample),
      detail::concat("the samples of ", num_kept, " users x (train_windows ", options.train_windows,
                     " + 2) x (1 + negatives ", options.negatives, ")"));
  data.train.reserve(num_kept * static_cast<std::size_t>(options.train_windows) * group);
  data.val.reserve(num_kept * group);
  data.test.reserve(num_kept * group);
  if (num_kept > 0) {
    const detail::AliasTable popularity(item_freq);  // outcome i is item i + 1
    detail::DataRng rng(options.seed, 1);
    std::vector<std::uint32_t> stamp(item_freq.size() + 1, 0);  // stamp[item] == k + 1: clicked by k
    long long redraws = 0;
    for (std::size_t k = 0; k < num_kept; ++k) {
      const std::uint64_t b = data.user_offsets[k];
      const auto length = static_cast<Index>(data.user_offsets[k + 1] - b);
      const Id* user_items = data.click_items.data() + b;
      const Id* user_cats = data.click_cats.data() + b;
      const auto mark = static_cast<std::uint32_t>(k + 1);
      std::uint64_t covered = 0;  // click mass of the items this user clicked
      for (Index p = 0; p < length; ++p) {
        const Id item = user_items[p];
        if (stamp[item] != mark) {
          stamp[item] = mark;
          covered += item_freq[static_cast<std::size_t>(item - 1)];
        }
      }
      if (options.negatives > 0 && covered == popularity.total()) {
        throw std::runtime_error(detail::concat(
            input, ": user with dense id ", data.user_ids[k],
            " has clicked every item of the log, so no negative can be sampled for it"));
      }
      auto emit = [&](std::vector<Sample>& split, Index pos) {
        const auto user = static_cast<std::uint32_t>(k);
        const auto end = static_cast<std::uint32_t>(pos);
        split.push_back(Sample{user, end, user_items[pos], user_cats[pos], 1});
        for (Index n = 0; n < options.negatives; ++n) {
          Id neg = static_cast<Id>(popularity.sample(rng) + 1);
          while (stamp[neg] == mark) {
            ++redraws;
            neg = static_cast<Id>(popularity.sample(rng) + 1);
          }
          split.push_back(Sample{user, end, neg, data.item_category[neg], 0});
        }
      };
      // 0-based target positions: train T-3-stride*j (the 1-based T-2-stride*j), val T-2, test T-1.
      for (Index j = 0; j < options.train_windows; ++j) emit(data.train, length - 3 - options.stride * j);
      emit(data.val, length - 2);
      emit(data.test, length - 1);
    }
    summary.negative_redraws = redraws;

    // Shuffle whole groups (Fisher-Yates over group indices, swapping groups in place).
    detail::DataRng shuffle_rng(options.seed, 2);
    const std::size_t groups = data.train.size() / group;
    for (std::size_t g = groups; g > 1; --g) {
      const std::size_t j = shuffle_rng.below(g);
      if (j != g - 1) {
        std::swap_ranges(data.train.begin() + static_cast<std::ptrdiff_t>((g - 1) * group),
                         data.train.begin() + static_cast<std::ptrdiff_t>(g * group),
                         data.train.begin() + static_cast<std::ptrdiff_t>(j * group));
      }
    }
  }
  if (options.cluster_max_size > 0) {
    const auto cluster_start = std::chrono::steady_clock::now();
    HistoryClusterOptions cluster_options;
    cluster_options.max_size = options.cluster_max_size;
    cluster_options.seed = options.seed;
    data.click_clusters = cluster_histories(data, cluster_options, &summary.clusters);
    summary.cluster_seconds = detail::seconds_since(cluster_start);
  }
  summary.train_samples = static_cast<long long>(data.train.size());
  summary.val_samples = static_cast<long long>(data.val.size());
  summary.test_samples = static_cast<long long>(data.test.size());
  summary.seconds = detail::seconds_since(start);
  return PreprocessResult{std::move(data), std::move(summary)};
}

/// preprocess() and write_dataset() to `output`; returns the summary (with write_seconds).
inline PreprocessSummary preprocess_to_file(const std::string& input, RawFormat format,
                                            const std::string& output,
                                            const PreprocessOptions& options = {}) {
  PreprocessResult result = preprocess(input, format, options);
  const auto start = std::chrono::steady_clock::now();
  write_dataset(output, result.data);
  result.summary.write_seconds = detail::seconds_since(start);
  return result.summary;
}

/// A human-readable multi-line report of a summary.
inline std::string describe(const PreprocessSummary& s) {
  std::ostringstream os;
  os << "input              " << s.input << " (" << to_string(s.format) << ", "
     << std::fixed << std::setprecision(1) << static_cast<double>(s.bytes_read) / 1e6 << " MB)\n";
  os << "rows read          " << s.rows_read << "\n";
  os << "  clicks kept      " << s.rows_kept << "\n";
  os << "  other behaviour  " << s.rows_other_behavior << "\n";
  if (s.format == RawFormat::tmall) {
    os << "  short dates      " << s.rows_short_date << " (time_stamp not 4 characters)\n";
  }
  os << "  malformed skipped " << s.rows_malformed << "\n";
  if (s.rows_malformed > 0) os << "    first: " << s.first_malformed << "\n";
  os << "users              " << s.users << " (" << s.qualifying_users << " with >= "
     << s.min_clicks << " clicks)\n";
  os << "items              " << s.items << " (" << s.multi_category_items
     << " with several categories)\n";
  os << "categories         " << s.categories << "\n";
  os << "clicks stored      " << s.clicks_stored << "\n";
  os << "samples            train " << s.train_samples << ", val " << s.val_samples << ", test "
     << s.test_samples << "\n";
  os << "negative redraws   " << s.negative_redraws << "\n";
  if (s.clusters > 0) {
    os << "clusters           " << s.clusters << " (" << std::setprecision(2)
       << static_cast<double>(s.clicks_stored) / static_cast<double>(s.clusters) << " clicks each, " << s.cluster_seconds << " s)\n";
  }
  os << std::setprecision(2) << "time               " << s.seconds << " s";
  if (s.write_seconds > 0) os << " (+ " << s.write_seconds << " s writing)";
  os << "\n";
  return os.str();
}

}  // namespace dare
