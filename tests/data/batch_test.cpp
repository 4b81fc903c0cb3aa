#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "dare/data/batch.hpp"
#include "dare/data/clustering.hpp"
#include "dare/data/preprocess.hpp"
#include "dare/data/sampling.hpp"
#include "data/data_test_util.hpp"

using dare::Batch;
using dare::Dataset;
using dare::DatasetData;
using dare::Id;
using dare::Index;
using dare::Sample;

namespace {

/// One user with clicks (items 11..15, categories 21..25), window L = 3, and a sample per
/// history end 0..5.
DatasetData five_clicks() {
  DatasetData d;
  d.num_cats = 26;
  d.max_len = 3;
  d.group_size = 1;
  d.user_offsets = {0, 5};
  d.user_ids = {1};
  d.click_items = {11, 12, 13, 14, 15};
  d.click_cats = {21, 22, 23, 24, 25};
  d.item_category.assign(16, 21);
  d.item_category[0] = 0;
  d.raw_user_ids = {1};
  for (std::uint64_t id = 1; id < 16; ++id) d.raw_item_ids.push_back(id);
  for (std::uint64_t id = 1; id < 26; ++id) d.raw_cat_ids.push_back(id);
  d.provenance.options.max_len = 3;
  d.provenance.options.negatives = 0;
  for (std::uint32_t end = 0; end <= 5; ++end) {
    d.train.push_back(Sample{0, end, static_cast<Id>(11 + end % 5), static_cast<Id>(21 + end % 5),
                             static_cast<std::int32_t>(end % 2)});
  }
  return d;
}

std::vector<Id> row(const std::vector<Id, dare::AlignedAllocator<Id>>& m, Index b, Index L) {
  return {m.begin() + b * L, m.begin() + (b + 1) * L};
}

/// The reference script's pad_and_truncate(clicks[:end], L).
std::vector<Id> pad_and_truncate(const std::vector<Id>& clicks, std::size_t end, std::size_t L) {
  std::vector<Id> seq(clicks.begin(), clicks.begin() + static_cast<std::ptrdiff_t>(end));
  if (seq.size() < L) seq.insert(seq.begin(), L - seq.size(), 0);
  if (seq.size() > L) seq.erase(seq.begin(), seq.end() - static_cast<std::ptrdiff_t>(L));
  return seq;
}

}  // namespace

TEST_CASE("batch histories are left-padded with 0, most recent last", "[data][batch]") {
  dare_test::TempDir dir;
  dare::write_dataset(dir.file("d.dare"), five_clicks());
  const Dataset ds = Dataset::open(dir.file("d.dare"));
  Batch batch;
  dare::fill_batch(ds, ds.train().data(), nullptr, 6, batch);
  REQUIRE(batch.size == 6);
  REQUIRE(batch.max_len == 3);
  CHECK(row(batch.hist_item, 0, 3) == std::vector<Id>{0, 0, 0});
  CHECK(row(batch.hist_item, 1, 3) == std::vector<Id>{0, 0, 11});
  CHECK(row(batch.hist_item, 2, 3) == std::vector<Id>{0, 11, 12});
  CHECK(row(batch.hist_item, 3, 3) == std::vector<Id>{11, 12, 13});
  CHECK(row(batch.hist_item, 4, 3) == std::vector<Id>{12, 13, 14});
  CHECK(row(batch.hist_item, 5, 3) == std::vector<Id>{13, 14, 15});
  CHECK(row(batch.hist_cat, 2, 3) == std::vector<Id>{0, 21, 22});
  CHECK(row(batch.hist_cat, 5, 3) == std::vector<Id>{23, 24, 25});
  CHECK(batch.hist_len == std::vector<Index>{0, 1, 2, 3, 3, 3});
  CHECK(batch.target_item == std::vector<Id>{11, 12, 13, 14, 15, 11});
  CHECK(batch.target_cat == std::vector<Id>{21, 22, 23, 24, 25, 21});
  CHECK(batch.label == std::vector<float>{0.f, 1.f, 0.f, 1.f, 0.f, 1.f});
  CHECK(batch.user == std::vector<std::uint32_t>(6, 0));
  CHECK(std::vector<Id>(batch.hist_item_row(4), batch.hist_item_row(4) + 3) == std::vector<Id>{12, 13, 14});
  CHECK(reinterpret_cast<std::uintptr_t>(batch.hist_item.data()) % 64 == 0);
  // A dataset without clusters gives no group ids.
  CHECK(batch.hist_group.empty());
  CHECK(batch.hist_group_row(0) == nullptr);
}

