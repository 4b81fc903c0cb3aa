#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "dare/data/preprocess.hpp"
#include "dare/data/sampling.hpp"
#include "data/data_test_util.hpp"

using dare::DatasetData;
using dare::Id;
using dare::Index;
using dare::PreprocessOptions;
using dare::PreprocessResult;
using dare::RawFormat;
using dare::Sample;

namespace {

struct Row {
  long long user;
  long long item;
  long long cat;
  const char* behavior;
  long long ts;
};

std::string taobao_text(const std::vector<Row>& rows) {
  std::string text;
  for (const Row& r : rows) {
    text += std::to_string(r.user) + "," + std::to_string(r.item) + "," + std::to_string(r.cat) + "," +
            r.behavior + "," + std::to_string(r.ts) + "\n";
  }
  return text;
}

PreprocessResult run(const dare_test::TempDir& dir, const std::vector<Row>& rows,
                     const PreprocessOptions& options = {}) {
  const std::string path = dir.file("UserBehavior.csv");
  dare_test::write_text(path, taobao_text(rows));
  return dare::preprocess(path, RawFormat::taobao, options);
}

/// Options for tiny logs: one training window, so a user needs only 4 clicks.
PreprocessOptions tiny_options() {
  PreprocessOptions o;
  o.min_clicks = 4;
  o.train_windows = 1;
  o.stride = 1;
  return o;
}

std::vector<Id> user_items(const DatasetData& d, std::size_t k) {
  return {d.click_items.begin() + static_cast<std::ptrdiff_t>(d.user_offsets[k]),
          d.click_items.begin() + static_cast<std::ptrdiff_t>(d.user_offsets[k + 1])};
}

/// Checks the group layout of a split: a positive, then `negatives` negatives with the same
/// user and history end.
void check_groups(const std::vector<Sample>& split, Index group) {
  REQUIRE(split.size() % static_cast<std::size_t>(group) == 0);
  for (std::size_t g = 0; g < split.size(); g += static_cast<std::size_t>(group)) {
    REQUIRE(split[g].label == 1);
    for (std::size_t k = 1; k < static_cast<std::size_t>(group); ++k) {
      REQUIRE(split[g + k].label == 0);
      REQUIRE(split[g + k].user == split[g].user);
      REQUIRE(split[g + k].end == split[g].end);
    }
  }
}

}  // namespace

TEST_CASE("raw ids become dense ids from 1 in first-seen order over the clicks", "[data][preprocess]") {
  dare_test::TempDir dir;
  const PreprocessResult r = run(dir, {
                                          {500, 90, 7, "pv", 10},
                                          {500, 30, 8, "buy", 11},  // not a click: assigns no id
                                          {500, 30, 8, "pv", 12},
                                          {42, 1000, 7, "pv", 5},
                                          {500, 90, 7, "pv", 13},
                                          {500, 55, 9, "pv", 14},
                                          {42, 30, 8, "pv", 6},
                                          {42, 77, 8, "pv", 7},
                                          {3, 12345, 99, "fav", 1},  // user, item, cat never clicked
                                      },
                                 tiny_options());
  const DatasetData& d = r.data;
  CHECK(r.summary.users == 2);
  CHECK(r.summary.qualifying_users == 1);
  CHECK(r.summary.items == 5);
  CHECK(r.summary.categories == 3);
  CHECK(r.summary.rows_read == 9);
  CHECK(r.summary.rows_kept == 7);
  CHECK(r.summary.rows_other_behavior == 2);
  // items: 90 -> 1, 30 -> 2, 1000 -> 3, 55 -> 4, 77 -> 5; cats: 7 -> 1, 8 -> 2, 9 -> 3.
  CHECK(d.user_ids == std::vector<Id>{1});
  CHECK(d.click_items == std::vector<Id>{1, 2, 1, 4});
  CHECK(d.click_cats == std::vector<Id>{1, 2, 1, 3});
  CHECK(d.item_category == std::vector<Id>{0, 1, 2, 1, 3, 2});
  CHECK(d.num_items() == 6);
  CHECK(d.num_cats == 4);
  // T = 4: train target at 0-based 1, validation at 2, test at 3.
  REQUIRE(d.train.size() == 3);
  CHECK(d.train[0] == Sample{0, 1, 2, 2, 1});
  CHECK(d.val[0] == Sample{0, 2, 1, 1, 1});
  CHECK(d.test[0] == Sample{0, 3, 4, 3, 1});
  // The only items user 500 never clicked are 1000 (id 3, cat 1) and 77 (id 5, cat 2).
  for (const auto* split : {&d.train, &d.val, &d.test}) {
    for (std::size_t k = 1; k < 3; ++k) {
      const Sample& neg = (*split)[k];
      CHECK(((neg.item == 3 && neg.cat == 1) || (neg.item == 5 && neg.cat == 2)));
    }
  }
}

