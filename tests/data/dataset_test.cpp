#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dare/data/dataset.hpp"
#include "data/data_test_util.hpp"

using dare::Dataset;
using dare::DatasetData;
using dare::FormatError;
using dare::Id;
using dare::Index;
using dare::Sample;

namespace {

/// Two users (5 and 3 clicks), 6 items, 3 categories, groups of 2, window 3, clusters of at
/// most 2 clicks.
DatasetData small_dataset() {
  DatasetData d;
  d.num_cats = 4;
  d.max_len = 3;
  d.group_size = 2;
  d.user_offsets = {0, 5, 8};
  d.user_ids = {3, 7};
  d.click_items = {1, 2, 3, 1, 4, 5, 2, 6};
  d.click_cats = {1, 1, 2, 1, 3, 3, 1, 2};
  d.click_clusters = {0, 0, 1, 2, 3, 0, 1, 2};  // user 0's third category-1 click opens cluster 2
  d.item_category = {0, 1, 1, 2, 3, 3, 2};
  d.train = {{0, 4, 4, 3, 1}, {0, 4, 5, 3, 0}, {1, 2, 6, 2, 1}, {1, 2, 3, 2, 0}};
  d.val = {{0, 4, 4, 3, 1}, {0, 4, 6, 2, 0}};
  d.test = {{1, 0, 5, 3, 1}, {1, 0, 1, 1, 0}};
  // The vocabulary: any uint64, in no particular order; a raw id 0 is a real id past entry 0.
  d.raw_user_ids = {1003, 18446744073709551615ULL};
  d.raw_item_ids = {0, 90, 17, 4000000000000, 5, 0, 123456789012};
  d.raw_cat_ids = {0, 7, 3, 11};
  d.provenance.format = dare::RawFormat::tmall;
  d.provenance.options.min_clicks = 5;
  d.provenance.options.train_windows = 1;
  d.provenance.options.stride = 1;
  d.provenance.options.max_len = 3;
  d.provenance.options.negatives = 1;
  d.provenance.options.cluster_max_size = 2;
  d.provenance.options.seed = 99;
  d.provenance.options.skip_malformed = true;
  d.provenance.options.tmall_four_digit_dates_only = false;
  d.provenance.options.negative_category = dare::ItemCategoryRule::last_seen;
  d.provenance.input_bytes = 12345;
  d.provenance.input_xxh64 = 0xfeedface01234567ULL;
  return d;
}

dare::detail::DatasetHeader read_header(const std::string& path) {
  const std::string bytes = dare_test::read_text(path);
  dare::detail::DatasetHeader h;
  REQUIRE(bytes.size() >= sizeof h);
  std::memcpy(&h, bytes.data(), sizeof h);
  return h;
}

/// Expects Dataset::open(path) to throw a FormatError for `field` whose message contains `what`.
void expect_format_error(const std::string& path, const std::string& field, const std::string& what,
                         bool verify = true) {
  try {
    Dataset::open(path, verify);
    FAIL("no FormatError for field " << field);
  } catch (const FormatError& e) {
    CHECK(e.path() == path);
    CHECK(e.field() == field);
    CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains(what));
  }
}

/// Overwrites `size` bytes at `at` within section `s` of a dataset file's bytes and repairs
/// that section's checksum and the header's, so the change reaches the content checks.
void patch_section(std::string& bytes, int s, std::size_t at, const void* value, std::size_t size) {
  dare::detail::DatasetHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  auto& e = h.sections[s];
  REQUIRE(at + size <= e.bytes);
  std::memcpy(&bytes[e.offset + at], value, size);
  e.checksum = dare::detail::xxh64(bytes.data() + e.offset, e.bytes);
  h.header_checksum = dare::detail::header_checksum(h);
  std::memcpy(bytes.data(), &h, sizeof h);
}

}  // namespace

