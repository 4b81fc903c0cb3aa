// dare/data/batch.hpp — a mini-batch in the layout the models read, filled from a Dataset.
//
// Design note. The dataset stores each user's clicks once and a sample only names
// (user, end), so a batch materialises the histories: row b of hist_item / hist_cat is the
// L-long window of sample b, LEFT-padded with id 0 and most recent last:
//     [0, ..., 0, c_{end-len}, ..., c_{end-1}],  len = min(end, L).
// Position ("time") ids are not stored: the behaviour at index j of the window has time id
// L - j (the most recent, j = L - 1, has 1; the target has 0). history_time_id() computes
// it; the models add the time embedding themselves. When the dataset stores TWIN-V2 clusters
// (dataset.hpp, clustering.hpp), hist_group holds the cluster id of every window position
// the same way (padding 0; ids are the user's, so only comparisons within one row mean
// anything), for SequenceBatch::hist_group; otherwise it is empty. Batches are reused: fill_batch() only
// resizes vectors, so once a Batch has seen the largest batch size it never allocates again.
// The B x L arrays are 64-byte aligned for the SIMD gathers downstream.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "dare/core/aligned.hpp"
#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/data/dataset.hpp"

namespace dare {

/// Time (position) id of the behaviour at index j of an L-long history window: L - j.
/// The most recent behaviour (j = L - 1) has 1; the target has 0.
constexpr Id history_time_id(Index j, Index max_len) noexcept { return static_cast<Id>(max_len - j); }

/// One mini-batch, structure of arrays.
struct Batch {
  /// Number of samples B.
  Index size = 0;
  /// History window length L (the dataset's max_len).
  Index max_len = 0;
  /// B x L, row-major, left-padded with 0, most recent last.
  AlignedVector<Id> hist_item;
  AlignedVector<Id> hist_cat;
  /// B x L like hist_item: the cluster id (within the user's sequence) of each position,
  /// padding 0; empty when the dataset has no clusters.
  AlignedVector<std::int32_t> hist_group;
  /// Number of real (non-padding) behaviours of each row: they occupy columns L - len .. L-1.
  std::vector<Index> hist_len;
  std::vector<Id> target_item;
  std::vector<Id> target_cat;
  /// 1 for a click, 0 for a sampled negative.
  std::vector<float> label;
  /// Dataset user index of each sample (groups samples for GAUC).
  std::vector<std::uint32_t> user;

  /// Row b of hist_item / hist_cat.
  const Id* hist_item_row(Index b) const { return hist_item.data() + b * max_len; }
  const Id* hist_cat_row(Index b) const { return hist_cat.data() + b * max_len; }
  /// Row b of hist_group, or null when the batch has no group ids.
  const std::int32_t* hist_group_row(Index b) const {
    return hist_group.empty() ? nullptr : hist_group.data() + b * max_len;
  }
};

/// Fills `batch` with samples[order[0]], ..., samples[order[count - 1]] (or samples[0 ..
/// count) when `order` is null). `samples` must come from `dataset` (e.g. dataset.train());
/// the order indices are trusted (DARE_ASSERT), the samples' users and ends are checked.
inline void fill_batch(const Dataset& dataset, const Sample* samples, const Index* order,
                       Index count, Batch& batch) {
  DARE_CHECK_ARG(count >= 0, "fill_batch: count must be >= 0, got ", count);
  DARE_CHECK_ARG(count == 0 || samples != nullptr, "fill_batch: samples is null");
  const detail::DatasetView& v = dataset.view();
  const Index L = v.max_len;
  const auto n = static_cast<std::size_t>(count);
  batch.size = count;
  batch.max_len = L;
  batch.hist_item.resize(n * static_cast<std::size_t>(L));
  batch.hist_cat.resize(n * static_cast<std::size_t>(L));
  const bool groups = v.num_cluster_ids > 0;
  batch.hist_group.resize(groups ? n * static_cast<std::size_t>(L) : 0);
  batch.hist_len.resize(n);
  batch.target_item.resize(n);
  batch.target_cat.resize(n);
  batch.label.resize(n);
  batch.user.resize(n);
  for (Index b = 0; b < count; ++b) {
    Index s = b;
    if (order != nullptr) {
      s = order[b];
      DARE_ASSERT(s >= 0);
    }
    const Sample& x = samples[s];
    DARE_CHECK_ARG(static_cast<Index>(x.user) < v.num_users, "fill_batch: sample ", s,
                   " names user ", x.user, " but the dataset has ", v.num_users);
    const std::uint64_t first = v.user_offsets[x.user];
    DARE_CHECK_ARG(x.end <= v.user_offsets[x.user + 1] - first, "fill_batch: sample ", s,
                   " ends its history at ", x.end, " beyond user ", x.user, "'s ",
                   v.user_offsets[x.user + 1] - first, " clicks");
    const Index len = x.end < static_cast<std::uint64_t>(L) ? static_cast<Index>(x.end) : L;
    const std::uint64_t from = first + x.end - static_cast<std::uint64_t>(len);
    Id* items = batch.hist_item.data() + b * L;
    Id* cats = batch.hist_cat.data() + b * L;
    const auto pad = static_cast<std::size_t>(L - len);
    std::memset(items, 0, pad * sizeof(Id));
    std::memset(cats, 0, pad * sizeof(Id));
    std::memcpy(items + pad, v.click_items + from, static_cast<std::size_t>(len) * sizeof(Id));
    std::memcpy(cats + pad, v.click_cats + from, static_cast<std::size_t>(len) * sizeof(Id));
    if (groups) {
      std::int32_t* group = batch.hist_group.data() + b * L;
      std::memset(group, 0, pad * sizeof(std::int32_t));
      std::memcpy(group + pad, v.click_clusters + from, static_cast<std::size_t>(len) * sizeof(std::int32_t));
    }
    batch.hist_len[static_cast<std::size_t>(b)] = len;
    batch.target_item[static_cast<std::size_t>(b)] = x.item;
    batch.target_cat[static_cast<std::size_t>(b)] = x.cat;
    batch.label[static_cast<std::size_t>(b)] = static_cast<float>(x.label);
    batch.user[static_cast<std::size_t>(b)] = x.user;
  }
}

/// As above, with the samples given as a span: every order index is checked against it.
inline void fill_batch(const Dataset& dataset, ConstSpan<Sample> samples, const Index* order,
                       Index count, Batch& batch) {
  DARE_CHECK_ARG(count >= 0, "fill_batch: count must be >= 0, got ", count);
  if (order == nullptr) {
    DARE_CHECK_ARG(count <= samples.size(), "fill_batch: count ", count, " exceeds the ",
                   samples.size(), " samples");
  } else {
    for (Index b = 0; b < count; ++b) {
      DARE_CHECK_ARG(order[b] >= 0 && order[b] < samples.size(), "fill_batch: order[", b,
                     "] = ", order[b], " outside [0, ", samples.size(), ")");
    }
  }
  fill_batch(dataset, samples.data(), order, count, batch);
}

}  // namespace dare
