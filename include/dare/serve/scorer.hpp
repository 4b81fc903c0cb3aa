// dare/serve/scorer.hpp — serving a model file: one user's history in raw ids against M
// candidates, probabilities (and the top N) out, from any number of threads.
//
// Design. A Scorer loads a model file once (dare/serve/model_file.hpp: its kind picks the
// model type, with Dynamic widths) and keeps the model's parameters immutable from then on;
// every call works in a scratch (SequenceModel::ServeScratch) taken from a pool under a mutex
// held only to take and return it, so calls from several threads run in parallel, each at
// the model's single-thread speed, and a thread that calls repeatedly reuses a warm scratch
// instead of allocating. The soft-search models search all candidates at once with
// MultiSearch (see sequence_model.hpp).
//
// Raw ids are translated through the file's vocabulary. An id the vocabulary lacks becomes
// id 0, the padding row, as dare_predict does: a history behaviour with an unknown item is
// masked like padding; a candidate with an unknown item is embedded with the padding row;
// unknown categories likewise. Each call returns how many it met, so a caller can tell a
// score that rests on nothing from one that does not.
//
// ScorerOptions::search picks the keys the search's top-K selection reads: float (the
// default, the model's own arithmetic), or a bf16 / int8 copy of the attention tables made
// once here at load (search/lowp_search.hpp; the file is only read): only which K positions
// are kept can change, their scores and everything after stay float. Measured on the
// built-in log (README, serving section): neither bf16 nor int8 changes test AUC (recall
// of float's top 20 above 0.998), and neither makes a call faster at L = 200 (the head
// dominates, and the exact rescoring eats the cheaper search): keep float.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <numeric>
#include <type_traits>
#include <string>
#include <unordered_map>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/models/zoo.hpp"
#include "dare/serve/model_file.hpp"
#include "dare/serve/model_kinds.hpp"

namespace dare {

/// How many ids of a call the model's vocabulary lacked (see the header note).
struct UnknownIdCounts {
  Index history_items = 0;
  Index candidate_items = 0;
  Index categories = 0;
  Index total() const noexcept { return history_items + candidate_items + categories; }
};

/// How a Scorer serves its model file; see the header note.
struct ScorerOptions {
  /// The keys the top-K search selects on. Reduced precisions need a model with a top-K
  /// dot-product search (DARE, TWIN and its variants but the hard search; not DIN).
  SearchPrecision search = SearchPrecision::Float;
};

/// A loaded model file, ready to score; see the header note.
class Scorer {
 public:
  /// Loads the model file `path` (FormatError naming the file and field if it cannot);
  /// std::invalid_argument when options.search is reduced and the model has no top-K
  /// dot-product search.
  explicit Scorer(const std::string& path, ScorerOptions options = {})
      : info_(read_model_file_info(path)), options_(options) {
    impl_ = make(info_.kind(), path);
    index(info_.raw_item_ids, items_);
    index(info_.raw_cat_ids, cats_);
  }

  const ModelFileInfo& info() const noexcept { return info_; }
  const ScorerOptions& options() const noexcept { return options_; }
  /// Bytes of the reduced-precision key tables (0 with the float search).
  std::size_t search_table_bytes() const noexcept { return impl_->search_table_bytes(); }
  const std::string& kind() const { return kind_; }
  /// The longest history a call may pass (the model's window).
  Index max_len() const noexcept { return max_len_; }

  /// prob[c] = the click probability of candidate c (cand_item[c], cand_cat[c]) after the
  /// history (hist_item, hist_cat)[0, len), oldest first, all raw ids. Thread-safe.
  UnknownIdCounts score(const std::uint64_t* hist_item, const std::uint64_t* hist_cat, Index len,
                        const std::uint64_t* cand_item, const std::uint64_t* cand_cat, Index m, float* prob) const {
    DARE_CHECK_ARG(len >= 0 && len <= max_len_, "history length ", len, " must be from 0 to ", max_len_);
    DARE_CHECK_ARG(m >= 0, "candidate count must be non-negative, got ", m);
    DARE_CHECK_ARG(len == 0 || (hist_item && hist_cat), "null history arrays");
    DARE_CHECK_ARG(m == 0 || (cand_item && cand_cat && prob), "null candidate or output arrays");
    std::unique_ptr<Pooled> p = take();
    UnknownIdCounts unknown;
    p->hist_item.resize(static_cast<std::size_t>(len));
    p->hist_cat.resize(static_cast<std::size_t>(len));
    for (Index i = 0; i < len; ++i) {
      const Id item = lookup(items_, hist_item[i]);
      const Id cat = lookup(cats_, hist_cat[i]);
      unknown.history_items += item == 0 ? 1 : 0;
      unknown.categories += item != 0 && cat == 0 ? 1 : 0;
      p->hist_item[static_cast<std::size_t>(i)] = item;
      p->hist_cat[static_cast<std::size_t>(i)] = item == 0 ? 0 : cat;  // a masked behaviour is all padding
    }
    p->cand_item.resize(static_cast<std::size_t>(m));
    p->cand_cat.resize(static_cast<std::size_t>(m));
    for (Index c = 0; c < m; ++c) {
      const Id item = lookup(items_, cand_item[c]);
      const Id cat = lookup(cats_, cand_cat[c]);
      unknown.candidate_items += item == 0 ? 1 : 0;
      unknown.categories += cat == 0 ? 1 : 0;
      p->cand_item[static_cast<std::size_t>(c)] = item;
      p->cand_cat[static_cast<std::size_t>(c)] = cat;
    }
    impl_->score(*p, len, m, prob);
    give(std::move(p));
    return unknown;
  }