TEST_CASE("XXH64 matches the reference implementation's test vectors", "[data][dataset]") {
  using dare::detail::xxh64;
  CHECK(xxh64("", 0) == 0xef46db3751d8e999ULL);
  CHECK(xxh64(nullptr, 0) == 0xef46db3751d8e999ULL);  // an empty section's null data (UBSan-clean)
  CHECK(xxh64("a", 1) == 0xd24ec4f1a98c6e5bULL);
  CHECK(xxh64("abc", 3) == 0x44bc2cf5ad770999ULL);
  const char* fox = "The quick brown fox jumps over the lazy dog";
  CHECK(xxh64(fox, std::strlen(fox)) == 0x0b242d361fda71bcULL);
  unsigned char bytes[100];
  for (int i = 0; i < 100; ++i) bytes[i] = static_cast<unsigned char>(i);
  CHECK(xxh64(bytes, 100) == 0x6ac1e58032166597ULL);
  CHECK(xxh64(bytes, 100, 12345) == 0x028ba1ae2de4de27ULL);
}

TEST_CASE("XXH64 of an empty range takes a null pointer (an empty section's data())", "[data][dataset]") {
  // write_dataset hashes empty vectors; p + 8 on a null p is undefined (UBSan pointer-overflow).
  CHECK(dare::detail::xxh64(nullptr, 0) == 0xef46db3751d8e999ULL);
  CHECK(dare::detail::xxh64(nullptr, 0, 12345) == dare::detail::xxh64("", 0, 12345));
}

TEST_CASE("XXH64 fed in pieces equals XXH64 of the whole", "[data][dataset]") {
  std::vector<unsigned char> bytes(1000);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(i * 131 + 7);
  for (const std::size_t total : {0, 1, 31, 32, 33, 63, 64, 100, 1000}) {
    const std::uint64_t whole = dare::detail::xxh64(bytes.data(), total, 5);
    for (const std::size_t piece : {1, 3, 8, 31, 32, 33, 500}) {
      dare::detail::Xxh64Stream stream(5);
      for (std::size_t at = 0; at < total; at += piece) {
        stream.update(bytes.data() + at, std::min(piece, total - at));
      }
      stream.update(nullptr, 0);  // an empty piece changes nothing
      CHECK(stream.size() == total);
      CHECK(stream.digest() == whole);
    }
  }
  dare::detail::Xxh64Stream fox;
  fox.update("The quick brown ", 16);
  fox.update("fox jumps over the lazy dog", 27);
  CHECK(fox.digest() == 0x0b242d361fda71bcULL);
}