TEST_CASE("users with 209 clicks are dropped, users with 210 are kept", "[data][preprocess]") {
  std::vector<Row> rows;
  for (int k = 0; k < 209; ++k) rows.push_back({11, 1000 + k, 1, "pv", k});
  for (int k = 0; k < 210; ++k) rows.push_back({22, 5000 + k, 2, "pv", k});
  rows.push_back({22, 77, 3, "buy", 1000});  // the 211th row is not a click
  dare_test::TempDir dir;
  const PreprocessResult r = run(dir, rows);
  CHECK(r.summary.users == 2);
  CHECK(r.summary.qualifying_users == 1);
  CHECK(r.data.user_ids == std::vector<Id>{2});
  CHECK(r.data.click_items.size() == 210);
  CHECK(r.data.train.size() == 19 * 3);
  CHECK(r.data.val.size() == 3);
  CHECK(r.data.test.size() == 3);
}

TEST_CASE("train windows, validation and test targets sit where the protocol puts them", "[data][preprocess]") {
  // User 1 clicks items 1000..1299 (dense ids 1..300) in time order; user 2 supplies the
  // only items user 1 never clicked.
  std::vector<Row> rows;
  const int T = 300;
  for (int k = 0; k < T; ++k) rows.push_back({1, 1000 + k, 1 + k % 3, "pv", 100 + k});
  for (int k = 0; k < 10; ++k) rows.push_back({2, 9000 + k, 7, "pv", k});
  dare_test::TempDir dir;
  const PreprocessResult r = run(dir, rows);
  const DatasetData& d = r.data;
  REQUIRE(d.num_users() == 1);
  check_groups(d.train, 3);
  check_groups(d.val, 3);
  check_groups(d.test, 3);
  // 1-based i = T - 2 - 5j is 0-based end = T - 3 - 5j: 297, 292, ..., 207.
  std::set<std::uint32_t> ends;
  for (std::size_t g = 0; g < d.train.size(); g += 3) {
    const Sample& pos = d.train[g];
    ends.insert(pos.end);
    CHECK(pos.item == static_cast<Id>(pos.end) + 1);       // the click at position `end`
    CHECK(pos.cat == static_cast<Id>(1 + pos.end % 3));
  }
  std::set<std::uint32_t> expected;
  for (int j = 0; j < 19; ++j) expected.insert(static_cast<std::uint32_t>(T - 3 - 5 * j));
  CHECK(ends == expected);
  CHECK(*ends.begin() == 207);
  // Validation predicts c_{T-1} from the clicks before it, test predicts c_T.
  CHECK(d.val[0] == Sample{0, 298, 299, static_cast<Id>(1 + 298 % 3), 1});
  CHECK(d.test[0] == Sample{0, 299, 300, static_cast<Id>(1 + 299 % 3), 1});
  // Negatives come from user 2's items only (dense ids 301..310, category 4).
  for (const auto* split : {&d.train, &d.val, &d.test}) {
    for (const Sample& s : *split) {
      if (s.label == 0) {
        CHECK(s.item > 300);
        CHECK(s.item <= 310);
        CHECK(s.cat == 4);
      }
    }
  }
}

TEST_CASE("negatives are never among the user's clicks and carry their item's first category",
          "[data][preprocess]") {
  // A random log with repeated items and items listed under several categories.
  dare::detail::DataRng rng(5);
  std::vector<Row> rows;
  long long ts = 0;
  for (int u = 0; u < 60; ++u) {
    const int length = 2 + static_cast<int>(rng.below(12));
    for (int k = 0; k < length; ++k) {
      const long long item = 1 + static_cast<long long>(rng.below(8) * rng.below(8));
      const long long cat = rng.bernoulli(0.1) ? 100 + item % 2 : 10 + item % 5;
      rows.push_back({700 + u, item, cat, rng.bernoulli(0.1) ? "cart" : "pv", ts++});
    }
  }
  // The slow way: dense ids and first categories straight from the rows.
  std::map<long long, Id> item_id;
  std::map<long long, Id> cat_id;
  std::map<Id, Id> first_cat;
  std::map<Id, Id> last_cat;
  std::map<Id, std::set<Id>> all_cats;
  for (const Row& row : rows) {
    if (std::string(row.behavior) != "pv") continue;
    if (!item_id.count(row.item)) item_id.emplace(row.item, static_cast<Id>(item_id.size() + 1));
    if (!cat_id.count(row.cat)) cat_id.emplace(row.cat, static_cast<Id>(cat_id.size() + 1));
    first_cat.emplace(item_id[row.item], cat_id[row.cat]);
    last_cat[item_id[row.item]] = cat_id[row.cat];
    all_cats[item_id[row.item]].insert(cat_id[row.cat]);
  }
  long long multi = 0;
  long long first_differs_from_last = 0;
  for (const auto& [item, cats] : all_cats) {
    multi += cats.size() > 1;
    first_differs_from_last += first_cat[item] != last_cat[item];
  }
  REQUIRE(first_differs_from_last > 0);

  for (const auto rule : {dare::ItemCategoryRule::first_seen, dare::ItemCategoryRule::last_seen}) {
    PreprocessOptions options = tiny_options();
    options.negative_category = rule;
    dare_test::TempDir dir;
    const PreprocessResult r = run(dir, rows, options);
    const DatasetData& d = r.data;
    REQUIRE(d.num_users() > 10);
    CHECK(r.summary.multi_category_items == multi);
    const auto& expected_cat = rule == dare::ItemCategoryRule::first_seen ? first_cat : last_cat;
    long long negatives = 0;
    for (const auto* split : {&d.train, &d.val, &d.test}) {
      check_groups(*split, 3);
      for (const Sample& s : *split) {
        const std::vector<Id> clicked = user_items(d, s.user);
        if (s.label == 1) {
          CHECK(s.item == clicked[s.end]);
          CHECK(s.cat == d.click_cats[d.user_offsets[s.user] + s.end]);
          continue;
        }
        ++negatives;
        CHECK(std::find(clicked.begin(), clicked.end(), s.item) == clicked.end());
        CHECK(s.cat == expected_cat.at(s.item));
        CHECK(s.cat == d.item_category[static_cast<std::size_t>(s.item)]);
      }
    }
    CHECK(negatives == 2 * 3 * d.num_users());
  }
}

