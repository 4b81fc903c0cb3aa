// dare/data/synthetic.hpp — a seeded generator of raw Taobao / Tmall logs with the structure
// real behaviour logs have.
//
// Design note. The generator exists so the whole pipeline (preprocess → train → evaluate) can
// run anywhere, at any scale, and so that retrieval over the history actually pays: the next
// click depends on WHICH past behaviours the model finds, by category, recency and identity.
//  - World (seed stream 0): category popularity is Zipf(category_zipf); categories form
//    clusters of `cluster_size` related categories; every item belongs to one category
//    (popular categories own more items) and is Zipf(item_zipf)-popular within it. Raw ids are
//    scrambled bijections of the indices, so they look like the real sparse ids.
//  - Users (stream 1 + user index, so a user's events depend on nothing else): a length
//    drawn log-normally around `mean_length` (many users above 210 clicks, some below); 2-5
//    long-term interests (categories) with random weights that drift (at a session start an
//    interest may be replaced by a related or a popular category). Clicks come in sessions
//    (geometric length, mean `session_mean`) that stay in one category, sometimes stepping to
//    a related one. A session starts either on a current interest or — with probability
//    `return_old_interest` — on a category the user last touched long ago (a click at least
//    50 positions back), so the history far back predicts the target. Within a session a
//    click re-visits a recent item (geometric recency, `revisit_recent`) or an old one
//    (`revisit_old`), else it is a fresh popularity-weighted item of the session category.
//  - Non-click rows (buy/cart/fav, Tmall action 1-3) follow a click of the same item at rate
//    `other_behavior_rate`; preprocessing drops them, as on real logs.
// Taobao output: no header, rows grouped by user in time order (Unix seconds from
// 2017-11-25; equal seconds happen). Tmall output: the header, mmdd dates from 0511 to 1111,
// empty brand_id fields, action types 0-3, and rows NOT time-ordered: each user's
// (user, day) blocks are shuffled among those of 64 users, while the order inside a day is
// kept, so a stable sort by date recovers each user's exact click order.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/data/dataset.hpp"
#include "dare/data/raw_log.hpp"
#include "dare/data/sampling.hpp"

