#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dare/data/raw_log.hpp"
#include "dare/data/sampling.hpp"
#include "dare/data/synthetic.hpp"
#include "data/data_test_util.hpp"

using dare::Index;
using dare::RawClick;
using dare::RawFormat;
using dare::SyntheticEvent;
using dare::SyntheticLogGenerator;
using dare::SyntheticOptions;

namespace {

SyntheticOptions small_options(RawFormat format, Index users = 40) {
  SyntheticOptions o;
  o.format = format;
  o.users = users;
  o.items = 5000;
  o.categories = 200;
  return o;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  std::stringstream in(line);
  while (std::getline(in, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

}  // namespace

TEST_CASE("the synthetic log is a deterministic function of the options", "[data][synthetic]") {
  dare_test::TempDir dir;
  for (const RawFormat format : {RawFormat::taobao, RawFormat::tmall}) {
    SyntheticOptions o = small_options(format);
    SyntheticLogGenerator(o).write(dir.file("a.csv"));
    SyntheticLogGenerator(o).write(dir.file("b.csv"));
    o.seed = 2;
    SyntheticLogGenerator(o).write(dir.file("c.csv"));
    const std::string a = dare_test::read_text(dir.file("a.csv"));
    CHECK(a.size() > 10000);
    CHECK(a == dare_test::read_text(dir.file("b.csv")));
    CHECK(a != dare_test::read_text(dir.file("c.csv")));
  }
  // A user's rows depend only on the seed, the world and the user, not on how many users there are.
  SyntheticOptions few = small_options(RawFormat::taobao, 10);
  SyntheticOptions many = small_options(RawFormat::taobao, 30);
  std::vector<SyntheticEvent> x;
  std::vector<SyntheticEvent> y;
  SyntheticLogGenerator(few).generate_user(7, x);
  SyntheticLogGenerator(many).generate_user(7, y);
  REQUIRE(x.size() == y.size());
  for (std::size_t k = 0; k < x.size(); ++k) {
    CHECK((x[k].item == y[k].item && x[k].time == y[k].time && x[k].action == y[k].action));
  }
}

TEST_CASE("synthetic Taobao logs read cleanly, grouped by user in time order", "[data][synthetic]") {
  dare_test::TempDir dir;
  const SyntheticOptions o = small_options(RawFormat::taobao, 300);
  const dare::SyntheticStats stats = SyntheticLogGenerator(o).write(dir.file("UserBehavior.csv"));
  CHECK(dir.entries() == std::vector<std::string>{"UserBehavior.csv"});
  std::vector<RawClick> clicks;
  const dare::RawLogStats read =
      dare::RawLogReader(dir.file("UserBehavior.csv"), RawFormat::taobao).for_each_click([&](const RawClick& c) {
        clicks.push_back(c);
      });  // strict: a malformed row would throw
  CHECK(read.rows_read == stats.rows);
  CHECK(read.rows_kept == stats.clicks);
  CHECK(read.rows_other_behavior > stats.clicks / 20);
  CHECK(read.bytes_read == stats.bytes);
  std::map<std::uint64_t, long long> length;
  std::set<std::uint64_t> finished;
  for (std::size_t k = 0; k < clicks.size(); ++k) {
    if (k > 0 && clicks[k].user != clicks[k - 1].user) {
      REQUIRE(finished.insert(clicks[k - 1].user).second);  // each user's rows are contiguous
      REQUIRE(finished.count(clicks[k].user) == 0);
    }
    if (k > 0 && clicks[k].user == clicks[k - 1].user) REQUIRE(clicks[k].time >= clicks[k - 1].time);
    REQUIRE(clicks[k].time >= dare::detail::kTaobaoStart);
    REQUIRE(clicks[k].time < dare::detail::kTaobaoStart + 9 * 86400);
    ++length[clicks[k].user];
  }
  REQUIRE(length.size() == 300);
  long long long_users = 0;
  double total = 0;
  for (const auto& [user, n] : length) {
    long_users += n >= 210;
    total += static_cast<double>(n);
  }
  // Lengths spread around the mean of 330: most users reach the 210-click filter, some do not.
  CHECK(long_users > 240);
  CHECK(long_users < 295);
  CHECK(total / 300 > 300);
  CHECK(total / 300 < 360);
}

TEST_CASE("synthetic Tmall logs have the header, mmdd dates, empty brands, all action types and no time order",
          "[data][synthetic]") {
  dare_test::TempDir dir;
  const SyntheticOptions o = small_options(RawFormat::tmall, 80);
  const SyntheticLogGenerator generator(o);
  generator.write(dir.file("user_log_format1.csv"));
  const std::vector<std::string> lines = split_lines(dare_test::read_text(dir.file("user_log_format1.csv")));
  REQUIRE(lines.size() > 1000);
  CHECK(lines[0] == "user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type");
  long long empty_brand = 0;
  std::set<std::string> actions;
  std::map<std::string, std::string> last_date;
  long long date_decreases = 0;
  for (std::size_t k = 1; k < lines.size(); ++k) {
    const std::vector<std::string> f = split_fields(lines[k]);
    REQUIRE(f.size() == 7);
    empty_brand += f[4].empty();
    actions.insert(f[6]);
    REQUIRE(f[5].size() == 4);
    REQUIRE(f[5] >= "0511");
    REQUIRE(f[5] <= "1111");
    auto it = last_date.find(f[0]);
    if (it != last_date.end() && f[5] < it->second) ++date_decreases;
    last_date[f[0]] = f[5];
  }
  CHECK(empty_brand > static_cast<long long>(lines.size()) / 40);
  CHECK(actions == std::set<std::string>{"0", "1", "2", "3"});
  CHECK(date_decreases > 100);  // not time-ordered

  // A stable sort of each user's clicks by date recovers the generator's click order exactly.
  std::map<std::uint64_t, std::vector<RawClick>> per_user;
  dare::RawLogReader(dir.file("user_log_format1.csv"), RawFormat::tmall).for_each_click([&](const RawClick& c) {
    per_user[c.user].push_back(c);
  });
  REQUIRE(per_user.size() == 80);
  std::vector<SyntheticEvent> events;
  for (Index u = 0; u < o.users; ++u) {
    auto& clicks = per_user[generator.raw_user_id(u)];
    std::stable_sort(clicks.begin(), clicks.end(), [](const RawClick& a, const RawClick& b) { return a.time < b.time; });
    generator.generate_user(u, events);
    std::vector<std::uint64_t> expected;
    for (const SyntheticEvent& e : events) {
      if (e.action == 0) expected.push_back(generator.raw_item_id(e.item));
    }
    std::vector<std::uint64_t> got;
    for (const RawClick& c : clicks) got.push_back(c.item);
    REQUIRE(got == expected);
  }
}

TEST_CASE("synthetic clicks: categories, clusters, noise flags and skewed popularity", "[data][synthetic]") {
  SyntheticOptions o;
  o.users = 300;
  const SyntheticLogGenerator g(o);
  std::vector<SyntheticEvent> events;
  std::vector<std::uint64_t> item_freq(static_cast<std::size_t>(o.items), 0);
  std::vector<std::uint64_t> cat_freq(static_cast<std::size_t>(o.categories), 0);
  long long clicks = 0, same_cat_step = 0, related_step = 0, interest_steps = 0;
  for (Index u = 0; u < o.users; ++u) {
    g.generate_user(u, events);
    const SyntheticEvent* previous = nullptr;
    for (const SyntheticEvent& e : events) {
      REQUIRE(g.category_of(e.item) == e.cat);
      if (e.action != 0) continue;
      ++clicks;
      ++item_freq[static_cast<std::size_t>(e.item)];
      ++cat_freq[static_cast<std::size_t>(e.cat)];
      if (previous != nullptr && !previous->noise && !e.noise) {
        ++interest_steps;
        same_cat_step += e.cat == previous->cat;
        related_step += e.cat != previous->cat && g.cluster_of(e.cat) == g.cluster_of(previous->cat);
      }
      previous = &e;
    }
  }
  // Every cluster has cluster_size categories (the last one may have fewer).
  std::map<Index, int> cluster_count;
  for (Index c = 0; c < o.categories; ++c) ++cluster_count[g.cluster_of(c)];
  for (const auto& [cluster, n] : cluster_count) CHECK(n <= o.cluster_size);
  CHECK(cluster_count.size() == static_cast<std::size_t>((o.categories + o.cluster_size - 1) / o.cluster_size));
  // Between two interest clicks: mostly the same category (sessions), often a related one of
  // the cluster (8 of 1000 categories: chance would be under 1%).
  const double steps = static_cast<double>(interest_steps);
  INFO("same-category steps " << same_cat_step / steps << ", related steps " << related_step / steps);
  CHECK(same_cat_step / steps > 0.5);
  CHECK(related_step / steps > 0.08);
  CHECK(related_step / steps < 0.3);

  // Popularity is skewed (Zipf): the top 1% of items and categories take a large share.
  auto top_share = [](std::vector<std::uint64_t> f) {
    std::sort(f.rbegin(), f.rend());
    std::uint64_t top = 0;
    std::uint64_t all = 0;
    for (std::size_t k = 0; k < f.size(); ++k) {
      all += f[k];
      if (k < f.size() / 100) top += f[k];
    }
    return static_cast<double>(top) / static_cast<double>(all);
  };
  CHECK(top_share(item_freq) > 0.15);
  CHECK(top_share(cat_freq) > 0.1);
}

TEST_CASE("what a synthetic history says about the next click needs category relations, recency and identity",
          "[data][synthetic]") {
  SyntheticOptions o;
  o.users = 800;
  const SyntheticLogGenerator g(o);
  const dare::SyntheticProfile p = g.profile();
  INFO("noise " << p.noise_clicks << "/" << p.pos_noise << ", category in 200 " << p.pos_cat_200 << "/"
                << p.neg_cat_200 << ", in 20 " << p.pos_cat_20 << "/" << p.neg_cat_20 << ", only old "
                << p.pos_cat_old << "/" << p.neg_cat_old << ", related only " << p.pos_related_only << "/"
                << p.neg_related_only << ", item " << p.pos_item_200 << " old " << p.pos_item_old
                << ", recent unrelated " << p.recent_unrelated << ", lift " << p.lift[0] << " " << p.lift[1] << " "
                << p.lift[2] << " " << p.lift[3] << " " << p.lift[4] << ", AUC recent " << p.auc_recent
                << " window " << p.auc_window);
  REQUIRE(p.users > 700);
  CHECK(p.targets == 21 * p.users);
  // Noise: about a fifth of the clicks (and of the targets) are unrelated browsing.
  CHECK(p.noise_clicks > 0.13);
  CHECK(p.noise_clicks < 0.24);
  CHECK(std::abs(p.pos_noise - p.noise_clicks) < 0.03);
  // The target's category is in the window for most positives, not all (noise, new
  // interests, related categories), and for a fair share of popularity negatives.
  CHECK(p.pos_cat_200 > 0.78);
  CHECK(p.pos_cat_200 < 0.92);
  CHECK(p.neg_cat_200 > 0.08);
  CHECK(p.neg_cat_200 < 0.25);
  // Recency: the last 20 clicks hold it most of the time, but often only older clicks do
  // (re-activated interests), and the last 20 clicks are mostly unrelated to the target.
  CHECK(p.pos_cat_20 > 0.62);
  CHECK(p.pos_cat_20 < 0.82);
  CHECK(p.pos_cat_old > 0.09);
  CHECK(p.recent_unrelated > 0.45);
  // A same-category click says less the older it is, yet still much at 100-200 clicks back.
  CHECK(p.lift[0] > p.lift[1]);
  CHECK(p.lift[1] > p.lift[2]);
  CHECK(p.lift[2] > p.lift[4]);
  CHECK(p.lift[4] > 2.0);
  // Relations: when the category itself is absent, a related one is present far more often
  // for positives than for negatives.
  CHECK(p.pos_related_only / (1 - p.pos_cat_200) > 1.8 * p.neg_related_only / (1 - p.neg_cat_200));
  // Identity: a fair share of positives re-visit an item of the window, some from 21+ back.
  CHECK(p.pos_item_200 > 0.18);
  CHECK(p.pos_item_200 < 0.4);
  CHECK(p.pos_item_old > 0.06);
  // Not trivial: simple counts separate positives from negatives well, not perfectly.
  CHECK(p.auc_recent > 0.85);
  CHECK(p.auc_recent < 0.95);
  CHECK(p.auc_window > 0.85);
  CHECK(p.auc_window < 0.95);
}

TEST_CASE("the synthetic knobs move the statistics they name", "[data][synthetic]") {
  SyntheticOptions base;
  base.users = 500;
  const dare::SyntheticProfile p0 = SyntheticLogGenerator(base).profile();
  // No noise sessions and no distractions: no noise clicks, fewer unrelated recent clicks,
  // and the negatives' categories (popular ones) rarely appear in the history.
  SyntheticOptions quiet = base;
  quiet.noise_session = 0;
  quiet.distraction = 0;
  const dare::SyntheticProfile pq = SyntheticLogGenerator(quiet).profile();
  CHECK(pq.noise_clicks == 0);
  CHECK(pq.pos_noise == 0);
  CHECK(pq.recent_unrelated < p0.recent_unrelated - 0.1);
  CHECK(pq.neg_cat_200 < p0.neg_cat_200 / 2);
  CHECK(pq.auc_recent > p0.auc_recent + 0.03);
  // Interests that fade and come back often: more evidence only far back, more unrelated
  // recent clicks, and the whole window beats the last 20 clicks by more.
  SyntheticOptions slow = base;
  slow.interest_fade = 0.02;
  slow.interest_wake = 0.01;
  SyntheticOptions fast = base;
  fast.interest_fade = 0.3;
  fast.interest_wake = 0.15;
  const dare::SyntheticProfile ps = SyntheticLogGenerator(slow).profile();
  const dare::SyntheticProfile pf = SyntheticLogGenerator(fast).profile();
  CHECK(pf.pos_cat_old > ps.pos_cat_old + 0.02);
  CHECK(pf.recent_unrelated > ps.recent_unrelated + 0.08);
  CHECK(pf.auc_window - pf.auc_recent > ps.auc_window - ps.auc_recent + 0.01);
  // Revisits put the positive's own item in the window (beyond chance repeats).
  SyntheticOptions none = base;
  none.revisit_recent = 0;
  none.revisit_old = 0;
  SyntheticOptions heavy = base;
  heavy.revisit_recent = 0.2;
  heavy.revisit_old = 0.1;
  CHECK(SyntheticLogGenerator(heavy).profile().pos_item_200 >
        SyntheticLogGenerator(none).profile().pos_item_200 + 0.06);
  // Sessions that never leave the interest's home category: related-only positives and
  // far-back-only evidence mostly disappear (they come from the cluster's other categories).
  SyntheticOptions home = base;
  home.home_share = 1;
  home.related_switch = 0;
  const dare::SyntheticProfile ph = SyntheticLogGenerator(home).profile();
  CHECK(ph.pos_related_only < p0.pos_related_only - 0.02);
  CHECK(ph.pos_cat_old < p0.pos_cat_old - 0.03);
  // The profile is deterministic.
  const dare::SyntheticProfile again = SyntheticLogGenerator(base).profile();
  CHECK(again.auc_window == p0.auc_window);
  CHECK(again.lift[3] == p0.lift[3]);
}

TEST_CASE("tied_auc counts ties one half", "[data][synthetic]") {
  std::vector<std::pair<double, int>> s = {{0.1, 0}, {0.4, 1}, {0.35, 0}, {0.8, 1}};
  CHECK(dare::detail::tied_auc(s) == Approx(1.0));
  s = {{0.5, 0}, {0.5, 1}};
  CHECK(dare::detail::tied_auc(s) == Approx(0.5));
  s = {{0.1, 1}, {0.2, 0}, {0.3, 1}, {0.3, 0}};
  CHECK(dare::detail::tied_auc(s) == Approx(0.375));  // pairs: (0.1<0.2) 0, (0.1<0.3) 0, (0.3>0.2) 1, tie 0.5
  s = {{0.1, 1}};
  CHECK(dare::detail::tied_auc(s) == 0.5);
}

TEST_CASE("synthetic options are checked and mmdd dates count from May 11", "[data][synthetic]") {
  SyntheticOptions o;
  o.items = 10;
  o.categories = 20;
  CHECK_THROWS_WITH(SyntheticLogGenerator(o), Catch::Contains("items (10) must be at least categories (20)"));
  o = SyntheticOptions{};
  o.revisit_recent = 1.5;
  CHECK_THROWS_AS(SyntheticLogGenerator(o), std::invalid_argument);
  o = SyntheticOptions{};
  o.min_length = 0;
  CHECK_THROWS_AS(SyntheticLogGenerator(o), std::invalid_argument);
  o = SyntheticOptions{};
  o.min_interests = 4;
  o.max_interests = 3;
  CHECK_THROWS_WITH(SyntheticLogGenerator(o), Catch::Contains("min_interests <= max_interests"));
  o = SyntheticOptions{};
  o.noise_mean = 0.5;
  CHECK_THROWS_AS(SyntheticLogGenerator(o), std::invalid_argument);
  o = SyntheticOptions{};
  o.noise_session = -0.1;
  CHECK_THROWS_AS(SyntheticLogGenerator(o), std::invalid_argument);
  CHECK(dare::detail::tmall_mmdd(0) == 511);
  CHECK(dare::detail::tmall_mmdd(20) == 531);
  CHECK(dare::detail::tmall_mmdd(21) == 601);
  CHECK(dare::detail::tmall_mmdd(184) == 1111);
}

TEST_CASE("synthetic interest numbers: one per interest click, within one cluster; none for noise",
          "[data][synthetic]") {
  SyntheticOptions o;
  o.users = 100;
  const SyntheticLogGenerator g(o);
  std::vector<SyntheticEvent> events;
  long long interest_clicks = 0, noise_clicks = 0;
  for (Index u = 0; u < o.users; ++u) {
    g.generate_user(u, events);
    std::map<std::int32_t, Index> cluster;  // each interest's cluster, from its first click
    for (const SyntheticEvent& e : events) {
      REQUIRE((e.interest < 0) == e.noise);
      if (e.action != 0) continue;
      if (e.noise) {
        ++noise_clicks;
        continue;
      }
      ++interest_clicks;
      const auto it = cluster.emplace(e.interest, g.cluster_of(e.cat)).first;
      CHECK(it->second == g.cluster_of(e.cat));
    }
    // At least the interests drawn at the start (min_interests) are numbered, rarely many more.
    CHECK(cluster.size() >= 1);
    CHECK(cluster.size() <= static_cast<std::size_t>(o.max_interests + 20));
  }
  const double share = static_cast<double>(noise_clicks) / static_cast<double>(noise_clicks + interest_clicks);
  CHECK(share > 0.1);
  CHECK(share < 0.3);
}