TEST_CASE("negatives follow the items' click frequencies over the whole log", "[data][preprocess]") {
  // 3000 qualifying users click the same four items Q1..Q4 (4 clicks each); background users
  // with at most 3 clicks click A_k (k = 1..30) c_k = 3000 / k times. Negatives may be any
  // A_k, never a Q: P(A_k) = c_k / sum(c).
  std::vector<Row> rows;
  for (int u = 1; u <= 3000; ++u) {
    for (int q = 0; q < 4; ++q) rows.push_back({u, 1 + q, 1, "pv", q});
  }
  std::vector<long long> c(31, 0);
  long long total_c = 0;
  long long background = 0;
  for (int k = 1; k <= 30; ++k) {
    c[k] = 3000 / k;
    total_c += c[k];
    for (long long n = 0; n < c[k]; ++n, ++background) {
      rows.push_back({100000 + background / 3, 100 + k, 2 + k % 4, "pv", n});
    }
  }
  dare_test::TempDir dir;
  const PreprocessResult r = run(dir, rows, tiny_options());
  REQUIRE(r.summary.qualifying_users == 3000);
  // Dense ids: Q1..Q4 are 1..4, A_k is 4 + k.
  std::vector<long long> observed(31, 0);
  long long draws = 0;
  for (const auto* split : {&r.data.train, &r.data.val, &r.data.test}) {
    for (const Sample& s : *split) {
      if (s.label != 0) continue;
      ++draws;
      REQUIRE(s.item > 4);
      REQUIRE(s.item <= 34);
      ++observed[static_cast<std::size_t>(s.item - 4)];
    }
  }
  REQUIRE(draws == 3000 * 3 * 2);
  double chi2 = 0.0;
  for (int k = 1; k <= 30; ++k) {
    const double expected = static_cast<double>(draws) * static_cast<double>(c[k]) / static_cast<double>(total_c);
    chi2 += (static_cast<double>(observed[k]) - expected) * (static_cast<double>(observed[k]) - expected) / expected;
    if (k <= 3) {
      INFO("item A_" << k << ": observed " << observed[k] << ", expected " << expected);
      CHECK(std::abs(static_cast<double>(observed[k]) - expected) / expected < 0.08);
    }
  }
  // df = 29: P(chi2 > 58.30) = 0.001.
  CHECK(chi2 < 58.30);
  // Q items hold half the click mass: about one draw in two is rejected and redrawn.
  CHECK(r.summary.negative_redraws > draws / 2);
  CHECK(r.summary.negative_redraws < draws * 2);
}

TEST_CASE("training groups are shuffled whole; validation and test stay in user order", "[data][preprocess]") {
  std::vector<Row> rows;
  dare::detail::DataRng rng(9);
  for (int u = 0; u < 50; ++u) {
    for (int k = 0; k < 220 + u; ++k) rows.push_back({u + 1, 1 + static_cast<long long>(rng.below(3000)), 1, "pv", k});
  }
  dare_test::TempDir dir;
  const PreprocessResult r = run(dir, rows);
  const DatasetData& d = r.data;
  REQUIRE(d.num_users() == 50);
  check_groups(d.train, 3);
  // The groups are exactly the protocol's (user, end) pairs...
  std::multiset<std::pair<std::uint32_t, std::uint32_t>> groups;
  for (std::size_t g = 0; g < d.train.size(); g += 3) groups.emplace(d.train[g].user, d.train[g].end);
  std::multiset<std::pair<std::uint32_t, std::uint32_t>> expected;
  for (std::uint32_t u = 0; u < 50; ++u) {
    const auto T = static_cast<std::uint32_t>(d.user_offsets[u + 1] - d.user_offsets[u]);
    for (std::uint32_t j = 0; j < 19; ++j) expected.emplace(u, T - 3 - 5 * j);
  }
  CHECK(groups == expected);
  // ...in shuffled order: consecutive groups rarely belong to the same user.
  long long same_user = 0;
  for (std::size_t g = 3; g < d.train.size(); g += 3) same_user += d.train[g].user == d.train[g - 3].user;
  CHECK(same_user < 60);  // 949 neighbour pairs, ~19 expected by chance
  // Validation and test: one group per user, in user order.
  for (std::uint32_t u = 0; u < 50; ++u) {
    CHECK(d.val[3 * u].user == u);
    CHECK(d.test[3 * u].user == u);
  }
}