namespace dare {

/// Every knob of the synthetic log. Defaults: ~3,000 users with ~210-450 clicks each.
struct SyntheticOptions {
  RawFormat format = RawFormat::taobao;
  std::uint64_t seed = 1;
  Index users = 3000;
  Index items = 100000;
  Index categories = 1000;
  /// Categories per cluster of related categories.
  Index cluster_size = 8;
  /// Clicks per user: mean_length * exp(length_spread * N(0,1) - length_spread^2 / 2),
  /// clamped to [min_length, max_length].
  double mean_length = 330.0;
  double length_spread = 0.3;
  Index min_length = 20;
  Index max_length = 5000;
  double category_zipf = 1.0;
  double item_zipf = 0.8;
  /// Mean clicks per session.
  double session_mean = 8.0;
  /// Probability that a session resumes a category last seen >= 50 clicks ago.
  double return_old_interest = 0.4;
  /// Per click in a session: step to a related category of the same cluster.
  double related_switch = 0.1;
  /// Per click: re-visit one of the recent clicks (geometric distance, mean 6).
  double revisit_recent = 0.12;
  /// Per click: re-visit a click from at least 20 positions back (uniform).
  double revisit_old = 0.06;
  /// Per session: replace one long-term interest.
  double interest_drift = 0.05;
  /// Non-click rows per click.
  double other_behavior_rate = 0.08;
};

/// One generated row of a user, before formatting.
struct SyntheticEvent {
  Index item;  // item index, 0 .. items - 1
  Index cat;   // category index, 0 .. categories - 1
  /// Taobao: Unix seconds. Tmall: day index from May 11 (0) to Nov 11 (184).
  std::int64_t time;
  /// 0 = click (Taobao pv); 1 = cart, 2 = buy, 3 = fav (Tmall action_type numbering).
  int action;
};

/// What write() produced.
struct SyntheticStats {
  long long users = 0;
  long long rows = 0;
  long long clicks = 0;
  long long bytes = 0;
  double seconds = 0.0;
};

namespace detail {

/// Unix seconds of 2017-11-25 00:00 (UTC+8), the first day of the Taobao log.
inline constexpr std::int64_t kTaobaoStart = 1511539200;
/// Days from May 11 to Nov 11 inclusive (the Tmall log's span).
inline constexpr int kTmallDays = 185;

/// mmdd of day `d` counted from May 11 (2015, no leap day involved).
inline int tmall_mmdd(int d) noexcept {
  static constexpr int kMonthDays[] = {31, 30, 31, 31, 30, 31, 30};  // May .. Nov
  int month = 5;
  int day = 11 + d;
  for (int m = 0; m < 7 && day > kMonthDays[m]; ++m) {
    day -= kMonthDays[m];
    ++month;
  }
  return month * 100 + day;
}

/// A bijection of [0, 2^bits) (multiplication by an odd constant, then xorshift), so
/// distinct indices get distinct, irregular-looking raw ids.
inline std::uint64_t scramble(std::uint64_t x, int bits, std::uint64_t odd) noexcept {
  const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
  x = (x * odd) & mask;
  x ^= x >> (bits / 2 + 1);
  return (x * odd) & mask;
}

inline int bits_for(Index n) noexcept {
  int bits = 4;
  while ((Index{1} << bits) < 2 * n) ++bits;
  return bits;
}

/// Appends text to a growable byte buffer (raw pointer writes: one bounds check per put).
class TextBuffer {
 public:
  void put(char c) { *room(1) = c; ++size_; }
  void put(const char* s) {
    const std::size_t n = std::strlen(s);
    std::memcpy(room(n), s, n);
    size_ += n;
  }
  template <class Int>
  void put_int(Int v) {
    char* p = room(24);
    size_ = static_cast<std::size_t>(std::to_chars(p, p + 24, v).ptr - bytes_.data());
  }
  void put_mmdd(int mmdd) {
    char* p = room(4);
    p[0] = static_cast<char>('0' + mmdd / 1000);
    p[1] = static_cast<char>('0' + mmdd / 100 % 10);
    p[2] = static_cast<char>('0' + mmdd / 10 % 10);
    p[3] = static_cast<char>('0' + mmdd % 10);
    size_ += 4;
  }
  std::size_t size() const noexcept { return size_; }
  const char* data() const noexcept { return bytes_.data(); }
  void clear() noexcept { size_ = 0; }

 private:
  /// Makes room for n more bytes and returns where they go.
  char* room(std::size_t n) {
    if (size_ + n > bytes_.size()) bytes_.resize(std::max<std::size_t>(2 * bytes_.size(), size_ + n + 4096));
    return bytes_.data() + size_;
  }
  std::vector<char> bytes_;
  std::size_t size_ = 0;
};

}  // namespace detail

/// Builds the world (categories, clusters, items) from the options and generates users on
/// demand; write() streams a whole log to disk.
class SyntheticLogGenerator {
 public:
  explicit SyntheticLogGenerator(const SyntheticOptions& options) : o_(options) {
    DARE_CHECK_ARG(o_.users >= 1, "SyntheticOptions::users must be at least 1, got ", o_.users);
    DARE_CHECK_ARG(o_.categories >= 1, "SyntheticOptions::categories must be at least 1, got ",
                   o_.categories);
    DARE_CHECK_ARG(o_.items >= o_.categories, "SyntheticOptions::items (", o_.items,
                   ") must be at least categories (", o_.categories, ")");
    DARE_CHECK_ARG(o_.items < (Index{1} << 40), "SyntheticOptions::items is too large");
    DARE_CHECK_ARG(o_.cluster_size >= 1, "SyntheticOptions::cluster_size must be at least 1");
    DARE_CHECK_ARG(o_.mean_length >= 1.0, "SyntheticOptions::mean_length must be at least 1");
    DARE_CHECK_ARG(o_.length_spread >= 0.0, "SyntheticOptions::length_spread must be >= 0");
    DARE_CHECK_ARG(o_.min_length >= 1 && o_.max_length >= o_.min_length,
                   "SyntheticOptions: need 1 <= min_length <= max_length, got ", o_.min_length,
                   " and ", o_.max_length);
    DARE_CHECK_ARG(o_.session_mean >= 1.0, "SyntheticOptions::session_mean must be at least 1");
    const double probabilities[] = {o_.return_old_interest, o_.related_switch, o_.revisit_recent,
                                    o_.revisit_old,         o_.interest_drift, o_.other_behavior_rate};
    for (const double p : probabilities) {
      DARE_CHECK_ARG(p >= 0.0 && p <= 1.0, "SyntheticOptions: probabilities must be in [0, 1], got ", p);
    }
    DARE_CHECK_ARG(o_.revisit_recent + o_.revisit_old <= 1.0,
                   "SyntheticOptions: revisit_recent + revisit_old must not exceed 1");
    build_world();
  }