TEST_CASE("the window's index j has time id L - j", "[data][batch]") {
  CHECK(dare::history_time_id(199, 200) == 1);  // most recent behaviour
  CHECK(dare::history_time_id(0, 200) == 200);  // oldest slot
  CHECK(dare::history_time_id(200, 200) == 0);  // one past the window: the target's id
  static_assert(dare::history_time_id(2, 3) == 1, "constexpr");
}

TEST_CASE("an order array picks and permutes samples; batches reuse their storage", "[data][batch]") {
  dare_test::TempDir dir;
  dare::write_dataset(dir.file("d.dare"), five_clicks());
  const Dataset ds = Dataset::open(dir.file("d.dare"));
  Batch batch;
  const std::vector<Index> order = {5, 0, 3, 3};
  dare::fill_batch(ds, ds.train(), order.data(), 4, batch);
  CHECK(row(batch.hist_item, 0, 3) == std::vector<Id>{13, 14, 15});
  CHECK(row(batch.hist_item, 1, 3) == std::vector<Id>{0, 0, 0});
  CHECK(row(batch.hist_item, 3, 3) == std::vector<Id>{11, 12, 13});
  CHECK(batch.hist_len == std::vector<Index>{3, 0, 3, 3});
  const Id* items = batch.hist_item.data();
  const float* labels = batch.label.data();
  // A smaller and then an equal batch: no reallocation, and stale rows are overwritten.
  dare::fill_batch(ds, ds.train(), order.data() + 1, 2, batch);
  CHECK(batch.size == 2);
  CHECK(batch.hist_item.size() == 6);
  CHECK(row(batch.hist_item, 0, 3) == std::vector<Id>{0, 0, 0});
  dare::fill_batch(ds, ds.train(), order.data(), 4, batch);
  CHECK(batch.hist_item.data() == items);
  CHECK(batch.label.data() == labels);
  CHECK(row(batch.hist_item, 0, 3) == std::vector<Id>{13, 14, 15});
}

TEST_CASE("fill_batch rejects order indices and samples that do not fit the dataset", "[data][batch]") {
  dare_test::TempDir dir;
  dare::write_dataset(dir.file("d.dare"), five_clicks());
  const Dataset ds = Dataset::open(dir.file("d.dare"));
  Batch batch;
  const std::vector<Index> order = {0, 6};
  CHECK_THROWS_WITH(dare::fill_batch(ds, ds.train(), order.data(), 2, batch),
                    Catch::Contains("order[1] = 6 outside [0, 6)"));
  CHECK_THROWS_AS(dare::fill_batch(ds, ds.train(), nullptr, 7, batch), std::invalid_argument);
  const Sample foreign[] = {{1, 0, 11, 21, 1}, {0, 9, 11, 21, 1}};
  CHECK_THROWS_WITH(dare::fill_batch(ds, foreign, nullptr, 1, batch), Catch::Contains("names user 1"));
  CHECK_THROWS_WITH(dare::fill_batch(ds, foreign + 1, nullptr, 1, batch), Catch::Contains("ends its history at 9"));
  const Index negative[] = {-1};
  CHECK_THROWS_AS(dare::fill_batch(ds, ds.train().data(), negative, 1, batch), dare::AssertionError);
}