TEST_CASE("a dataset survives a write and a memory-mapped open unchanged", "[data][dataset]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("small.dare");
  const DatasetData d = small_dataset();
  dare::write_dataset(path, d);
  // Written atomically: nothing but the file itself is left in the directory.
  CHECK(dir.entries() == std::vector<std::string>{"small.dare"});

  const Dataset ds = Dataset::open(path);
  CHECK(ds.path() == path);
  CHECK(ds.num_items() == 7);
  CHECK(ds.num_cats() == 4);
  CHECK(ds.num_users() == 2);
  CHECK(ds.num_clicks() == 8);
  CHECK(ds.max_len() == 3);
  CHECK(ds.group_size() == 2);
  CHECK(std::vector<Sample>(ds.train().begin(), ds.train().end()) == d.train);
  CHECK(std::vector<Sample>(ds.val().begin(), ds.val().end()) == d.val);
  CHECK(std::vector<Sample>(ds.test().begin(), ds.test().end()) == d.test);
  CHECK(ds.user_length(0) == 5);
  CHECK(ds.user_length(1) == 3);
  CHECK(std::vector<Id>(ds.user_items(1).begin(), ds.user_items(1).end()) == std::vector<Id>{5, 2, 6});
  CHECK(std::vector<Id>(ds.user_cats(0).begin(), ds.user_cats(0).end()) == std::vector<Id>{1, 1, 2, 1, 3});
  CHECK(ds.user_id(1) == 7);
  CHECK(ds.has_clusters());
  CHECK(ds.cluster_max_size() == 2);
  CHECK(std::vector<std::int32_t>(ds.user_clusters(0).begin(), ds.user_clusters(0).end()) ==
        std::vector<std::int32_t>{0, 0, 1, 2, 3});
  CHECK(std::vector<std::int32_t>(ds.user_clusters(1).begin(), ds.user_clusters(1).end()) ==
        std::vector<std::int32_t>{0, 1, 2});
  CHECK(ds.item_category(0) == 0);
  CHECK(ds.item_category(5) == 3);
  CHECK(ds.train()[2].item == 6);
  // The vocabulary and the provenance come back as written.
  CHECK(std::vector<std::uint64_t>(ds.raw_user_ids().begin(), ds.raw_user_ids().end()) == d.raw_user_ids);
  CHECK(std::vector<std::uint64_t>(ds.raw_item_ids().begin(), ds.raw_item_ids().end()) == d.raw_item_ids);
  CHECK(std::vector<std::uint64_t>(ds.raw_cat_ids().begin(), ds.raw_cat_ids().end()) == d.raw_cat_ids);
  CHECK(ds.raw_item_ids()[3] == 4000000000000ULL);
  CHECK(ds.raw_user_ids()[1] == 18446744073709551615ULL);
  CHECK(dare::describe_difference(ds.provenance(), d.provenance) == "");
  CHECK(ds.provenance().format == dare::RawFormat::tmall);
  CHECK(ds.provenance().options.seed == 99);
  CHECK(ds.provenance().options.skip_malformed);
  CHECK_FALSE(ds.provenance().options.tmall_four_digit_dates_only);
  CHECK(ds.provenance().options.negative_category == dare::ItemCategoryRule::last_seen);
  CHECK(ds.provenance().input_bytes == 12345);
  CHECK(ds.provenance().input_xxh64 == 0xfeedface01234567ULL);
  // Sections are 64-byte aligned in the mapping.
  CHECK(reinterpret_cast<std::uintptr_t>(ds.train().data()) % 64 == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(ds.user_items(0).data()) % 64 == 0);

  Dataset moved = Dataset::open(path);
  Dataset other = std::move(moved);
  CHECK(other.num_users() == 2);
}

TEST_CASE("dataset accessors reject out-of-range users and items", "[data][dataset]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("small.dare");
  dare::write_dataset(path, small_dataset());
  const Dataset ds = Dataset::open(path);
  CHECK_THROWS_WITH(ds.user_items(2), Catch::Contains("user index 2 outside [0, 2)"));
  CHECK_THROWS_AS(ds.user_length(-1), std::invalid_argument);
  CHECK_THROWS_WITH(ds.item_category(7), Catch::Contains("item id 7 outside [0, 7)"));
}