  const SyntheticOptions& options() const noexcept { return o_; }

  /// Category index of an item.
  Index category_of(Index item) const { return item_cat_[static_cast<std::size_t>(item)]; }
  /// Cluster index of a category.
  Index cluster_of(Index cat) const { return cat_cluster_[static_cast<std::size_t>(cat)]; }
  /// Raw ids as written to the file.
  std::uint64_t raw_user_id(Index user) const noexcept { return static_cast<std::uint64_t>(user) + 1; }
  std::uint64_t raw_item_id(Index item) const noexcept {
    return detail::scramble(static_cast<std::uint64_t>(item), item_bits_, 0x9E3779B97F4A7C15ULL) + 1;
  }
  std::uint64_t raw_cat_id(Index cat) const noexcept {
    return detail::scramble(static_cast<std::uint64_t>(cat), cat_bits_, 0xC2B2AE3D27D4EB4FULL) + 1;
  }

  /// The rows of user `user` (0-based) in time order: clicks and other behaviours.
  void generate_user(Index user, std::vector<SyntheticEvent>& events) const {
    DARE_CHECK_ARG(user >= 0 && user < o_.users, "generate_user: user ", user, " outside [0, ",
                   o_.users, ")");
    events.clear();
    detail::DataRng rng(o_.seed, 1 + static_cast<std::uint64_t>(user));
    const double sigma = o_.length_spread;
    double drawn = o_.mean_length * std::exp(sigma * rng.normal() - 0.5 * sigma * sigma);
    const Index length = std::clamp(static_cast<Index>(std::llround(drawn)), o_.min_length, o_.max_length);

    // Long-term interests and their weights.
    const int num_interests = 2 + static_cast<int>(rng.below(4));
    std::vector<Index> interests(static_cast<std::size_t>(num_interests));
    std::vector<double> weights(interests.size());
    for (std::size_t k = 0; k < interests.size(); ++k) {
      interests[k] = popular_category(rng);
      weights[k] = rng.exponential(1.0) + 0.05;
    }

    std::vector<Index> hist_item;
    std::vector<Index> hist_cat;
    hist_item.reserve(static_cast<std::size_t>(length));
    hist_cat.reserve(static_cast<std::size_t>(length));
    const bool tmall = o_.format == RawFormat::tmall;
    const double sessions = std::max(1.0, static_cast<double>(length) / o_.session_mean);
    // Taobao spans ~9 days of seconds, Tmall 185 days.
    const double span = tmall ? detail::kTmallDays - 1.0 : 8.5 * 86400.0;
    const double session_gap = span / sessions;
    std::int64_t time = tmall ? static_cast<std::int64_t>(rng.below(8))
                              : detail::kTaobaoStart + static_cast<std::int64_t>(rng.below(43200));
    const std::int64_t time_limit = tmall ? detail::kTmallDays - 1 : detail::kTaobaoStart + 9 * 86400 - 1;

    Index pos = 0;
    while (pos < length) {
      // Session category: a category from long ago, or a (drifting) long-term interest.
      Index cat;
      if (pos > 60 && rng.bernoulli(o_.return_old_interest)) {
        // Prefer a category absent from the last 50 clicks (a few tries), so the evidence
        // for this session lies far back in the history.
        const auto recent_begin = hist_cat.end() - 50;
        for (int attempt = 0; attempt < 4; ++attempt) {
          cat = hist_cat[static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(pos - 50)))];
          if (std::find(recent_begin, hist_cat.end(), cat) == hist_cat.end()) break;
        }
      } else {
        if (rng.bernoulli(o_.interest_drift)) {
          const std::size_t k = static_cast<std::size_t>(rng.below(interests.size()));
          interests[k] = rng.bernoulli(0.5) ? related_category(interests[k], rng) : popular_category(rng);
          weights[k] = rng.exponential(1.0) + 0.05;
        }
        cat = interests[pick_weighted(weights, rng)];
      }
      const Index session_length = 1 + static_cast<Index>(rng.exponential(o_.session_mean - 1.0) + 0.5);
      for (Index s = 0; s < session_length && pos < length; ++s, ++pos) {
        Index item;
        Index item_cat;
        const double r = rng.uniform();
        if (pos > 0 && r < o_.revisit_recent) {
          const auto back = std::min<Index>(pos - 1, static_cast<Index>(rng.exponential(6.0)));
          item = hist_item[static_cast<std::size_t>(pos - 1 - back)];
          item_cat = hist_cat[static_cast<std::size_t>(pos - 1 - back)];
        } else if (pos > 20 && r < o_.revisit_recent + o_.revisit_old) {
          const auto at = static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(pos - 20)));
          item = hist_item[at];
          item_cat = hist_cat[at];
        } else {
          if (s > 0 && rng.bernoulli(o_.related_switch)) cat = related_category(cat, rng);
          item = item_in_category(cat, rng);
          item_cat = cat;
        }
        hist_item.push_back(item);
        hist_cat.push_back(item_cat);
        events.push_back(SyntheticEvent{item, item_cat, time, 0});
        if (rng.bernoulli(o_.other_behavior_rate)) {
          events.push_back(SyntheticEvent{item, item_cat, time, 1 + static_cast<int>(rng.below(3))});
        }
        // Within a session: seconds apart on Taobao (sometimes the same second), the same day on Tmall.
        if (!tmall) time = std::min(time_limit, time + static_cast<std::int64_t>(rng.exponential(40.0)));
      }
      time = std::min(time_limit, time + static_cast<std::int64_t>(rng.exponential(session_gap) + (tmall ? 0.0 : 60.0)));
    }
  }

  /// Writes the whole log to `path` (atomically: a temporary file renamed over it).
  SyntheticStats write(const std::string& path) const {
    const auto start = std::chrono::steady_clock::now();
    const std::string temp = detail::concat(path, ".tmp.", ::getpid());
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      throw std::runtime_error(detail::concat("cannot create '", temp, "': ", std::strerror(errno)));
    }
    SyntheticStats stats;
    try {
      detail::TextBuffer out;
      auto flush = [&](bool force) {
        if (force || out.size() >= (std::size_t{1} << 20)) {
          detail::write_all(fd, out.data(), out.size(), temp);
          stats.bytes += static_cast<long long>(out.size());
          out.clear();
        }
      };
      std::vector<SyntheticEvent> events;
      if (o_.format == RawFormat::taobao) {
        for (Index u = 0; u < o_.users; ++u) {
          generate_user(u, events);
          for (const SyntheticEvent& e : events) {
            put_taobao_row(out, u, e);
            stats.clicks += e.action == 0;
          }
          stats.rows += static_cast<long long>(events.size());
          flush(false);
        }
      } else {
        out.put(detail::kTmallHeader.data());
        out.put('\n');
        write_tmall_rows(out, flush, stats);
      }
      flush(true);
      if (::fsync(fd) != 0 || ::close(fd) != 0) {
        throw std::runtime_error(detail::concat("cannot finish '", temp, "': ", std::strerror(errno)));
      }
    } catch (...) {
      ::close(fd);
      ::unlink(temp.c_str());
      throw;
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      ::unlink(temp.c_str());
      throw std::runtime_error(detail::concat("cannot rename '", temp, "' to '", path, "': ", std::strerror(err)));
    }
    stats.users = o_.users;
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return stats;
  }

 private:
  void build_world() {
    detail::DataRng rng(o_.seed, 0);
    const auto C = static_cast<std::size_t>(o_.categories);
    const auto I = static_cast<std::size_t>(o_.items);
    item_bits_ = detail::bits_for(o_.items);
    cat_bits_ = detail::bits_for(o_.categories);

    // Category popularity (index 0 most popular) and clusters of a random membership.
    std::vector<std::uint64_t> cat_weight(C);
    for (std::size_t c = 0; c < C; ++c) {
      cat_weight[c] = 1 + static_cast<std::uint64_t>(1e9 / std::pow(static_cast<double>(c + 1), o_.category_zipf));
    }
    cat_popularity_ = detail::AliasTable(cat_weight);
    std::vector<Index> order(C);
    for (std::size_t c = 0; c < C; ++c) order[c] = static_cast<Index>(c);
    shuffle(order, rng);
    cat_cluster_.resize(C);
    const std::size_t clusters = (C + static_cast<std::size_t>(o_.cluster_size) - 1) / static_cast<std::size_t>(o_.cluster_size);
    cluster_begin_.assign(clusters + 1, 0);
    cluster_members_.resize(C);
    for (std::size_t k = 0; k < C; ++k) {
      const auto cl = static_cast<Index>(k / static_cast<std::size_t>(o_.cluster_size));
      cat_cluster_[static_cast<std::size_t>(order[k])] = cl;
      cluster_members_[k] = order[k];
      cluster_begin_[static_cast<std::size_t>(cl) + 1] = k + 1;
    }

    // Items: every category gets one, the rest follow category popularity.
    item_cat_.resize(I);
    std::vector<std::size_t> count(C + 1, 0);
    for (std::size_t i = 0; i < I; ++i) {
      item_cat_[i] = i < C ? static_cast<Index>(i) : cat_popularity_.sample(rng);
      ++count[static_cast<std::size_t>(item_cat_[i]) + 1];
    }
    cat_begin_.assign(C + 1, 0);
    for (std::size_t c = 0; c < C; ++c) cat_begin_[c + 1] = cat_begin_[c] + count[c + 1];
    cat_items_.resize(I);
    std::vector<std::size_t> cursor(cat_begin_.begin(), cat_begin_.end() - 1);
    for (std::size_t i = 0; i < I; ++i) cat_items_[cursor[static_cast<std::size_t>(item_cat_[i])]++] = static_cast<Index>(i);
    // Zipf popularity within each category, by rank in a shuffled order of its items.
    item_cumulative_.resize(I);
    for (std::size_t c = 0; c < C; ++c) {
      std::vector<Index> members(cat_items_.begin() + static_cast<std::ptrdiff_t>(cat_begin_[c]),
                                 cat_items_.begin() + static_cast<std::ptrdiff_t>(cat_begin_[c + 1]));
      shuffle(members, rng);
      double sum = 0.0;
      for (std::size_t r = 0; r < members.size(); ++r) {
        cat_items_[cat_begin_[c] + r] = members[r];
        sum += 1.0 / std::pow(static_cast<double>(r + 1), o_.item_zipf);
        item_cumulative_[cat_begin_[c] + r] = sum;
      }
    }
  }

  template <class T>
  static void shuffle(std::vector<T>& v, detail::DataRng& rng) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
  }

  Index popular_category(detail::DataRng& rng) const { return cat_popularity_.sample(rng); }

  Index related_category(Index cat, detail::DataRng& rng) const {
    const auto cl = static_cast<std::size_t>(cat_cluster_[static_cast<std::size_t>(cat)]);
    const std::size_t b = cluster_begin_[cl];
    const std::size_t n = cluster_begin_[cl + 1] - b;
    return cluster_members_[b + static_cast<std::size_t>(rng.below(n))];
  }

  Index item_in_category(Index cat, detail::DataRng& rng) const {
    const std::size_t b = cat_begin_[static_cast<std::size_t>(cat)];
    const std::size_t e = cat_begin_[static_cast<std::size_t>(cat) + 1];
    const double target = rng.uniform() * item_cumulative_[e - 1];
    const auto it = std::upper_bound(item_cumulative_.begin() + static_cast<std::ptrdiff_t>(b),
                                     item_cumulative_.begin() + static_cast<std::ptrdiff_t>(e - 1), target);
    return cat_items_[static_cast<std::size_t>(it - item_cumulative_.begin())];
  }

  static std::size_t pick_weighted(const std::vector<double>& w, detail::DataRng& rng) {
    double total = 0.0;
    for (const double x : w) total += x;
    double r = rng.uniform() * total;
    for (std::size_t k = 0; k + 1 < w.size(); ++k) {
      if (r < w[k]) return k;
      r -= w[k];
    }
    return w.size() - 1;
  }

  void put_taobao_row(detail::TextBuffer& out, Index user, const SyntheticEvent& e) const {
    static constexpr const char* kBehavior[4] = {"pv", "cart", "buy", "fav"};
    out.put_int(raw_user_id(user));
    out.put(',');
    out.put_int(raw_item_id(e.item));
    out.put(',');
    out.put_int(raw_cat_id(e.cat));
    out.put(',');
    out.put(kBehavior[e.action]);
    out.put(',');
    out.put_int(e.time);
    out.put('\n');
  }

  void put_tmall_row(detail::TextBuffer& out, Index user, const SyntheticEvent& e) const {
    const auto item = static_cast<std::uint64_t>(e.item);
    out.put_int(raw_user_id(user));
    out.put(',');
    out.put_int(raw_item_id(e.item));
    out.put(',');
    out.put_int(raw_cat_id(e.cat));
    out.put(',');
    out.put_int(1 + (item * 2654435761ULL >> 7) % static_cast<std::uint64_t>(std::max<Index>(1, o_.items / 20)));
    out.put(',');
    // About one item in twelve has no brand: an empty field, as in the real log.
    const std::uint64_t h = item * 0x9E3779B97F4A7C15ULL >> 40;
    if (h % 12 != 0) out.put_int(1 + h % static_cast<std::uint64_t>(std::max<Index>(1, o_.items / 50)));
    out.put(',');
    out.put_mmdd(detail::tmall_mmdd(static_cast<int>(e.time)));
    out.put(',');
    out.put_int(e.action);
    out.put('\n');
  }

  /// Tmall rows: blocks of 64 users, their (user, day) runs shuffled together.
  template <class Flush>
  void write_tmall_rows(detail::TextBuffer& out, Flush& flush, SyntheticStats& stats) const {
    constexpr Index kBlock = 64;
    struct Run {
      Index user;
      std::size_t begin;
      std::size_t end;
    };
    std::vector<std::vector<SyntheticEvent>> block(static_cast<std::size_t>(kBlock));
    std::vector<Run> runs;
    for (Index first = 0; first < o_.users; first += kBlock) {
      const Index last = std::min(o_.users, first + kBlock);
      runs.clear();
      for (Index u = first; u < last; ++u) {
        std::vector<SyntheticEvent>& events = block[static_cast<std::size_t>(u - first)];
        generate_user(u, events);
        for (std::size_t b = 0; b < events.size();) {
          std::size_t e = b + 1;
          while (e < events.size() && events[e].time == events[b].time) ++e;
          runs.push_back(Run{u, b, e});
          b = e;
        }
      }
      detail::DataRng rng(o_.seed ^ 0x5DEECE66DULL, static_cast<std::uint64_t>(first));
      shuffle(runs, rng);
      for (const Run& run : runs) {
        const std::vector<SyntheticEvent>& events = block[static_cast<std::size_t>(run.user - first)];
        for (std::size_t k = run.begin; k < run.end; ++k) {
          put_tmall_row(out, run.user, events[k]);
          stats.clicks += events[k].action == 0;
          ++stats.rows;
        }
        flush(false);
      }
    }
  }

  SyntheticOptions o_;
  int item_bits_ = 0;
  int cat_bits_ = 0;
  detail::AliasTable cat_popularity_;
  std::vector<Index> cat_cluster_;
  std::vector<std::size_t> cluster_begin_;
  std::vector<Index> cluster_members_;
  std::vector<Index> item_cat_;
  std::vector<std::size_t> cat_begin_;
  std::vector<Index> cat_items_;
  std::vector<double> item_cumulative_;
};

}  // namespace dare
