#include <catch2/catch.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dare/data/provenance.hpp"

using dare::DatasetProvenance;
using dare::describe_difference;

namespace {

DatasetProvenance some_provenance() {
  DatasetProvenance p;
  p.format = dare::RawFormat::taobao;
  p.input_bytes = 3500000000ULL;
  p.input_xxh64 = 0x0123456789abcdefULL;
  return p;
}

}  // namespace

TEST_CASE("equal provenances have no difference", "[data][provenance]") {
  CHECK(describe_difference(DatasetProvenance{}, DatasetProvenance{}) == "");
  CHECK(describe_difference(some_provenance(), some_provenance()) == "");
  // How the log is read is not part of where a dataset came from.
  DatasetProvenance small_buffer = some_provenance();
  small_buffer.options.read_buffer_bytes = 64;
  CHECK(describe_difference(some_provenance(), small_buffer) == "");
}

TEST_CASE("describe_difference names the first differing field and both values", "[data][provenance]") {
  using Change = std::function<void(DatasetProvenance&)>;
  const std::vector<std::pair<Change, std::string>> cases = {
      {[](DatasetProvenance& p) { p.format = dare::RawFormat::tmall; }, "format: A taobao, B tmall"},
      {[](DatasetProvenance& p) { p.options.min_clicks = 300; }, "min_clicks: A 210, B 300"},
      {[](DatasetProvenance& p) { p.options.train_windows = 3; }, "train_windows: A 19, B 3"},
      {[](DatasetProvenance& p) { p.options.stride = 2; }, "stride: A 5, B 2"},
      {[](DatasetProvenance& p) { p.options.max_len = 100; }, "max_len: A 200, B 100"},
      {[](DatasetProvenance& p) { p.options.negatives = 4; }, "negatives: A 2, B 4"},
      {[](DatasetProvenance& p) { p.options.cluster_max_size = 10; }, "cluster_max_size: A 0, B 10"},
      {[](DatasetProvenance& p) { p.options.seed = 7; }, "seed: A 2024, B 7"},
      {[](DatasetProvenance& p) { p.options.negative_category = dare::ItemCategoryRule::last_seen; },
       "negative_category: A first_seen, B last_seen"},
      {[](DatasetProvenance& p) { p.options.tmall_four_digit_dates_only = false; },
       "tmall_four_digit_dates_only: A true, B false"},
      {[](DatasetProvenance& p) { p.options.skip_malformed = true; }, "skip_malformed: A false, B true"},
      {[](DatasetProvenance& p) { p.input_bytes = 12; }, "input_bytes: A 3500000000, B 12"},
      {[](DatasetProvenance& p) { p.input_xxh64 = 0xff; },
       "input_xxh64: A 0x0123456789abcdef, B 0x00000000000000ff"},
  };
  for (const auto& [change, expected] : cases) {
    DatasetProvenance b = some_provenance();
    change(b);
    CHECK(describe_difference(some_provenance(), b, "A", "B") == expected);
  }
  // The first field in the order of the struct wins; the default labels say first/second.
  DatasetProvenance b = some_provenance();
  b.options.max_len = 100;
  b.input_bytes = 1;
  b.options.seed = 1;
  CHECK(describe_difference(some_provenance(), b, "the cache has", "this run asks for") ==
        "max_len: the cache has 200, this run asks for 100");
  CHECK(describe_difference(some_provenance(), b) == "max_len: the first has 200, the second has 100");
}

TEST_CASE("a provenance record keeps every field and refuses unknown codes", "[data][provenance]") {
  DatasetProvenance p = some_provenance();
  p.format = dare::RawFormat::tmall;
  p.options.min_clicks = 11;
  p.options.train_windows = 2;
  p.options.stride = 3;
  p.options.max_len = 9;
  p.options.negatives = 0;
  p.options.cluster_max_size = 4294967295LL;
  p.options.seed = 18446744073709551615ULL;
  p.options.negative_category = dare::ItemCategoryRule::last_seen;
  p.options.tmall_four_digit_dates_only = false;
  p.options.skip_malformed = true;
  auto never = [](const std::string& what) { FAIL(what); };
  const DatasetProvenance back = dare::detail::from_record(dare::detail::to_record(p), never);
  CHECK(describe_difference(p, back) == "");
  CHECK(back.options.seed == 18446744073709551615ULL);
  CHECK(back.options.cluster_max_size == 4294967295LL);

  auto thrower = [](const std::string& what) { throw std::runtime_error(what); };
  auto record = dare::detail::to_record(p);
  record.negative_category = 2;
  CHECK_THROWS_WITH(dare::detail::from_record(record, thrower), Catch::Contains("negative_category code 2"));
  record = dare::detail::to_record(p);
  record.tmall_four_digit_dates_only = 5;
  CHECK_THROWS_WITH(dare::detail::from_record(record, thrower),
                    Catch::Contains("tmall_four_digit_dates_only is stored as 5 (expected 0 or 1)"));
}