TEST_CASE("write_dataset rejects inconsistent contents and leaves an existing file alone", "[data][dataset]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("d.dare");
  dare::write_dataset(path, small_dataset());

  DatasetData bad = small_dataset();
  bad.click_items[3] = 7;
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("click_items") && Catch::Contains("item id 7"));
  bad = small_dataset();
  bad.train[2].end = 4;  // user 1 has 3 clicks
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("'train'") && Catch::Contains("ends its history at 4"));
  bad = small_dataset();
  bad.val[1].label = 2;
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("'val'") && Catch::Contains("label 2"));
  bad = small_dataset();
  bad.test.pop_back();
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("groups of 2"));
  bad = small_dataset();
  bad.user_ids.push_back(9);
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("user_offsets has 3 entries"));
  // The vocabulary: one raw id per dense id, distinct past the padding entry 0.
  bad = small_dataset();
  bad.raw_item_ids.pop_back();
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("raw_item_ids has 6 entries, expected num_items = 7"));
  bad = small_dataset();
  bad.raw_cat_ids.push_back(12);
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("raw_cat_ids has 5 entries, expected num_cats = 4"));
  bad = small_dataset();
  bad.raw_user_ids = {1003};
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("raw_user_ids has 1 entries"));
  bad = small_dataset();
  bad.raw_item_ids[6] = 17;
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("'raw_item_ids'") &&
                                                        Catch::Contains("item ids 2 and 6 both have raw id 17"));
  bad = small_dataset();
  bad.raw_cat_ids[0] = 3;
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("'raw_cat_ids'") &&
                                                        Catch::Contains("entry 0 (padding) is 3"));
  bad = small_dataset();
  bad.raw_user_ids[1] = 1003;
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("'raw_user_ids'") &&
                                                        Catch::Contains("dataset users 0 and 1 both have raw id 1003"));
  // The provenance must agree with the samples' window and groups, and be a valid protocol.
  bad = small_dataset();
  bad.provenance.options.max_len = 4;
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("'provenance'") &&
                                                        Catch::Contains("records max_len 4 but the dataset's history window is 3"));
  bad = small_dataset();
  bad.provenance.options.negatives = 2;
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("'provenance'") && Catch::Contains("groups of 2"));
  bad = small_dataset();
  bad.provenance.options.min_clicks = 0;
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("'provenance'") && Catch::Contains("min_clicks"));

  // The earlier file is still there and intact, with no temporary beside it.
  CHECK(Dataset::open(path).num_users() == 2);
  CHECK(dir.entries() == std::vector<std::string>{"d.dare"});
  // A later valid write replaces it.
  DatasetData next = small_dataset();
  next.user_ids = {11, 12};
  dare::write_dataset(path, next);
  CHECK(Dataset::open(path).user_id(0) == 11);
  CHECK_THROWS_AS(dare::write_dataset(dir.file("missing/dir/d.dare"), next), std::runtime_error);
}

TEST_CASE("a truncated dataset file names the section it cuts into", "[data][dataset]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("d.dare");
  const std::string cut = dir.file("cut.dare");
  dare::write_dataset(path, small_dataset());
  const std::string bytes = dare_test::read_text(path);
  const auto h = read_header(path);

  dare_test::write_text(cut, "");
  expect_format_error(cut, "header", "truncated");
  dare_test::write_text(cut, bytes.substr(0, 100));
  expect_format_error(cut, "header", "truncated");
  for (int s = 0; s < dare::detail::kNumSections; ++s) {
    const auto& e = h.sections[s];
    REQUIRE(e.bytes > 0);
    dare_test::write_text(cut, bytes.substr(0, e.offset + e.bytes / 2));
    expect_format_error(cut, dare::detail::section_name(s), "truncated");
  }
  dare_test::write_text(cut, bytes + "extra");
  expect_format_error(cut, "file_bytes", "trailing bytes");
}

TEST_CASE("a corrupted dataset file names the corrupted field", "[data][dataset]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("d.dare");
  const std::string bad = dir.file("bad.dare");
  dare::write_dataset(path, small_dataset());
  const std::string bytes = dare_test::read_text(path);
  const auto h = read_header(path);

  // One flipped bit in each section.
  for (int s = 0; s < dare::detail::kNumSections; ++s) {
    std::string copy = bytes;
    copy[h.sections[s].offset + h.sections[s].bytes / 2] ^= 0x10;
    dare_test::write_text(bad, copy);
    expect_format_error(bad, dare::detail::section_name(s), "checksum mismatch");
  }
  // A flipped bit in the header's counts.
  std::string copy = bytes;
  copy[offsetof(dare::detail::DatasetHeader, num_users)] ^= 0x01;
  dare_test::write_text(bad, copy);
  expect_format_error(bad, "header", "checksum mismatch");
  // Not a dataset at all.
  copy = bytes;
  copy[0] = 'X';
  dare_test::write_text(bad, copy);
  expect_format_error(bad, "magic", "not a dare dataset");
  // A version this build does not read (with a consistent header checksum).
  auto future = h;
  future.version = 99;
  future.header_checksum = dare::detail::header_checksum(future);
  copy = bytes;
  std::memcpy(copy.data(), &future, sizeof future);
  dare_test::write_text(bad, copy);
  expect_format_error(bad, "version", "unsupported version 99");
}