TEST_CASE("preprocessing is deterministic for a seed; another seed changes only negatives and order",
          "[data][preprocess]") {
  std::vector<Row> rows;
  dare::detail::DataRng rng(21);
  for (int u = 0; u < 12; ++u) {
    for (int k = 0; k < 215; ++k) rows.push_back({u, static_cast<long long>(rng.below(900)), u % 3, "pv", k});
  }
  dare_test::TempDir dir;
  PreprocessOptions options;
  options.seed = 77;
  const PreprocessResult a = run(dir, rows, options);
  const PreprocessResult b = run(dir, rows, options);
  CHECK(a.data.train == b.data.train);
  CHECK(a.data.val == b.data.val);
  CHECK(a.data.test == b.data.test);
  CHECK(a.data.click_items == b.data.click_items);
  options.seed = 78;
  const PreprocessResult c = run(dir, rows, options);
  CHECK(c.data.train != a.data.train);
  CHECK(c.data.click_items == a.data.click_items);
  auto positives = [](const std::vector<Sample>& split) {
    std::vector<Sample> p;
    for (const Sample& s : split) {
      if (s.label == 1) p.push_back(s);
    }
    std::sort(p.begin(), p.end(), [](const Sample& x, const Sample& y) {
      return std::tie(x.user, x.end) < std::tie(y.user, y.end);
    });
    return p;
  };
  CHECK(positives(c.data.train) == positives(a.data.train));
  CHECK(positives(c.data.val) == positives(a.data.val));
  long long differing = 0;
  for (std::size_t k = 0; k < a.data.val.size(); ++k) differing += a.data.val[k] != c.data.val[k];
  CHECK(differing > 0);
}

TEST_CASE("Tmall clicks are sorted by mmdd date, stably, with non-clicks dropped", "[data][preprocess]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("user_log_format1.csv");
  dare_test::write_text(path,
                        "user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type\n"
                        "5,101,1,9,,0602,0\n"    // A
                        "6,900,3,9,4,0501,0\n"   // user 6 (the negative pool)
                        "5,102,1,9,4,0601,0\n"   // B
                        "5,555,2,9,4,0101,2\n"   // a purchase: dropped
                        "5,103,2,,,0602,0\n"     // C
                        "5,104,2,9,4,0601,0\r\n" // D
                        "6,901,3,9,4,0502,1\n"
                        "5,105,1,9,,0603,0\n");  // E
  const PreprocessResult r = dare::preprocess(path, RawFormat::tmall, tiny_options());
  CHECK(r.summary.rows_read == 8);
  CHECK(r.summary.rows_kept == 6);
  CHECK(r.summary.rows_other_behavior == 2);
  REQUIRE(r.data.num_users() == 1);
  // Dense ids in file order: A=1, 900=2, B=3, C=4, D=5, E=6. Sorted: B, D (0601), A, C (0602), E.
  CHECK(r.data.click_items == std::vector<Id>{3, 5, 1, 4, 6});
  CHECK(r.data.click_cats == std::vector<Id>{1, 3, 1, 3, 1});
  CHECK(r.data.test[0].item == 6);
  CHECK(r.data.test[1].item == 2);  // the only item user 5 never clicked
}

TEST_CASE("malformed rows stop preprocessing unless skipped, then they are counted", "[data][preprocess]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("log.csv");
  std::string text;
  for (int k = 0; k < 6; ++k) text += "1," + std::to_string(10 + k) + ",3,pv," + std::to_string(k) + "\n";
  text += "1,99,3,pv\n";  // line 7
  text += "2,50,3,pv,1\n";
  dare_test::write_text(path, text);
  CHECK_THROWS_WITH(dare::preprocess(path, RawFormat::taobao, tiny_options()),
                    Catch::Contains(path + ":7: field 'timestamp'"));
  PreprocessOptions options = tiny_options();
  options.skip_malformed = true;
  const PreprocessResult r = dare::preprocess(path, RawFormat::taobao, options);
  CHECK(r.summary.rows_malformed == 1);
  CHECK(r.summary.rows_kept == 7);
  CHECK(r.summary.items == 7);
  CHECK_THAT(dare::describe(r.summary), Catch::Contains("malformed skipped 1"));
}