TEST_CASE("batches from a preprocessed log equal the reference pad_and_truncate windows", "[data][batch]") {
  dare_test::TempDir dir;
  std::string text;
  dare::detail::DataRng rng(4);
  for (int u = 0; u < 6; ++u) {
    const int length = 205 + 40 * u;
    for (int k = 0; k < length; ++k) {
      const auto item = 1 + rng.below(500);
      text += std::to_string(u) + "," + std::to_string(item) + "," + std::to_string(item % 17) + ",pv," +
              std::to_string(k) + "\n";
    }
  }
  dare_test::write_text(dir.file("log.csv"), text);
  dare::preprocess_to_file(dir.file("log.csv"), dare::RawFormat::taobao, dir.file("d.dare"));
  const Dataset ds = Dataset::open(dir.file("d.dare"));
  REQUIRE(ds.num_users() == 5);  // the first user has 205 < 210 clicks
  Batch batch;
  for (const auto split : {ds.train(), ds.val(), ds.test()}) {
    std::vector<Index> order(static_cast<std::size_t>(split.size()));
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = static_cast<Index>(order.size() - 1 - k);
    dare::fill_batch(ds, split, order.data(), split.size(), batch);
    for (Index b = 0; b < batch.size; ++b) {
      const Sample& s = split[order[static_cast<std::size_t>(b)]];
      const auto items = ds.user_items(s.user);
      const auto cats = ds.user_cats(s.user);
      const std::vector<Id> all_items(items.begin(), items.end());
      const std::vector<Id> all_cats(cats.begin(), cats.end());
      REQUIRE(row(batch.hist_item, b, 200) == pad_and_truncate(all_items, s.end, 200));
      REQUIRE(row(batch.hist_cat, b, 200) == pad_and_truncate(all_cats, s.end, 200));
      REQUIRE(batch.hist_len[static_cast<std::size_t>(b)] == std::min<Index>(s.end, 200));
      REQUIRE(batch.target_item[static_cast<std::size_t>(b)] == s.item);
      REQUIRE(batch.label[static_cast<std::size_t>(b)] == static_cast<float>(s.label));
    }
  }
}

TEST_CASE("batches carry each window position's cluster id, as a direct clustering of the user gives",
          "[data][batch]") {
  dare_test::TempDir dir;
  const Index L = 200;
  std::string text;
  dare::detail::DataRng rng(8);
  for (int u = 0; u < 4; ++u) {
    const int length = 230 + 70 * u;
    for (int k = 0; k < length; ++k) {
      const auto item = 1 + rng.below(300);
      text += std::to_string(u) + "," + std::to_string(item) + "," + std::to_string(item % 5) + ",pv," +
              std::to_string(k) + "\n";
    }
  }
  dare_test::write_text(dir.file("log.csv"), text);
  dare::PreprocessOptions o;
  o.cluster_max_size = 6;
  o.max_len = L;  // the earliest training windows (end 137 on) are padded
  dare::preprocess_to_file(dir.file("log.csv"), dare::RawFormat::taobao, dir.file("d.dare"), o);
  const Dataset ds = Dataset::open(dir.file("d.dare"));
  REQUIRE(ds.has_clusters());
  // The clustering of every user, done directly from the stored clicks.
  const std::vector<float> popularity = dare::item_popularity(ds);
  dare::HistoryClusterOptions co;
  co.max_size = 6;
  co.seed = o.seed;
  std::vector<std::vector<std::int32_t>> expected(static_cast<std::size_t>(ds.num_users()));
  for (Index u = 0; u < ds.num_users(); ++u) {
    const Index n = ds.user_length(u);
    std::vector<float> features(static_cast<std::size_t>(2 * n));
    dare::history_features(ds.user_items(u).data(), n, popularity, features.data());
    auto& ids = expected[static_cast<std::size_t>(u)];
    ids.resize(static_cast<std::size_t>(n));
    const Index count = dare::cluster_history(ds.user_cats(u).data(), features.data(), n, ids.data(), co);
    CHECK(count > n / 6);
    CHECK(std::vector<std::int32_t>(ds.user_clusters(u).begin(), ds.user_clusters(u).end()) == ids);
  }
  Batch batch;
  for (const auto split : {ds.train(), ds.val(), ds.test()}) {
    dare::fill_batch(ds, split, nullptr, split.size(), batch);
    REQUIRE(batch.hist_group.size() == static_cast<std::size_t>(split.size() * L));
    for (Index b = 0; b < batch.size; ++b) {
      const Sample& s = split[b];
      const auto& ids = expected[s.user];
      const std::int32_t* row_group = batch.hist_group_row(b);
      REQUIRE(row_group == batch.hist_group.data() + b * L);
      const Index len = std::min<Index>(s.end, L);
      for (Index j = 0; j < L; ++j) {
        const std::int32_t want = j < L - len ? 0 : ids[static_cast<std::size_t>(static_cast<Index>(s.end) - L + j)];
        REQUIRE(row_group[j] == want);
      }
      // Positions of one cluster share the category.
      for (Index j = L - len; j < L; ++j) {
        for (Index i = L - len; i < j; ++i) {
          if (row_group[i] == row_group[j]) REQUIRE(batch.hist_cat_row(b)[i] == batch.hist_cat_row(b)[j]);
        }
      }
    }
  }
}