TEST_CASE("a damaged vocabulary or provenance names its section", "[data][dataset]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("d.dare");
  const std::string bad = dir.file("bad.dare");
  dare::write_dataset(path, small_dataset());
  const std::string bytes = dare_test::read_text(path);
  const auto h = read_header(path);
  using dare::detail::kProvenance;
  using dare::detail::kRawCatIds;
  using dare::detail::kRawItemIds;
  using dare::detail::kRawUserIds;

  // A flipped byte in a vocabulary section is a checksum mismatch of that section.
  for (const int s : {kRawUserIds, kRawItemIds, kRawCatIds, kProvenance}) {
    std::string copy = bytes;
    copy[h.sections[s].offset + 3] ^= 0x40;
    dare_test::write_text(bad, copy);
    expect_format_error(bad, dare::detail::section_name(s), "checksum mismatch");
  }
  // With the checksums repaired, the contents are checked: distinct raw ids, padding 0.
  const std::uint64_t seventeen = 17;
  std::string copy = bytes;
  patch_section(copy, kRawItemIds, 6 * 8, &seventeen, 8);
  dare_test::write_text(bad, copy);
  expect_format_error(bad, "raw_item_ids", "item ids 2 and 6 both have raw id 17");
  copy = bytes;
  patch_section(copy, kRawCatIds, 0, &seventeen, 8);
  dare_test::write_text(bad, copy);
  expect_format_error(bad, "raw_cat_ids", "entry 0 (padding) is 17, not 0");
  copy = bytes;
  const std::uint64_t seven = 7;
  patch_section(copy, kRawCatIds, 3 * 8, &seven, 8);
  dare_test::write_text(bad, copy);
  expect_format_error(bad, "raw_cat_ids", "category ids 1 and 3 both have raw id 7");
  copy = bytes;
  const std::uint64_t first_user = 1003;
  patch_section(copy, kRawUserIds, 8, &first_user, 8);
  dare_test::write_text(bad, copy);
  expect_format_error(bad, "raw_user_ids", "dataset users 0 and 1 both have raw id 1003");
  // ... and the provenance: its codes, its options, its agreement with the header.
  using Record = dare::detail::ProvenanceRecord;
  const std::uint32_t seven32 = 7;
  copy = bytes;
  patch_section(copy, kProvenance, offsetof(Record, format), &seven32, 4);
  dare_test::write_text(bad, copy);
  expect_format_error(bad, "provenance", "format code 7");
  copy = bytes;
  patch_section(copy, kProvenance, offsetof(Record, skip_malformed), &seven32, 4);
  dare_test::write_text(bad, copy);
  expect_format_error(bad, "provenance", "skip_malformed is stored as 7");
  copy = bytes;
  const std::int64_t len = 200;
  patch_section(copy, kProvenance, offsetof(Record, max_len), &len, 8);
  dare_test::write_text(bad, copy);
  expect_format_error(bad, "provenance", "records max_len 200 but the dataset's history window is 3");
  copy = bytes;
  const std::int64_t huge = std::int64_t{1} << 40;
  patch_section(copy, kProvenance, offsetof(Record, min_clicks), &huge, 8);
  dare_test::write_text(bad, copy);
  expect_format_error(bad, "provenance", "min_clicks must be from 1 to 2^32 - 1");
  // The same checks run without the checksums.
  copy = bytes;
  std::memcpy(&copy[h.sections[kRawItemIds].offset + 6 * 8], &seventeen, 8);
  dare_test::write_text(bad, copy);
  expect_format_error(bad, "raw_item_ids", "both have raw id 17", /*verify=*/false);
}

