// dare/data/dataset.hpp — the preprocessed dataset: a versioned binary file that training
// memory-maps read-only.
//
// Design note. A sample's history is the 200 clicks before its target, and consecutive
// samples of a user overlap almost entirely, so the file stores each kept user's click
// sequence once (item ids and category ids, int32) and a sample only names the user and the
// end of its history: history = the user's clicks [max(0, end - max_len), end). That is
// ~20 bytes per sample instead of 1.6 KB, and fill_batch (batch.hpp) rebuilds the padded
// windows on the fly.
//
// Preprocessing remaps raw ids (any uint64) to dense ids from 1, which is what the tables are
// indexed by. The file keeps that vocabulary, the raw id of every dense user, item and
// category id, so a model trained on one file can be applied to clicks of another log (and
// scores can be reported under the log's own ids); and it keeps its provenance (which raw log,
// by size and XXH64, under which options: provenance.hpp), so a tool can tell whether a file
// is the one it would build now.
//
// TWIN-V2's clusters (clustering.hpp) are preprocessing's too: with cluster_max_size γ > 0 in
// the options, every stored click carries the id of its cluster within its user's sequence
// (0 .. C_u - 1, numbered by first occurrence; one category per cluster, at most γ clicks),
// so batches can hand the model a group id per window position (batch.hpp).
//
// Layout, version 3 (native little-endian; the header records the byte order and is checked):
//   DatasetHeader (magic "DAREDSET", version, counts, a table of sections, header checksum)
//   sections, each 64-byte aligned, in this order:
//     provenance    (one detail::ProvenanceRecord)
//     user_offsets  (uint64, users + 1)
//     user_ids      (int32, users: the dense user id of each dataset user)
//     raw_user_ids  (uint64, users: the raw user id of each dataset user)
//     click_items, click_cats (int32, all kept users' clicks back to back)
//     click_clusters (int32, one per click when the provenance's cluster_max_size > 0, else
//                   empty; num_cluster_ids in the header says which)
//     item_category (int32, num_items)
//     raw_item_ids  (uint64, num_items: the raw id of each dense item id; entry 0 is 0)
//     raw_cat_ids   (uint64, num_cats: the raw id of each dense category id; entry 0 is 0)
//     train, val, test (Sample).
// Versions 1 (before the vocabulary and the provenance) and 2 (before click_clusters and the
// provenance's cluster_max_size) are refused with a message to preprocess the raw log again
// (dare_train rebuilds such a cache by itself).
// Every section carries an XXH64 checksum, so a flipped byte is reported with the name of the
// section it hit; truncation is reported against the section it cuts off. open() also checks
// every id and offset against the counts, so a file that passes cannot make training read out
// of bounds; that the raw ids of the dense ids >= 1 are distinct within each vocabulary array
// (and the padding entries 0), so raw -> dense is a function; and that the provenance's codes
// are valid, its options in range and in agreement with the header (max_len, group_size,
// whether clusters are stored); and that the cluster ids keep their invariants.
// write_dataset() writes a temporary file next to the target and renames it over the target,
// so readers never see a half-written dataset.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/core/file_io.hpp"
#include "dare/data/provenance.hpp"

namespace dare {

/// A read-only view of a contiguous array (C++17 has no std::span).
template <class T>
class ConstSpan {
 public:
  constexpr ConstSpan() noexcept = default;
  constexpr ConstSpan(const T* data, Index size) noexcept : data_(data), size_(size) {}
  constexpr const T* data() const noexcept { return data_; }
  constexpr Index size() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr const T* begin() const noexcept { return data_; }
  constexpr const T* end() const noexcept { return data_ + size_; }
  /// Unchecked element access (DARE_ASSERT in debug builds).
  const T& operator[](Index i) const {
    DARE_ASSERT(i >= 0 && i < size_);
    return data_[i];
  }

 private:
  const T* data_ = nullptr;
  Index size_ = 0;
};

/// One training/evaluation example. The history is the user's clicks
/// [max(0, end - max_len), end) of the dataset's user `user`; the target is (item, cat).
/// For a positive, the target is the user's click at position `end`.
struct Sample {
  /// Index of the user in the dataset (0 .. num_users - 1), not the raw or dense user id.
  std::uint32_t user;
  /// One past the last history click.
  std::uint32_t end;
  Id item;
  Id cat;
  /// 1 for the clicked item, 0 for a sampled negative.
  std::int32_t label;
};
static_assert(sizeof(Sample) == 20 && std::is_trivially_copyable_v<Sample>,
              "Sample is stored in files byte for byte");

inline bool operator==(const Sample& a, const Sample& b) noexcept {
  return a.user == b.user && a.end == b.end && a.item == b.item && a.cat == b.cat &&
         a.label == b.label;
}
inline bool operator!=(const Sample& a, const Sample& b) noexcept { return !(a == b); }

/// Everything a dataset file holds, in memory: what preprocessing produces and
/// write_dataset() writes.
struct DatasetData {
  /// Exclusive bound of the category ids (largest category id + 1; id 0 is padding).
  Index num_cats = 1;
  /// History window length L.
  Index max_len = 200;
  /// Samples come in groups of this size (a positive and its negatives, which share one
  /// history), adjacent and in that order, in every split. The defaults agree with the
  /// default provenance: max_len 200, 1 + 2 negatives.
  Index group_size = 3;
  /// user_offsets[u] .. user_offsets[u + 1] index user u's clicks in click_items/click_cats.
  std::vector<std::uint64_t> user_offsets{0};
  /// The dense user id (first-seen order over the raw log, from 1) of each dataset user.
  std::vector<Id> user_ids;
  /// The raw user id (as in the log) of each dataset user; distinct.
  std::vector<std::uint64_t> raw_user_ids;
  /// Every kept user's clicks in time order, users back to back.
  std::vector<Id> click_items;
  std::vector<Id> click_cats;
  /// The cluster id of every click within its user's sequence, indexed like click_items,
  /// when provenance.options.cluster_max_size > 0; empty otherwise (cluster_histories()).
  std::vector<std::int32_t> click_clusters;
  /// item_category[item]: the category a sampled negative of this item carries. Its size is
  /// the exclusive bound of the item ids (largest item id + 1); entry 0 is 0 (padding).
  std::vector<Id> item_category{0};
  /// raw_item_ids[item]: the raw id of each dense item id (num_items entries); raw_cat_ids[cat]
  /// likewise (num_cats entries). Entry 0 (padding) is 0; the others are distinct.
  std::vector<std::uint64_t> raw_item_ids{0};
  std::vector<std::uint64_t> raw_cat_ids{0};
  /// The raw log and the options this dataset was made from. Its max_len and negatives must
  /// agree with max_len and group_size - 1.
  DatasetProvenance provenance;
  std::vector<Sample> train;
  std::vector<Sample> val;
  std::vector<Sample> test;