TEST_CASE("bad options and impossible negatives are reported", "[data][preprocess]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("log.csv");
  dare_test::write_text(path, "1,10,3,pv,1\n1,11,3,pv,2\n1,12,3,pv,3\n1,13,3,pv,4\n");
  PreprocessOptions options;
  options.min_clicks = 93;  // 19 windows of stride 5 need 94
  CHECK_THROWS_WITH(dare::preprocess(path, RawFormat::taobao, options),
                    Catch::Contains("min_clicks = 93") && Catch::Contains("need at least 94"));
  options = PreprocessOptions{};
  options.max_len = 0;
  CHECK_THROWS_AS(dare::preprocess(path, RawFormat::taobao, options), std::invalid_argument);
  // The only user clicked every item: no negative exists.
  CHECK_THROWS_WITH(dare::preprocess(path, RawFormat::taobao, tiny_options()),
                    Catch::Contains("clicked every item"));
  options = tiny_options();
  options.negatives = 0;
  const PreprocessResult r = dare::preprocess(path, RawFormat::taobao, options);
  CHECK(r.data.group_size == 1);
  CHECK(r.data.train.size() == 1);
}

TEST_CASE("windows and strides whose positions would overflow are refused with the field named",
          "[data][preprocess]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("log.csv");
  dare_test::write_text(path, "1,10,3,pv,1\n");
  PreprocessOptions options;
  options.stride = Index{1} << 62;
  options.train_windows = 3;
  CHECK_THROWS_WITH(dare::preprocess(path, RawFormat::taobao, options), Catch::Contains("stride must be from 1"));
  options.min_clicks = Index{1} << 32;
  CHECK_THROWS_WITH(dare::preprocess(path, RawFormat::taobao, options), Catch::Contains("min_clicks must be from 1"));
  // Both factors in range, their product beyond 64 bits: still a clean error.
  options.min_clicks = 4294967295;
  options.stride = 4294967295;
  options.train_windows = 4294967295;
  CHECK_THROWS_WITH(dare::preprocess(path, RawFormat::taobao, options),
                    Catch::Contains("too small") && Catch::Contains("more than 2^63"));
  options = PreprocessOptions{};
  options.negatives = 100000;
  CHECK_THROWS_WITH(dare::preprocess(path, RawFormat::taobao, options), Catch::Contains("negatives must be from 0 to 1000"));
}