TEST_CASE("a version 1 dataset is refused with the way out", "[data][dataset]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("d.dare");
  dare::write_dataset(path, small_dataset());
  std::string bytes = dare_test::read_text(path);
  auto h = read_header(path);
  h.version = 1;
  h.header_checksum = dare::detail::header_checksum(h);
  std::memcpy(bytes.data(), &h, sizeof h);
  dare_test::write_text(path, bytes);
  expect_format_error(path, "version", "unsupported version 1 (this build reads 3)");
  expect_format_error(path, "version", "preprocess the raw log again");
  h.version = 2;
  h.header_checksum = dare::detail::header_checksum(h);
  std::memcpy(bytes.data(), &h, sizeof h);
  dare_test::write_text(path, bytes);
  expect_format_error(path, "version", "unsupported version 2 (this build reads 3); it predates the click_clusters");
}

TEST_CASE("a dataset without clusters stores an empty click_clusters section", "[data][dataset]") {
  dare_test::TempDir dir;
  DatasetData d = small_dataset();
  d.click_clusters.clear();
  d.provenance.options.cluster_max_size = 0;
  dare::write_dataset(dir.file("d.dare"), d);
  const Dataset ds = Dataset::open(dir.file("d.dare"));
  CHECK_FALSE(ds.has_clusters());
  CHECK(ds.cluster_max_size() == 0);
  CHECK(ds.user_clusters(0).empty());
  CHECK(read_header(dir.file("d.dare")).sections[dare::detail::kClickClusters].bytes == 0);
  // Ids without γ, or γ without ids, disagree with the provenance.
  DatasetData bad = d;
  bad.click_clusters = small_dataset().click_clusters;
  CHECK_THROWS_WITH(dare::write_dataset(dir.file("x.dare"), bad),
                    Catch::Contains("'click_clusters'") && Catch::Contains("holds 8 cluster ids, expected 0"));
  bad = small_dataset();
  bad.click_clusters.clear();
  CHECK_THROWS_WITH(dare::write_dataset(dir.file("x.dare"), bad),
                    Catch::Contains("holds 0 cluster ids, expected 8 (one per click"));
}

TEST_CASE("cluster ids are checked: numbered by first occurrence, one category, at most γ", "[data][dataset]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("d.dare");
  const std::string bad_path = dir.file("bad.dare");
  DatasetData bad = small_dataset();
  bad.click_clusters.pop_back();
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("click_clusters has 7 entries"));
  bad = small_dataset();
  bad.click_clusters[1] = 2;  // skips id 1
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("'click_clusters'") &&
                                                        Catch::Contains("click 1 (user 0, position 1) has cluster id 2, expected 0 to 1"));
  bad = small_dataset();
  bad.click_clusters[2] = 0;  // category 2 in category 1's cluster
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("of category 2 is in cluster 0 of category 1"));
  bad = small_dataset();
  bad.click_clusters[3] = 0;  // a third click in cluster 0
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("cluster 0 has more than cluster_max_size = 2"));
  bad = small_dataset();
  bad.click_clusters[5] = -1;
  CHECK_THROWS_WITH(dare::write_dataset(path, bad), Catch::Contains("click 5 (user 1, position 0) has cluster id -1"));

  // In a file: a flipped byte is a checksum mismatch of click_clusters; with the checksum
  // repaired (or not verified), the contents are still checked.
  dare::write_dataset(path, small_dataset());
  const std::string bytes = dare_test::read_text(path);
  const auto h = read_header(path);
  std::string copy = bytes;
  copy[h.sections[dare::detail::kClickClusters].offset + 4] ^= 0x01;
  dare_test::write_text(bad_path, copy);
  expect_format_error(bad_path, "click_clusters", "checksum mismatch");
  // Click 1's id 0 became 1, a valid new id; click 2 (category 2, id 1) then joins it.
  expect_format_error(bad_path, "click_clusters", "click 2 (user 0, position 2) of category 2 is in cluster 1 of category 1",
                      /*verify=*/false);
  copy = bytes;
  const std::int32_t zero = 0;
  patch_section(copy, dare::detail::kClickClusters, 3 * sizeof(std::int32_t), &zero, sizeof zero);
  dare_test::write_text(bad_path, copy);
  expect_format_error(bad_path, "click_clusters", "more than cluster_max_size = 2");
  // A header that claims no ids while the provenance records γ.
  auto none = h;
  none.num_cluster_ids = 0;
  none.sections[dare::detail::kClickClusters].bytes = 0;
  none.sections[dare::detail::kClickClusters].checksum = dare::detail::xxh64(nullptr, 0);
  none.header_checksum = dare::detail::header_checksum(none);
  copy = bytes;
  std::memcpy(copy.data(), &none, sizeof none);
  dare_test::write_text(bad_path, copy);
  expect_format_error(bad_path, "click_clusters", "holds 0 cluster ids, expected 8");
}

