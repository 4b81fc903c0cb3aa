#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
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

TEST_CASE("what a synthetic history says about the next click depends on category, recency and identity",
          "[data][synthetic]") {
  SyntheticOptions o;
  o.users = 300;
  const SyntheticLogGenerator g(o);
  std::vector<SyntheticEvent> events;
  std::vector<std::vector<Index>> items(static_cast<std::size_t>(o.users));
  std::vector<std::vector<Index>> cats(static_cast<std::size_t>(o.users));
  std::vector<std::uint64_t> item_freq(static_cast<std::size_t>(o.items), 0);
  std::vector<std::uint64_t> cat_freq(static_cast<std::size_t>(o.categories), 0);
  for (Index u = 0; u < o.users; ++u) {
    g.generate_user(u, events);
    for (const SyntheticEvent& e : events) {
      if (e.action != 0) continue;
      REQUIRE(g.category_of(e.item) == e.cat);
      items[static_cast<std::size_t>(u)].push_back(e.item);
      cats[static_cast<std::size_t>(u)].push_back(e.cat);
      ++item_freq[static_cast<std::size_t>(e.item)];
      ++cat_freq[static_cast<std::size_t>(e.cat)];
    }
  }
  // A negative as preprocessing draws it: popularity-weighted over the log.
  const dare::detail::AliasTable popularity(item_freq);
  dare::detail::DataRng rng(1);
  long long targets = 0, revisit = 0, revisit_far = 0, cat_in_200 = 0, cat_only_far = 0, cat_in_10 = 0;
  long long negative_cat_in_200 = 0, related = 0;
  for (std::size_t u = 0; u < items.size(); ++u) {
    const auto& it = items[u];
    const auto& ca = cats[u];
    for (std::size_t p = 200; p < it.size(); ++p) {
      ++targets;
      const std::set<Index> items_200(it.begin() + static_cast<std::ptrdiff_t>(p - 200), it.begin() + static_cast<std::ptrdiff_t>(p));
      const std::set<Index> items_50(it.begin() + static_cast<std::ptrdiff_t>(p - 50), it.begin() + static_cast<std::ptrdiff_t>(p));
      const std::set<Index> cats_200(ca.begin() + static_cast<std::ptrdiff_t>(p - 200), ca.begin() + static_cast<std::ptrdiff_t>(p));
      const std::set<Index> cats_50(ca.begin() + static_cast<std::ptrdiff_t>(p - 50), ca.begin() + static_cast<std::ptrdiff_t>(p));
      const std::set<Index> cats_10(ca.begin() + static_cast<std::ptrdiff_t>(p - 10), ca.begin() + static_cast<std::ptrdiff_t>(p));
      revisit += items_200.count(it[p]);
      revisit_far += items_200.count(it[p]) && !items_50.count(it[p]);
      cat_in_200 += cats_200.count(ca[p]);
      cat_in_10 += cats_10.count(ca[p]);
      cat_only_far += cats_200.count(ca[p]) && !cats_50.count(ca[p]);
      related += ca[p] != ca[p - 1] && g.cluster_of(ca[p]) == g.cluster_of(ca[p - 1]);
      const Index negative = popularity.sample(rng);
      negative_cat_in_200 += cats_200.count(g.category_of(negative));
    }
  }
  REQUIRE(targets > 20000);
  const auto share = [&](long long n) { return static_cast<double>(n) / static_cast<double>(targets); };
  INFO("revisit " << share(revisit) << ", far revisit " << share(revisit_far) << ", category in 200 "
                  << share(cat_in_200) << ", in 10 " << share(cat_in_10) << ", only far " << share(cat_only_far)
                  << ", negative's category in 200 " << share(negative_cat_in_200) << ", related step "
                  << share(related));
  // Category: the clicked item's category is almost always in the history, a popularity
  // negative's rarely; the last few clicks hold it most of the time (sessions)...
  CHECK(share(cat_in_200) > 0.9);
  CHECK(share(negative_cat_in_200) < 0.2);
  CHECK(share(cat_in_10) > 0.7);
  // ...but often only clicks more than 50 back do (returns to old interests).
  CHECK(share(cat_only_far) > 0.04);
  // Identity: many clicks re-visit an item of the window, some from more than 50 clicks back.
  CHECK(share(revisit) > 0.3);
  CHECK(share(revisit) < 0.65);
  CHECK(share(revisit_far) > 0.03);
  // Related categories: steps within a cluster happen far more than chance (8 of 1000 categories).
  CHECK(share(related) > 0.05);

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
  CHECK(top_share(cat_freq) > 0.2);
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
  CHECK(dare::detail::tmall_mmdd(0) == 511);
  CHECK(dare::detail::tmall_mmdd(20) == 531);
  CHECK(dare::detail::tmall_mmdd(21) == 601);
  CHECK(dare::detail::tmall_mmdd(184) == 1111);
}