  Index num_items() const noexcept { return static_cast<Index>(item_category.size()); }
  Index num_users() const noexcept { return static_cast<Index>(user_ids.size()); }
};

namespace detail {

// ---- XXH64 (Yann Collet's xxHash, 64-bit variant) -------------------------------------------
inline constexpr std::uint64_t kXxP1 = 0x9E3779B185EBCA87ULL;
inline constexpr std::uint64_t kXxP2 = 0xC2B2AE3D27D4EB4FULL;
inline constexpr std::uint64_t kXxP3 = 0x165667B19E3779F9ULL;
inline constexpr std::uint64_t kXxP4 = 0x85EBCA77C2B2AE63ULL;
inline constexpr std::uint64_t kXxP5 = 0x27D4EB2F165667C5ULL;

inline std::uint64_t xx_rotl(std::uint64_t x, int r) noexcept { return (x << r) | (x >> (64 - r)); }
inline std::uint64_t xx_read64(const unsigned char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline std::uint32_t xx_read32(const unsigned char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline std::uint64_t xx_round(std::uint64_t acc, std::uint64_t input) noexcept {
  acc += input * kXxP2;
  acc = xx_rotl(acc, 31);
  return acc * kXxP1;
}
inline std::uint64_t xx_merge(std::uint64_t acc, std::uint64_t val) noexcept {
  acc ^= xx_round(0, val);
  return acc * kXxP1 + kXxP4;
}

/// The end of XXH64: the last < 32 bytes [p, end), then the avalanche.
inline std::uint64_t xx_finish(std::uint64_t h, const unsigned char* p, const unsigned char* end) noexcept {
  // Distances, not p + 8 <= end: p may be null when size is 0 (an empty vector's data()).
  for (; end - p >= 8; p += 8) {
    h ^= xx_round(0, xx_read64(p));
    h = xx_rotl(h, 27) * kXxP1 + kXxP4;
  }
  if (end - p >= 4) {
    h ^= static_cast<std::uint64_t>(xx_read32(p)) * kXxP1;
    h = xx_rotl(h, 23) * kXxP2 + kXxP3;
    p += 4;
  }
  for (; p < end; ++p) {
    h ^= static_cast<std::uint64_t>(*p) * kXxP5;
    h = xx_rotl(h, 11) * kXxP1;
  }
  h ^= h >> 33;
  h *= kXxP2;
  h ^= h >> 29;
  h *= kXxP3;
  h ^= h >> 32;
  return h;
}

/// XXH64 of `size` bytes (little-endian reading, as the reference implementation on x86).
inline std::uint64_t xxh64(const void* data, std::size_t size, std::uint64_t seed = 0) noexcept {
  // An empty section may have a null pointer, and null + 8 is undefined: point at a byte.
  static constexpr unsigned char kNoBytes[8] = {};
  const auto* p = size == 0 ? kNoBytes : static_cast<const unsigned char*>(data);
  const unsigned char* const end = p + size;
  std::uint64_t h;
  if (size >= 32) {
    std::uint64_t v1 = seed + kXxP1 + kXxP2;
    std::uint64_t v2 = seed + kXxP2;
    std::uint64_t v3 = seed;
    std::uint64_t v4 = seed - kXxP1;
    const unsigned char* const limit = end - 32;
    do {
      v1 = xx_round(v1, xx_read64(p));
      v2 = xx_round(v2, xx_read64(p + 8));
      v3 = xx_round(v3, xx_read64(p + 16));
      v4 = xx_round(v4, xx_read64(p + 24));
      p += 32;
    } while (p <= limit);
    h = xx_rotl(v1, 1) + xx_rotl(v2, 7) + xx_rotl(v3, 12) + xx_rotl(v4, 18);
    h = xx_merge(h, v1);
    h = xx_merge(h, v2);
    h = xx_merge(h, v3);
    h = xx_merge(h, v4);
  } else {
    h = seed + kXxP5;
  }
  h += static_cast<std::uint64_t>(size);
  return xx_finish(h, p, end);
}

/// XXH64 fed in pieces (a file read block by block): update() any number of times, then
/// digest(), which equals xxh64() of all the bytes fed, in order.
class Xxh64Stream {
 public:
  explicit Xxh64Stream(std::uint64_t seed = 0) noexcept
      : v_{seed + kXxP1 + kXxP2, seed + kXxP2, seed, seed - kXxP1}, seed_(seed) {}

  void update(const void* data, std::size_t size) noexcept {
    if (size == 0) return;
    const auto* p = static_cast<const unsigned char*>(data);
    const unsigned char* const end = p + size;
    total_ += size;
    if (buffered_ + size < 32) {
      std::memcpy(buffer_ + buffered_, p, size);
      buffered_ += size;
      return;
    }
    if (buffered_ > 0) {
      const std::size_t take = 32 - buffered_;
      std::memcpy(buffer_ + buffered_, p, take);
      p += take;
      stripe(buffer_);
      buffered_ = 0;
    }
    for (; end - p >= 32; p += 32) stripe(p);
    buffered_ = static_cast<std::size_t>(end - p);
    std::memcpy(buffer_, p, buffered_);
  }

  std::uint64_t digest() const noexcept {
    std::uint64_t h;
    if (total_ >= 32) {
      h = xx_rotl(v_[0], 1) + xx_rotl(v_[1], 7) + xx_rotl(v_[2], 12) + xx_rotl(v_[3], 18);
      for (const std::uint64_t v : v_) h = xx_merge(h, v);
    } else {
      h = seed_ + kXxP5;
    }
    h += total_;
    return xx_finish(h, buffer_, buffer_ + buffered_);
  }

  /// Bytes fed so far.
  std::uint64_t size() const noexcept { return total_; }

 private:
  void stripe(const unsigned char* p) noexcept {
    for (int lane = 0; lane < 4; ++lane) v_[lane] = xx_round(v_[lane], xx_read64(p + 8 * lane));
  }

  std::uint64_t v_[4];
  std::uint64_t seed_;
  std::uint64_t total_ = 0;
  unsigned char buffer_[32] = {};
  std::size_t buffered_ = 0;
};

// ---- file layout ----------------------------------------------------------------------------
enum DatasetSection : int {
  kProvenance,
  kUserOffsets,
  kUserIds,
  kRawUserIds,
  kClickItems,
  kClickCats,
  kClickClusters,
  kItemCategory,
  kRawItemIds,
  kRawCatIds,
  kTrain,
  kVal,
  kTest,
  kNumSections
};

inline const char* section_name(int section) noexcept {
  static constexpr const char* kNames[kNumSections] = {
      "provenance",    "user_offsets",  "user_ids",     "raw_user_ids", "click_items",
      "click_cats",    "click_clusters", "item_category", "raw_item_ids", "raw_cat_ids",
      "train",         "val",            "test"};
  return kNames[section];
}

inline constexpr char kDatasetMagic[8] = {'D', 'A', 'R', 'E', 'D', 'S', 'E', 'T'};
/// 2: the vocabulary (raw_user_ids, raw_item_ids, raw_cat_ids) and the provenance.
/// 3: click_clusters, the header's num_cluster_ids and the provenance's cluster_max_size.
inline constexpr std::uint32_t kDatasetVersion = 3;
inline constexpr std::uint32_t kByteOrderMark = 0x01020304;
inline constexpr std::uint64_t kSectionAlign = 64;

struct SectionEntry {
  std::uint64_t offset;
  std::uint64_t bytes;
  std::uint64_t checksum;
};

/// The fixed-size file header. Only fixed-width fields, ordered so there is no padding: the
/// header checksum covers every byte before `header_checksum`.
struct DatasetHeader {
  char magic[8];
  std::uint32_t version;
  std::uint32_t header_bytes;
  std::uint32_t byte_order;
  std::uint32_t sample_bytes;
  std::int64_t num_items;
  std::int64_t num_cats;
  std::int64_t num_users;
  std::int64_t num_clicks;
  std::int64_t max_len;
  std::int64_t group_size;
  std::int64_t num_train;
  std::int64_t num_val;
  std::int64_t num_test;
  std::int64_t num_cluster_ids;
  std::uint64_t file_bytes;
  SectionEntry sections[kNumSections];
  std::uint64_t header_checksum;
};
static_assert(std::is_trivially_copyable_v<DatasetHeader> &&
                  sizeof(DatasetHeader) == 24 + 11 * 8 + kNumSections * 24 + 8,
              "DatasetHeader must have no padding");

inline std::uint64_t header_checksum(const DatasetHeader& h) noexcept {
  return xxh64(&h, offsetof(DatasetHeader, header_checksum));
}

/// Pointers to every array of a dataset, wherever it lives (vectors or a mapping).
struct DatasetView {
  Index num_items = 0;
  Index num_cats = 0;
  Index num_users = 0;
  Index num_clicks = 0;
  Index max_len = 0;
  Index group_size = 0;
  const std::uint64_t* user_offsets = nullptr;
  const Id* user_ids = nullptr;
  const std::uint64_t* raw_user_ids = nullptr;
  const Id* click_items = nullptr;
  const Id* click_cats = nullptr;
  /// num_cluster_ids entries: num_clicks when clusters are stored, else 0.
  const std::int32_t* click_clusters = nullptr;
  Index num_cluster_ids = 0;
  const Id* item_category = nullptr;
  const std::uint64_t* raw_item_ids = nullptr;
  const std::uint64_t* raw_cat_ids = nullptr;
  const Sample* splits[3] = {nullptr, nullptr, nullptr};
  Index split_sizes[3] = {0, 0, 0};
  DatasetProvenance provenance;
};

/// Checks one vocabulary array raw[0 .. n): entries [0, first) are padding and must be 0, the
/// others must be distinct (so a raw id names at most one dense id). Sorts a copy of the
/// n - first entries: an allocation bounded by an array the caller holds (a section already
/// checked against the file's size, or a vector in memory).
template <class Fail>
void check_raw_ids(const char* field, const char* what, const std::uint64_t* raw, Index n, Index first,
                   Fail& fail) {
  for (Index i = 0; i < first && i < n; ++i) {
    if (raw[i] != 0) fail(field, concat("entry ", i, " (padding) is ", raw[i], ", not 0"));
  }
  if (n - first < 2) return;
  std::vector<std::uint64_t> sorted(raw + first, raw + n);
  std::sort(sorted.begin(), sorted.end());
  const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
  if (dup == sorted.end()) return;
  const std::uint64_t value = *dup;
  Index a = -1;
  for (Index i = first; i < n; ++i) {
    if (raw[i] != value) continue;
    if (a < 0) {
      a = i;
    } else {
      fail(field, concat(what, " ", a, " and ", i, " both have raw id ", value,
                         " (each raw id must name one dense id)"));
    }
  }
}

/// Checks the cluster ids of every user (offsets and categories already checked): numbered
/// 0, 1, ... by first occurrence in the user's sequence, one category per cluster, at most
/// cluster_max_size clicks per cluster. The scratch is bounded by the longest user.
template <class Fail>
void check_clusters(const DatasetView& v, Fail& fail) {
  const Index gamma = v.provenance.options.cluster_max_size;
  std::vector<Index> size;
  std::vector<Id> cat;
  for (Index u = 0; u < v.num_users; ++u) {
    size.clear();
    cat.clear();
    for (std::uint64_t c = v.user_offsets[u]; c < v.user_offsets[u + 1]; ++c) {
      const std::int32_t id = v.click_clusters[c];
      const auto at = [&] { return concat("click ", c, " (user ", u, ", position ", c - v.user_offsets[u], ")"); };
      if (id < 0 || static_cast<std::size_t>(id) > size.size()) {
        fail("click_clusters", concat(at(), " has cluster id ", id, ", expected 0 to ", size.size(),
                                      " (ids are numbered by first occurrence)"));
      }
      const auto k = static_cast<std::size_t>(id);
      if (k == size.size()) {
        size.push_back(0);
        cat.push_back(v.click_cats[c]);
      }
      if (cat[k] != v.click_cats[c]) {
        fail("click_clusters", concat(at(), " of category ", v.click_cats[c], " is in cluster ", id,
                                      " of category ", cat[k], " (a cluster holds one category)"));
      }
      if (++size[k] > gamma) {
        fail("click_clusters", concat(at(), ": cluster ", id, " has more than cluster_max_size = ", gamma,
                                      " clicks"));
      }
    }
  }
}

/// Checks the counts, every offset and every id of a dataset; calls fail(field, message)
/// (which must throw) at the first problem.
template <class Fail>
void check_dataset_contents(const DatasetView& v, Fail&& fail) {
  if (v.num_items < 1) fail("num_items", concat("must be at least 1, is ", v.num_items));
  if (v.num_cats < 1) fail("num_cats", concat("must be at least 1, is ", v.num_cats));
  if (v.max_len < 1 || v.max_len > kMaxHistoryLength) {
    fail("max_len", concat("must be from 1 to ", kMaxHistoryLength, ", is ", v.max_len));
  }
  if (v.group_size < 1) fail("group_size", concat("must be at least 1, is ", v.group_size));
  if (v.num_users < 0 || v.num_users > std::numeric_limits<std::uint32_t>::max()) {
    fail("num_users", concat("out of range: ", v.num_users));
  }
  if (v.user_offsets[0] != 0) fail("user_offsets", "the first offset is not 0");
  for (Index u = 0; u < v.num_users; ++u) {
    if (v.user_offsets[u + 1] < v.user_offsets[u]) {
      fail("user_offsets", concat("offsets decrease at user ", u));
    }
    if (v.user_offsets[u + 1] - v.user_offsets[u] > std::numeric_limits<std::uint32_t>::max()) {
      fail("user_offsets", concat("user ", u, " has more than 2^32 - 1 clicks"));
    }
  }
  if (v.user_offsets[v.num_users] != static_cast<std::uint64_t>(v.num_clicks)) {
    fail("user_offsets", concat("the last offset is ", v.user_offsets[v.num_users],
                                " but there are ", v.num_clicks, " clicks"));
  }
  {
    const PreprocessOptions& o = v.provenance.options;
    try {
      check_preprocess_options(o);
    } catch (const std::invalid_argument& e) {
      fail("provenance", e.what());
    }
    if (o.max_len != v.max_len) {
      fail("provenance", concat("records max_len ", o.max_len, " but the dataset's history window is ",
                                v.max_len));
    }
    if (o.negatives + 1 != v.group_size) {
      fail("provenance", concat("records ", o.negatives, " negatives per positive but the samples come in "
                                "groups of ", v.group_size));
    }
    const Index expected_ids = o.cluster_max_size > 0 ? v.num_clicks : 0;
    if (v.num_cluster_ids != expected_ids) {
      fail("click_clusters", concat("holds ", v.num_cluster_ids, " cluster ids, expected ", expected_ids,
                                    o.cluster_max_size > 0 ? " (one per click: the provenance records cluster_max_size "
                                                           : " (the provenance records no clustering, cluster_max_size ",
                                    o.cluster_max_size, ")"));
    }
  }
  for (Index u = 0; u < v.num_users; ++u) {
    if (v.user_ids[u] < 1) fail("user_ids", concat("user ", u, " has id ", v.user_ids[u]));
  }
  check_raw_ids("raw_user_ids", "dataset users", v.raw_user_ids, v.num_users, 0, fail);
  for (Index c = 0; c < v.num_clicks; ++c) {
    if (v.click_items[c] < 1 || v.click_items[c] >= v.num_items) {
      fail("click_items", concat("click ", c, " has item id ", v.click_items[c],
                                 " outside [1, ", v.num_items, ")"));
    }
  }
  for (Index c = 0; c < v.num_clicks; ++c) {
    if (v.click_cats[c] < 1 || v.click_cats[c] >= v.num_cats) {
      fail("click_cats", concat("click ", c, " has category id ", v.click_cats[c],
                                " outside [1, ", v.num_cats, ")"));
    }
  }
  if (v.num_cluster_ids > 0) check_clusters(v, fail);
  if (v.item_category[0] != 0) fail("item_category", "entry 0 (padding) is not 0");
  for (Index i = 1; i < v.num_items; ++i) {
    if (v.item_category[i] < 1 || v.item_category[i] >= v.num_cats) {
      fail("item_category", concat("item ", i, " has category id ", v.item_category[i],
                                   " outside [1, ", v.num_cats, ")"));
    }
  }
  check_raw_ids("raw_item_ids", "item ids", v.raw_item_ids, v.num_items, 1, fail);
  check_raw_ids("raw_cat_ids", "category ids", v.raw_cat_ids, v.num_cats, 1, fail);
  for (int s = 0; s < 3; ++s) {
    const char* field = section_name(kTrain + s);
    const Sample* samples = v.splits[s];
    const Index n = v.split_sizes[s];
    if (n % v.group_size != 0) {
      fail(field, concat(n, " samples are not a whole number of groups of ", v.group_size));
    }
    for (Index k = 0; k < n; ++k) {
      const Sample& x = samples[k];
      if (static_cast<Index>(x.user) >= v.num_users) {
        fail(field, concat("sample ", k, " names user ", x.user, " of ", v.num_users));
      }
      const std::uint64_t length = v.user_offsets[x.user + 1] - v.user_offsets[x.user];
      if (x.end > length) {
        fail(field, concat("sample ", k, " ends its history at ", x.end, " but user ", x.user,
                           " has ", length, " clicks"));
      }
      if (x.item < 1 || x.item >= v.num_items) {
        fail(field, concat("sample ", k, " has item id ", x.item, " outside [1, ", v.num_items, ")"));
      }
      if (x.cat < 1 || x.cat >= v.num_cats) {
        fail(field, concat("sample ", k, " has category id ", x.cat, " outside [1, ", v.num_cats, ")"));
      }
      if (x.label != 0 && x.label != 1) {
        fail(field, concat("sample ", k, " has label ", x.label, " (expected 0 or 1)"));
      }
    }
  }
}

inline DatasetView view_of(const DatasetData& d) {
  DatasetView v;
  v.num_items = d.num_items();
  v.num_cats = d.num_cats;
  v.num_users = d.num_users();
  v.num_clicks = static_cast<Index>(d.click_items.size());
  v.max_len = d.max_len;
  v.group_size = d.group_size;
  v.user_offsets = d.user_offsets.data();
  v.user_ids = d.user_ids.data();
  v.raw_user_ids = d.raw_user_ids.data();
  v.click_items = d.click_items.data();
  v.click_cats = d.click_cats.data();
  v.click_clusters = d.click_clusters.data();
  v.num_cluster_ids = static_cast<Index>(d.click_clusters.size());
  v.item_category = d.item_category.data();
  v.raw_item_ids = d.raw_item_ids.data();
  v.raw_cat_ids = d.raw_cat_ids.data();
  v.provenance = d.provenance;
  const std::vector<Sample>* splits[3] = {&d.train, &d.val, &d.test};
  for (int s = 0; s < 3; ++s) {
    v.splits[s] = splits[s]->data();
    v.split_sizes[s] = static_cast<Index>(splits[s]->size());
  }
  return v;
}

inline std::uint64_t align_up(std::uint64_t x, std::uint64_t a) noexcept {
  return (x + a - 1) / a * a;
}

}  // namespace detail

/// Writes `data` to `path` atomically (a temporary file in the same directory, fsync'ed, then
/// renamed over `path`). Throws std::invalid_argument naming the field if `data` is
/// inconsistent, std::runtime_error if the file cannot be written (the temporary is removed).
inline void write_dataset(const std::string& path, const DatasetData& data) {
  DARE_CHECK_ARG(data.user_offsets.size() == data.user_ids.size() + 1,
                 "write_dataset: user_offsets has ", data.user_offsets.size(),
                 " entries, expected user_ids.size() + 1 = ", data.user_ids.size() + 1);
  DARE_CHECK_ARG(data.click_items.size() == data.click_cats.size(), "write_dataset: click_items (",
                 data.click_items.size(), ") and click_cats (", data.click_cats.size(),
                 ") differ in size");
  DARE_CHECK_ARG(data.click_clusters.empty() || data.click_clusters.size() == data.click_items.size(),
                 "write_dataset: click_clusters has ", data.click_clusters.size(),
                 " entries, expected none or one per click: ", data.click_items.size());
  DARE_CHECK_ARG(!data.item_category.empty(), "write_dataset: item_category must hold entry 0");
  DARE_CHECK_ARG(data.raw_user_ids.size() == data.user_ids.size(), "write_dataset: raw_user_ids has ",
                 data.raw_user_ids.size(), " entries, expected one per user: ", data.user_ids.size());
  DARE_CHECK_ARG(data.raw_item_ids.size() == data.item_category.size(), "write_dataset: raw_item_ids has ",
                 data.raw_item_ids.size(), " entries, expected num_items = ", data.item_category.size(),
                 " (entry 0 is padding)");
  DARE_CHECK_ARG(data.num_cats >= 1 && data.raw_cat_ids.size() == static_cast<std::size_t>(data.num_cats),
                 "write_dataset: raw_cat_ids has ", data.raw_cat_ids.size(), " entries, expected num_cats = ",
                 data.num_cats, " (entry 0 is padding)");
  detail::check_dataset_contents(detail::view_of(data), [](const char* field, const std::string& what) {
    detail::throw_invalid("write_dataset: field '", field, "': ", what);
  });

  detail::DatasetHeader header{};
  std::memcpy(header.magic, detail::kDatasetMagic, sizeof header.magic);
  header.version = detail::kDatasetVersion;
  header.header_bytes = sizeof(detail::DatasetHeader);
  header.byte_order = detail::kByteOrderMark;
  header.sample_bytes = sizeof(Sample);
  header.num_items = data.num_items();
  header.num_cats = data.num_cats;
  header.num_users = data.num_users();
  header.num_clicks = static_cast<std::int64_t>(data.click_items.size());
  header.max_len = data.max_len;
  header.group_size = data.group_size;
  header.num_train = static_cast<std::int64_t>(data.train.size());
  header.num_val = static_cast<std::int64_t>(data.val.size());
  header.num_test = static_cast<std::int64_t>(data.test.size());
  header.num_cluster_ids = static_cast<std::int64_t>(data.click_clusters.size());

  const detail::ProvenanceRecord provenance = detail::to_record(data.provenance);
  const void* payload[detail::kNumSections] = {
      &provenance,
      data.user_offsets.data(),
      data.user_ids.data(),
      data.raw_user_ids.data(),
      data.click_items.data(),
      data.click_cats.data(),
      data.click_clusters.data(),
      data.item_category.data(),
      data.raw_item_ids.data(),
      data.raw_cat_ids.data(),
      data.train.data(),
      data.val.data(),
      data.test.data()};
  const std::uint64_t bytes[detail::kNumSections] = {
      sizeof provenance,
      data.user_offsets.size() * sizeof(std::uint64_t),
      data.user_ids.size() * sizeof(Id),
      data.raw_user_ids.size() * sizeof(std::uint64_t),
      data.click_items.size() * sizeof(Id),
      data.click_cats.size() * sizeof(Id),
      data.click_clusters.size() * sizeof(std::int32_t),
      data.item_category.size() * sizeof(Id),
      data.raw_item_ids.size() * sizeof(std::uint64_t),
      data.raw_cat_ids.size() * sizeof(std::uint64_t),
      data.train.size() * sizeof(Sample),
      data.val.size() * sizeof(Sample),
      data.test.size() * sizeof(Sample)};
  std::uint64_t offset = detail::align_up(sizeof(detail::DatasetHeader), detail::kSectionAlign);
  for (int s = 0; s < detail::kNumSections; ++s) {
    header.sections[s] = {offset, bytes[s], detail::xxh64(payload[s], bytes[s])};
    offset = detail::align_up(offset + bytes[s], detail::kSectionAlign);
  }
  header.file_bytes = offset;
  header.header_checksum = detail::header_checksum(header);

  AtomicFile file(path, "dataset");
  static constexpr char kZeros[detail::kSectionAlign] = {};
  file.write(&header, sizeof header);
  std::uint64_t at = sizeof header;
  for (int s = 0; s < detail::kNumSections; ++s) {
    file.write(kZeros, header.sections[s].offset - at);
    file.write(payload[s], bytes[s]);
    at = header.sections[s].offset + bytes[s];
  }
  file.write(kZeros, header.file_bytes - at);
  file.commit();
}

/// True when the file at `path` begins with "DARE", the prefix of every file dare writes:
/// the tools then open it as a dataset (so a damaged one is reported as such) instead of
/// parsing it as a raw log. False for a file that cannot be read.
inline bool looks_like_dare_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO without a writer must not hang; it then reads nothing.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  char head[4] = {};
  const ssize_t got = ::read(fd, head, sizeof head);
  ::close(fd);
  return got == 4 && std::memcmp(head, detail::kDatasetMagic, 4) == 0;
}

/// A dataset file mapped read-only. Move-only; the mapping lives as long as the object.
class Dataset {
 public:
  /// Maps and validates `path`: header, byte order, version, sizes, every section's checksum
  /// (skipped when `verify_checksums` is false, e.g. for a file just written) and every id
  /// and offset. Throws FormatError naming the path and the field at fault.
  static Dataset open(const std::string& path, bool verify_checksums = true) {
    Dataset ds;
    ds.path_ = path;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(detail::concat("cannot open '", path, "': ", std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      throw std::runtime_error(detail::concat("cannot stat '", path, "': ", std::strerror(err)));
    }
    const auto file_bytes = static_cast<std::uint64_t>(st.st_size);
    if (file_bytes < sizeof(detail::DatasetHeader)) {
      ::close(fd);
      throw FormatError(path, 0, "header",
                        detail::concat("truncated: the file has ", file_bytes,
                                       " bytes, the header alone needs ",
                                       sizeof(detail::DatasetHeader)));
    }
    void* map = ::mmap(nullptr, file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    const int map_err = errno;
    ::close(fd);  // the mapping keeps the file
    if (map == MAP_FAILED) {
      throw std::runtime_error(detail::concat("cannot map '", path, "': ", std::strerror(map_err)));
    }
    ds.map_ = map;
    ds.map_bytes_ = file_bytes;
    ds.validate(verify_checksums);  // ds's destructor unmaps if this throws
    return ds;
  }

  Dataset(Dataset&& other) noexcept { *this = std::move(other); }
  Dataset& operator=(Dataset&& other) noexcept {
    if (this != &other) {
      unmap();
      path_ = std::move(other.path_);
      map_ = std::exchange(other.map_, nullptr);
      map_bytes_ = std::exchange(other.map_bytes_, 0);
      view_ = other.view_;
    }
    return *this;
  }
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;
  ~Dataset() { unmap(); }

  const std::string& path() const noexcept { return path_; }
  /// Exclusive bound of item ids (largest item id + 1): the item table's row count.
  Index num_items() const noexcept { return view_.num_items; }
  /// Exclusive bound of category ids (largest category id + 1).
  Index num_cats() const noexcept { return view_.num_cats; }
  Index num_users() const noexcept { return view_.num_users; }
  Index num_clicks() const noexcept { return view_.num_clicks; }
  /// History window length L.
  Index max_len() const noexcept { return view_.max_len; }
  /// Samples come in adjacent groups of this size: a positive, then its negatives, sharing
  /// one history (1 + the number of negatives per positive).
  Index group_size() const noexcept { return view_.group_size; }

  /// Training samples, already shuffled group by group (groups stay whole and in order).
  ConstSpan<Sample> train() const noexcept { return split(0); }
  ConstSpan<Sample> val() const noexcept { return split(1); }
  ConstSpan<Sample> test() const noexcept { return split(2); }

  /// User u's item ids in time order.
  ConstSpan<Id> user_items(Index u) const {
    check_user(u);
    return {view_.click_items + view_.user_offsets[u], user_length(u)};
  }
  /// User u's category ids in time order.
  ConstSpan<Id> user_cats(Index u) const {
    check_user(u);
    return {view_.click_cats + view_.user_offsets[u], user_length(u)};
  }
  /// Whether the dataset stores TWIN-V2 cluster ids (preprocessed with cluster_max_size > 0).
  bool has_clusters() const noexcept { return view_.provenance.options.cluster_max_size > 0; }
  /// γ, the most clicks a cluster holds; 0 when the dataset has no clusters.
  Index cluster_max_size() const noexcept { return view_.provenance.options.cluster_max_size; }
  /// User u's cluster id of each click in time order (0 .. C_u - 1, by first occurrence);
  /// empty when the dataset has no clusters.
  ConstSpan<std::int32_t> user_clusters(Index u) const {
    check_user(u);
    if (view_.num_cluster_ids == 0) return {};
    return {view_.click_clusters + view_.user_offsets[u], user_length(u)};
  }
  /// Number of clicks of user u.
  Index user_length(Index u) const {
    check_user(u);
    return static_cast<Index>(view_.user_offsets[u + 1] - view_.user_offsets[u]);
  }
  /// The dense user id (from 1, first-seen order in the raw log) of dataset user u.
  Id user_id(Index u) const {
    check_user(u);
    return view_.user_ids[u];
  }
  /// The raw user id (as in the log) of each dataset user, indexed like user_id().
  ConstSpan<std::uint64_t> raw_user_ids() const noexcept { return {view_.raw_user_ids, view_.num_users}; }
  /// The raw item id of each dense item id (index = dense id; entry 0, padding, is 0).
  ConstSpan<std::uint64_t> raw_item_ids() const noexcept { return {view_.raw_item_ids, view_.num_items}; }
  /// The raw category id of each dense category id (index = dense id; entry 0 is 0).
  ConstSpan<std::uint64_t> raw_cat_ids() const noexcept { return {view_.raw_cat_ids, view_.num_cats}; }
  /// The raw log (size, XXH64) and the options the dataset was made from.
  const DatasetProvenance& provenance() const noexcept { return view_.provenance; }

  /// The category a sampled negative of `item` carries; item 0 (padding) has category 0.
  Id item_category(Id item) const {
    DARE_CHECK_ARG(item >= 0 && item < view_.num_items, "Dataset::item_category: item id ", item,
                   " outside [0, ", view_.num_items, ")");
    return view_.item_category[item];
  }

  /// Raw arrays, for code that walks the whole dataset (batch filling).
  const detail::DatasetView& view() const noexcept { return view_; }

 private:
  Dataset() = default;

  ConstSpan<Sample> split(int s) const noexcept { return {view_.splits[s], view_.split_sizes[s]}; }

  void check_user(Index u) const {
    DARE_CHECK_ARG(u >= 0 && u < view_.num_users, "Dataset: user index ", u, " outside [0, ",
                   view_.num_users, ")");
  }

  void unmap() noexcept {
    if (map_ != nullptr) ::munmap(map_, map_bytes_);
    map_ = nullptr;
    map_bytes_ = 0;
  }

  [[noreturn]] void fail(const char* field, const std::string& what) const {
    throw FormatError(path_, 0, field, what);
  }

  void validate(bool verify_checksums) {
    const auto* base = static_cast<const unsigned char*>(map_);
    detail::DatasetHeader h;
    std::memcpy(&h, base, sizeof h);
    if (std::memcmp(h.magic, detail::kDatasetMagic, sizeof h.magic) != 0) {
      fail("magic", "not a dare dataset file (bad magic number)");
    }
    if (h.byte_order != detail::kByteOrderMark) {
      fail("byte_order", "written on a machine of the other byte order");
    }
    if (h.version != detail::kDatasetVersion) {
      fail("version", detail::concat("unsupported version ", h.version, " (this build reads ",
                                     detail::kDatasetVersion, ")",
                                     h.version < detail::kDatasetVersion
                                         ? h.version < 2 ? "; it predates the vocabulary and provenance sections: "
                                                           "preprocess the raw log again"
                                                         : "; it predates the click_clusters section: preprocess "
                                                           "the raw log again"
                                         : ""));
    }
    if (h.header_bytes != sizeof h) {
      fail("header_bytes", detail::concat("is ", h.header_bytes, ", expected ", sizeof h));
    }
    if (h.sample_bytes != sizeof(Sample)) {
      fail("sample_bytes", detail::concat("is ", h.sample_bytes, ", expected ", sizeof(Sample)));
    }
    if (h.header_checksum != detail::header_checksum(h)) {
      fail("header", "checksum mismatch: the header is corrupted");
    }
    if (h.file_bytes != map_bytes_) {
      // Name the first section the short (or long) file cuts into.
      const char* field = "file_bytes";
      for (int s = 0; s < detail::kNumSections; ++s) {
        if (h.sections[s].offset + h.sections[s].bytes > map_bytes_) {
          field = detail::section_name(s);
          break;
        }
      }
      fail(field, detail::concat(map_bytes_ < h.file_bytes ? "truncated" : "trailing bytes",
                                 ": the file has ", map_bytes_, " bytes, its header says ",
                                 h.file_bytes));
    }
    const std::int64_t counts[] = {h.num_items,  h.num_cats,  h.num_users, h.num_clicks, h.max_len,
                                   h.group_size, h.num_train, h.num_val,   h.num_test, h.num_cluster_ids};
    const char* count_names[] = {"num_items",  "num_cats",  "num_users", "num_clicks", "max_len",
                                 "group_size", "num_train", "num_val",   "num_test",   "num_cluster_ids"};
    for (int k = 0; k < 10; ++k) {
      if (counts[k] < 0 || counts[k] > (std::int64_t{1} << 50)) {
        fail(count_names[k], detail::concat("implausible count ", counts[k]));
      }
    }
    const std::uint64_t expected[detail::kNumSections] = {
        sizeof(detail::ProvenanceRecord),
        static_cast<std::uint64_t>(h.num_users + 1) * sizeof(std::uint64_t),
        static_cast<std::uint64_t>(h.num_users) * sizeof(Id),
        static_cast<std::uint64_t>(h.num_users) * sizeof(std::uint64_t),
        static_cast<std::uint64_t>(h.num_clicks) * sizeof(Id),
        static_cast<std::uint64_t>(h.num_clicks) * sizeof(Id),
        static_cast<std::uint64_t>(h.num_cluster_ids) * sizeof(std::int32_t),
        static_cast<std::uint64_t>(h.num_items) * sizeof(Id),
        static_cast<std::uint64_t>(h.num_items) * sizeof(std::uint64_t),
        static_cast<std::uint64_t>(h.num_cats) * sizeof(std::uint64_t),
        static_cast<std::uint64_t>(h.num_train) * sizeof(Sample),
        static_cast<std::uint64_t>(h.num_val) * sizeof(Sample),
        static_cast<std::uint64_t>(h.num_test) * sizeof(Sample)};
    for (int s = 0; s < detail::kNumSections; ++s) {
      const detail::SectionEntry& e = h.sections[s];
      if (e.bytes != expected[s]) {
        fail(detail::section_name(s), detail::concat("section holds ", e.bytes,
                                                     " bytes, the counts say ", expected[s]));
      }
      if (e.offset % detail::kSectionAlign != 0 || e.offset < sizeof h ||
          e.offset > map_bytes_ || e.bytes > map_bytes_ - e.offset) {
        fail(detail::section_name(s), detail::concat("section [", e.offset, ", +", e.bytes,
                                                     ") lies outside the file of ", map_bytes_,
                                                     " bytes"));
      }
      if (verify_checksums && detail::xxh64(base + e.offset, e.bytes) != e.checksum) {
        fail(detail::section_name(s), "checksum mismatch: the data is corrupted");
      }
    }
    auto at = [&](int s) { return base + h.sections[s].offset; };
    view_.num_items = h.num_items;
    view_.num_cats = h.num_cats;
    view_.num_users = h.num_users;
    view_.num_clicks = h.num_clicks;
    view_.max_len = h.max_len;
    view_.group_size = h.group_size;
    view_.user_offsets = reinterpret_cast<const std::uint64_t*>(at(detail::kUserOffsets));
    view_.user_ids = reinterpret_cast<const Id*>(at(detail::kUserIds));
    view_.raw_user_ids = reinterpret_cast<const std::uint64_t*>(at(detail::kRawUserIds));
    view_.click_items = reinterpret_cast<const Id*>(at(detail::kClickItems));
    view_.click_cats = reinterpret_cast<const Id*>(at(detail::kClickCats));
    view_.click_clusters = reinterpret_cast<const std::int32_t*>(at(detail::kClickClusters));
    view_.num_cluster_ids = h.num_cluster_ids;
    view_.item_category = reinterpret_cast<const Id*>(at(detail::kItemCategory));
    view_.raw_item_ids = reinterpret_cast<const std::uint64_t*>(at(detail::kRawItemIds));
    view_.raw_cat_ids = reinterpret_cast<const std::uint64_t*>(at(detail::kRawCatIds));
    {
      detail::ProvenanceRecord record;
      std::memcpy(&record, at(detail::kProvenance), sizeof record);
      view_.provenance = detail::from_record(record, [this](const std::string& what) { fail("provenance", what); });
    }
    view_.splits[0] = reinterpret_cast<const Sample*>(at(detail::kTrain));
    view_.splits[1] = reinterpret_cast<const Sample*>(at(detail::kVal));
    view_.splits[2] = reinterpret_cast<const Sample*>(at(detail::kTest));
    view_.split_sizes[0] = h.num_train;
    view_.split_sizes[1] = h.num_val;
    view_.split_sizes[2] = h.num_test;
    if (view_.num_items < 1) fail("num_items", "must be at least 1 (entry 0 is padding)");
    detail::check_dataset_contents(view_, [this](const char* field, const std::string& what) {
      fail(field, what);
    });
  }

  std::string path_;
  void* map_ = nullptr;
  std::uint64_t map_bytes_ = 0;
  detail::DatasetView view_;
};

}  // namespace dare