TEST_CASE("a dataset header's window is bounded before anything is allocated", "[data][dataset]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("d.dare");
  const std::string bad = dir.file("bad.dare");
  dare::write_dataset(path, small_dataset());
  const std::string bytes = dare_test::read_text(path);
  auto h = read_header(path);
  h.max_len = 100000000;  // a valid checksum over a window that would need gigabytes per batch
  h.header_checksum = dare::detail::header_checksum(h);
  std::string copy = bytes;
  std::memcpy(copy.data(), &h, sizeof h);
  dare_test::write_text(bad, copy);
  expect_format_error(bad, "max_len", "must be from 1 to 10000");
  DatasetData d = small_dataset();
  d.max_len = dare::kMaxHistoryLength + 1;
  CHECK_THROWS_WITH(dare::write_dataset(path, d), Catch::Contains("max_len"));
}

TEST_CASE("a file that begins with DARE is taken for a dataset, a CSV is not", "[data][dataset]") {
  dare_test::TempDir dir;
  dare_test::write_text(dir.file("damaged.dare"), "DAREXXXX and then anything");
  dare_test::write_text(dir.file("log.csv"), "1,2,3,pv,4\n");
  CHECK(dare::looks_like_dare_file(dir.file("damaged.dare")));
  CHECK_FALSE(dare::looks_like_dare_file(dir.file("log.csv")));
  CHECK_FALSE(dare::looks_like_dare_file(dir.file("missing")));
  expect_format_error(dir.file("damaged.dare"), "header", "truncated");
}

TEST_CASE("without checksums, out-of-range ids are still caught before use", "[data][dataset]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("d.dare");
  dare::write_dataset(path, small_dataset());
  std::string bytes = dare_test::read_text(path);
  const auto h = read_header(path);
  const Id huge = 1 << 30;
  std::memcpy(&bytes[h.sections[dare::detail::kClickItems].offset + 2 * sizeof(Id)], &huge, sizeof huge);
  dare_test::write_text(path, bytes);
  expect_format_error(path, "click_items", "checksum mismatch");
  expect_format_error(path, "click_items", "outside [1, 7)", /*verify=*/false);

  dare::write_dataset(path, small_dataset());
  bytes = dare_test::read_text(path);
  const std::uint32_t bad_user = 5;
  std::memcpy(&bytes[h.sections[dare::detail::kTrain].offset + sizeof(Sample)], &bad_user, sizeof bad_user);
  dare_test::write_text(path, bytes);
  expect_format_error(path, "train", "names user 5", /*verify=*/false);
}

TEST_CASE("opening a missing dataset file says so", "[data][dataset]") {
  CHECK_THROWS_WITH(Dataset::open("/nonexistent/x.dare"), Catch::Contains("cannot open '/nonexistent/x.dare'"));
}