TEST_CASE("a log without a qualifying user, an empty log and a pipe are errors that say why",
          "[data][preprocess]") {
  dare_test::TempDir dir;
  const std::string empty = dir.file("empty.csv");
  const std::string few = dir.file("few.csv");
  dare_test::write_text(empty, "");
  dare_test::write_text(few, "1,10,3,pv,1\n1,11,3,pv,2\n2,10,3,buy,3\n");
  CHECK_THROWS_WITH(dare::preprocess(empty, RawFormat::taobao), Catch::Contains("no user qualifies") &&
                                                                    Catch::Contains("the log has no rows"));
  CHECK_THROWS_WITH(dare::preprocess(few, RawFormat::taobao),
                    Catch::Contains("210-click rule") && Catch::Contains("has 2 clicks"));
  CHECK_THROWS_WITH(dare::preprocess_to_file(few, RawFormat::taobao, dir.file("out.dare")),
                    Catch::Contains("no user qualifies"));
  CHECK_FALSE(std::ifstream(dir.file("out.dare")).good());
  const std::string fifo = dir.file("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(dare::preprocess(fifo, RawFormat::taobao), Catch::Contains("needs a regular file"));
}

TEST_CASE("the real Taobao head runs through the protocol with independently computed counts",
          "[data][preprocess][taobao]") {
  const std::string path = DARE_TEST_FIXTURES_DIR "/UserBehavior_head.csv";
  // The slow way: read every line with iostreams, remap, count, sort.
  std::ifstream in(path);
  REQUIRE(in);
  std::string line;
  long long rows = 0;
  long long clicks = 0;
  std::map<long long, Id> user_id;
  std::map<long long, Id> item_id;
  std::map<long long, Id> cat_id;
  std::map<Id, Id> first_cat;
  std::map<Id, long long> frequency;
  std::map<Id, std::vector<std::tuple<long long, Id, Id>>> per_user;  // (ts, item, cat) in file order
  while (std::getline(in, line)) {
    ++rows;
    std::stringstream fields(line);
    std::string u, i, c, b, t;
    std::getline(fields, u, ',');
    std::getline(fields, i, ',');
    std::getline(fields, c, ',');
    std::getline(fields, b, ',');
    std::getline(fields, t, ',');
    if (b != "pv") continue;
    ++clicks;
    const long long ru = std::stoll(u), ri = std::stoll(i), rc = std::stoll(c);
    if (!user_id.count(ru)) user_id.emplace(ru, static_cast<Id>(user_id.size() + 1));
    if (!item_id.count(ri)) item_id.emplace(ri, static_cast<Id>(item_id.size() + 1));
    if (!cat_id.count(rc)) cat_id.emplace(rc, static_cast<Id>(cat_id.size() + 1));
    first_cat.emplace(item_id[ri], cat_id[rc]);
    ++frequency[item_id[ri]];
    per_user[user_id[ru]].emplace_back(std::stoll(t), item_id[ri], cat_id[rc]);
  }
  std::vector<Id> kept;  // dense ids of users with >= 210 clicks, in first-seen order
  for (auto& [uid, seq] : per_user) {
    std::stable_sort(seq.begin(), seq.end(),
                     [](const auto& x, const auto& y) { return std::get<0>(x) < std::get<0>(y); });
    if (seq.size() >= 210) kept.push_back(uid);
  }

  const PreprocessResult r = dare::preprocess(path, RawFormat::taobao);
  const DatasetData& d = r.data;
  CHECK(r.summary.rows_read == 4321);
  CHECK(r.summary.rows_read == rows);
  CHECK(r.summary.rows_kept == clicks);
  CHECK(r.summary.rows_kept == 3926);
  CHECK(r.summary.rows_other_behavior == 395);
  CHECK(r.summary.users == 43);
  CHECK(r.summary.users == static_cast<long long>(user_id.size()));
  CHECK(r.summary.items == static_cast<long long>(item_id.size()));
  CHECK(r.summary.categories == static_cast<long long>(cat_id.size()));
  CHECK(r.summary.qualifying_users == 4);
  CHECK(kept.size() == 4);
  CHECK(d.user_ids == kept);
  CHECK(d.train.size() == 4 * 19 * 3);
  CHECK(d.val.size() == 4 * 3);
  CHECK(d.test.size() == 4 * 3);
  CHECK(d.num_items() == static_cast<Index>(item_id.size()) + 1);
  CHECK(d.num_cats == static_cast<Index>(cat_id.size()) + 1);
  // The four qualifying users, in first-seen order, are raw users 1000040, 1000059, 1000084
  // and 1000114 with 447, 263, 210 and 267 clicks.
  std::vector<std::size_t> lengths;
  for (std::size_t k = 0; k < 4; ++k) lengths.push_back(d.user_offsets[k + 1] - d.user_offsets[k]);
  CHECK(lengths == std::vector<std::size_t>{447, 263, 210, 267});
  CHECK(r.summary.clicks_stored == 447 + 263 + 267 + 210);

  std::multiset<std::tuple<std::uint32_t, std::uint32_t, Id, Id>> train_positives;
  std::multiset<std::tuple<std::uint32_t, std::uint32_t, Id, Id>> expected_train;
  for (std::size_t k = 0; k < kept.size(); ++k) {
    const auto& seq = per_user[kept[k]];
    const auto T = static_cast<std::uint32_t>(seq.size());
    for (std::uint32_t p = 0; p < T; ++p) {
      REQUIRE(d.click_items[d.user_offsets[k] + p] == std::get<1>(seq[p]));
      REQUIRE(d.click_cats[d.user_offsets[k] + p] == std::get<2>(seq[p]));
    }
    for (std::uint32_t j = 0; j < 19; ++j) {
      const std::uint32_t e = T - 3 - 5 * j;
      expected_train.emplace(static_cast<std::uint32_t>(k), e, std::get<1>(seq[e]), std::get<2>(seq[e]));
    }
    const auto uk = static_cast<std::uint32_t>(k);
    CHECK(d.val[3 * k] == Sample{uk, T - 2, std::get<1>(seq[T - 2]), std::get<2>(seq[T - 2]), 1});
    CHECK(d.test[3 * k] == Sample{uk, T - 1, std::get<1>(seq[T - 1]), std::get<2>(seq[T - 1]), 1});
  }
  for (const auto* split : {&d.train, &d.val, &d.test}) {
    check_groups(*split, 3);
    for (const Sample& s : *split) {
      if (s.label == 1) {
        if (split == &d.train) train_positives.emplace(s.user, s.end, s.item, s.cat);
        continue;
      }
      const auto& seq = per_user[kept[s.user]];
      for (const auto& click : seq) REQUIRE(std::get<1>(click) != s.item);
      CHECK(s.cat == first_cat.at(s.item));
      CHECK(frequency.count(s.item) == 1);
    }
  }
  CHECK(train_positives == expected_train);
}

TEST_CASE("the vocabulary maps every click of the Taobao head back to its raw ids, through a file",
          "[data][preprocess][taobao]") {
  const std::string path = DARE_TEST_FIXTURES_DIR "/UserBehavior_head.csv";
  // The raw clicks, read the slow way: per raw user in file order, and the first-seen orders.
  std::ifstream in(path);
  REQUIRE(in);
  std::string line;
  std::vector<std::uint64_t> users_seen, items_seen, cats_seen;
  std::map<std::uint64_t, std::uint64_t> first_cat_of;  // raw item -> raw category of its first click
  std::map<std::uint64_t, std::vector<std::tuple<long long, std::uint64_t, std::uint64_t>>> per_user;
  auto see = [](std::vector<std::uint64_t>& seen, std::uint64_t id) {
    if (std::find(seen.begin(), seen.end(), id) == seen.end()) seen.push_back(id);
  };
  long long clicks = 0;
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::string u, i, c, b, t;
    std::getline(fields, u, ',');
    std::getline(fields, i, ',');
    std::getline(fields, c, ',');
    std::getline(fields, b, ',');
    std::getline(fields, t, ',');
    if (b != "pv") continue;
    ++clicks;
    const std::uint64_t ru = std::stoull(u), ri = std::stoull(i), rc = std::stoull(c);
    see(users_seen, ru);
    see(items_seen, ri);
    see(cats_seen, rc);
    first_cat_of.emplace(ri, rc);
    per_user[ru].emplace_back(std::stoll(t), ri, rc);
  }
  REQUIRE(clicks == 3926);

  dare_test::TempDir dir;
  const std::string out = dir.file("head.dare");
  dare::preprocess_to_file(path, RawFormat::taobao, out);
  const dare::Dataset ds = dare::Dataset::open(out);
  // Dense id d is the d-th raw id first seen over the clicks (entry 0 pads).
  std::vector<std::uint64_t> items(1, 0), cats(1, 0);
  items.insert(items.end(), items_seen.begin(), items_seen.end());
  cats.insert(cats.end(), cats_seen.begin(), cats_seen.end());
  CHECK(std::vector<std::uint64_t>(ds.raw_item_ids().begin(), ds.raw_item_ids().end()) == items);
  CHECK(std::vector<std::uint64_t>(ds.raw_cat_ids().begin(), ds.raw_cat_ids().end()) == cats);
  // Every stored click of every kept user names the raw item and category of the file's click.
  REQUIRE(ds.num_users() == 4);
  long long checked = 0;
  std::vector<std::uint64_t> kept_users;
  for (dare::Index u = 0; u < ds.num_users(); ++u) {
    const std::uint64_t raw_user = ds.raw_user_ids()[u];
    kept_users.push_back(raw_user);
    CHECK(users_seen[static_cast<std::size_t>(ds.user_id(u) - 1)] == raw_user);
    auto seq = per_user.at(raw_user);
    std::stable_sort(seq.begin(), seq.end(), [](const auto& x, const auto& y) { return std::get<0>(x) < std::get<0>(y); });
    REQUIRE(ds.user_length(u) == static_cast<Index>(seq.size()));
    for (Index j = 0; j < ds.user_length(u); ++j) {
      REQUIRE(ds.raw_item_ids()[ds.user_items(u)[j]] == std::get<1>(seq[static_cast<std::size_t>(j)]));
      REQUIRE(ds.raw_cat_ids()[ds.user_cats(u)[j]] == std::get<2>(seq[static_cast<std::size_t>(j)]));
      ++checked;
    }
  }
  CHECK(checked == 447 + 263 + 210 + 267);
  CHECK(kept_users == std::vector<std::uint64_t>{1000040, 1000059, 1000084, 1000114});
  // A negative's item and category map back to a raw item and the category of its first click.
  for (const Sample& s : ds.test()) {
    CHECK(ds.raw_cat_ids()[s.cat] == first_cat_of.at(ds.raw_item_ids()[s.item]));
  }
}