  /// The n candidates with the highest probabilities (n <= m), best first; ties go to the
  /// earlier candidate. Thread-safe.
  UnknownIdCounts top(const std::uint64_t* hist_item, const std::uint64_t* hist_cat, Index len,
                      const std::uint64_t* cand_item, const std::uint64_t* cand_cat, Index m, Index n,
                      Index* best, float* best_prob = nullptr) const {
    DARE_CHECK_ARG(n >= 0 && n <= m, "top n (", n, ") must be from 0 to the candidate count ", m);
    std::vector<float> prob(static_cast<std::size_t>(m));
    const UnknownIdCounts unknown = score(hist_item, hist_cat, len, cand_item, cand_cat, m, prob.data());
    std::vector<Index> order(static_cast<std::size_t>(m));
    std::iota(order.begin(), order.end(), Index{0});
    std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](Index a, Index b) {
      const float pa = prob[static_cast<std::size_t>(a)], pb = prob[static_cast<std::size_t>(b)];
      return pa > pb || (pa == pb && a < b);
    });
    for (Index i = 0; i < n; ++i) {
      best[i] = order[static_cast<std::size_t>(i)];
      if (best_prob) best_prob[i] = prob[static_cast<std::size_t>(best[i])];
    }
    return unknown;
  }

 private:
  // A call's dense ids and the model's scratch.
  struct Pooled {
    std::vector<Id> hist_item, hist_cat, cand_item, cand_cat;
    std::shared_ptr<void> scratch;  // the model type's ServeScratch
  };
  struct Impl {
    virtual ~Impl() = default;
    virtual void score(Pooled& p, Index len, Index m, float* prob) const = 0;
    virtual std::size_t search_table_bytes() const noexcept = 0;
  };
  template <class Model>
  struct ModelImpl final : Impl {
    ModelImpl(const ModelFileInfo& info, const std::string& path, SearchPrecision search)
        : model(info.model_config()) {
      load_model_file(path, model);
      if (search != SearchPrecision::Float) {
        if constexpr (Model::kBatchedSearch && std::is_same_v<typename Model::scalar_type, float>) {
          keys = std::make_unique<typename Model::LowpKeys>(model.make_lowp_keys(search));
        } else {
          detail::throw_invalid("a ", to_string(search), " search needs a model with a top-K dot-product search; ",
                                path, " holds a ", info.kind(), " model");
        }
      }
    }
    void score(Pooled& p, Index len, Index m, float* prob) const override {
      using Scratch = typename Model::ServeScratch;
      if (!p.scratch) p.scratch = std::make_shared<Scratch>(model, keys.get());
      model.score_candidates(p.hist_item.data(), p.hist_cat.data(), len, p.cand_item.data(), p.cand_cat.data(), m, prob,
                             *static_cast<Scratch*>(p.scratch.get()));
    }
    std::size_t search_table_bytes() const noexcept override { return keys ? keys->bytes() : 0; }
    Model model;
    std::unique_ptr<typename Model::LowpKeys> keys;
  };

  std::unique_ptr<Impl> make(const std::string& kind, const std::string& path) {
    kind_ = kind;
    max_len_ = info_.model_config().max_len;
    return with_model_kind(kind, path, [&](auto type) -> std::unique_ptr<Impl> {
      return std::make_unique<ModelImpl<typename decltype(type)::type>>(info_, path, options_.search);
    });
  }

  static void index(const std::vector<std::uint64_t>& raw, std::unordered_map<std::uint64_t, Id>& out) {
    out.reserve(raw.size());
    for (std::size_t d = 1; d < raw.size(); ++d) out.emplace(raw[d], static_cast<Id>(d));
  }
  static Id lookup(const std::unordered_map<std::uint64_t, Id>& map, std::uint64_t raw) {
    const auto it = map.find(raw);
    return it == map.end() ? 0 : it->second;
  }

  std::unique_ptr<Pooled> take() const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!pool_.empty()) {
        std::unique_ptr<Pooled> p = std::move(pool_.back());
        pool_.pop_back();
        return p;
      }
    }
    return std::make_unique<Pooled>();
  }
  void give(std::unique_ptr<Pooled> p) const {
    std::lock_guard<std::mutex> lock(mutex_);
    pool_.push_back(std::move(p));
  }

  ModelFileInfo info_;
  ScorerOptions options_;
  std::string kind_;
  Index max_len_ = 0;
  std::unique_ptr<Impl> impl_;
  std::unordered_map<std::uint64_t, Id> items_, cats_;
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<Pooled>> pool_;
};

}  // namespace dare