TEST_CASE("a dataset records its provenance: the format, the options and the log's size and XXH64",
          "[data][preprocess]") {
  const std::string path = DARE_TEST_FIXTURES_DIR "/UserBehavior_head.csv";
  const std::string text = dare_test::read_text(path);
  PreprocessOptions o;
  o.min_clicks = 100;
  o.train_windows = 3;
  o.stride = 7;
  o.max_len = 50;
  o.negatives = 1;
  o.seed = 77;
  o.negative_category = dare::ItemCategoryRule::last_seen;
  o.skip_malformed = true;
  o.tmall_four_digit_dates_only = false;
  o.read_buffer_bytes = 100;  // blocks of 100 bytes: the hash is fed in many odd pieces
  const PreprocessResult r = dare::preprocess(path, RawFormat::taobao, o);
  const dare::DatasetProvenance& p = r.data.provenance;
  CHECK(p.format == RawFormat::taobao);
  CHECK(p.input_bytes == text.size());
  CHECK(p.input_xxh64 == dare::detail::xxh64(text.data(), text.size()));
  dare::DatasetProvenance expected;
  expected.format = RawFormat::taobao;
  expected.options = o;
  expected.input_bytes = text.size();
  expected.input_xxh64 = dare::detail::xxh64(text.data(), text.size());
  CHECK(dare::describe_difference(p, expected) == "");
  CHECK(p.options.read_buffer_bytes == PreprocessOptions{}.read_buffer_bytes);  // not recorded

  dare_test::TempDir dir;
  dare::write_dataset(dir.file("d.dare"), r.data);
  const dare::Dataset ds = dare::Dataset::open(dir.file("d.dare"));
  CHECK(dare::describe_difference(ds.provenance(), expected) == "");
  CHECK(ds.provenance().options.seed == 77);
  // Another option, or another log, is a different provenance, and the message says which.
  expected.options.max_len = 200;
  CHECK(dare::describe_difference(ds.provenance(), expected, "the file has", "we want") ==
        "max_len: the file has 50, we want 200");
  dare_test::write_text(dir.file("longer.csv"), text + "1,2,3,pv,4\n");
  const PreprocessResult longer = dare::preprocess(dir.file("longer.csv"), RawFormat::taobao, o);
  CHECK_THAT(dare::describe_difference(ds.provenance(), longer.data.provenance),
             Catch::StartsWith("input_bytes: the first has " + std::to_string(text.size())));
}

TEST_CASE("with cluster_max_size, preprocessing stores TWIN-V2 clusters of at most γ clicks of one category",
          "[data][preprocess]") {
  dare_test::TempDir dir;
  std::vector<Row> rows;
  dare::detail::DataRng rng(21);
  for (int u = 0; u < 5; ++u) {
    for (int k = 0; k < 220 + 30 * u; ++k) {
      const long long item = 1 + static_cast<long long>(rng.below(400));
      rows.push_back({100 + u, item, item % 7, "pv", k});
    }
  }
  PreprocessOptions o;
  const PreprocessResult plain = run(dir, rows, o);
  CHECK(plain.data.click_clusters.empty());
  CHECK(plain.summary.clusters == 0);
  for (const Index gamma : {1, 5, 10, 20}) {
    o.cluster_max_size = gamma;
    const PreprocessResult r = run(dir, rows, o);
    const DatasetData& d = r.data;
    REQUIRE(d.click_clusters.size() == d.click_items.size());
    CHECK(d.provenance.options.cluster_max_size == gamma);
    long long total = 0;
    for (std::size_t k = 0; k < d.user_ids.size(); ++k) {
      std::map<std::int32_t, std::pair<Id, Index>> clusters;  // id -> (category, size)
      std::int32_t next = 0;
      for (std::uint64_t c = d.user_offsets[k]; c < d.user_offsets[k + 1]; ++c) {
        const std::int32_t id = d.click_clusters[c];
        REQUIRE(id <= next);
        if (id == next) ++next;
        auto& entry = clusters.emplace(id, std::make_pair(d.click_cats[c], Index{0})).first->second;
        REQUIRE(entry.first == d.click_cats[c]);
        ++entry.second;
      }
      for (const auto& [id, entry] : clusters) REQUIRE(entry.second <= gamma);
      total += next;
    }
    CHECK(r.summary.clusters == total);
    if (gamma == 1) CHECK(total == static_cast<long long>(d.click_items.size()));
    // The rest of the dataset is the one without clusters.
    CHECK(d.click_items == plain.data.click_items);
    CHECK(d.train == plain.data.train);
    // Deterministic, and the same as clustering the dataset afterwards.
    CHECK(run(dir, rows, o).data.click_clusters == d.click_clusters);
    dare::HistoryClusterOptions co;
    co.max_size = gamma;
    co.seed = o.seed;
    CHECK(dare::cluster_histories(plain.data, co) == d.click_clusters);
    // Another γ is another provenance, so dare_train's cache is rebuilt.
    dare::DatasetProvenance other = d.provenance;
    other.options.cluster_max_size = gamma + 1;
    CHECK(dare::describe_difference(d.provenance, other, "the cache has", "this run asks for") ==
          "cluster_max_size: the cache has " + std::to_string(gamma) + ", this run asks for " +
              std::to_string(gamma + 1));
    // Through a file.
    dare::write_dataset(dir.file("c.dare"), d);
    const dare::Dataset ds = dare::Dataset::open(dir.file("c.dare"));
    CHECK(ds.cluster_max_size() == gamma);
    CHECK(std::vector<std::int32_t>(ds.user_clusters(1).begin(), ds.user_clusters(1).end()) ==
          std::vector<std::int32_t>(d.click_clusters.begin() + static_cast<std::ptrdiff_t>(d.user_offsets[1]),
                                    d.click_clusters.begin() + static_cast<std::ptrdiff_t>(d.user_offsets[2])));
  }
  o.cluster_max_size = -1;
  CHECK_THROWS_WITH(run(dir, rows, o), Catch::Contains("cluster_max_size must be from 0"));
}
