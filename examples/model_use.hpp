// examples/model_use.hpp — what dare_eval and dare_predict share: the model type of a model
// file, the input (a raw log preprocessed as the model's data was, or a dataset file), and
// the translation of the input's ids into the model's.
//
// Kinds. A model file names its kind (dare, twin, twin-hard, twin-proj, twin-notr, twin-4e,
// din); load_model instantiates each with Dynamic widths, which read a file written by a
// fixed-width model of the same kind (the checkpoint's format does not depend on how the
// widths were fixed), once for all the tools (examples/lib/model_use.cpp).
//
// Ids. Preprocessing numbers raw ids per file. The input's dense ids are translated through
// raw ids into the model's: the rule for a raw id the model's vocabulary lacks is id 0, the
// padding row. In a history such a behaviour is masked like padding (the model never attends
// to it); as a target item it is embedded with the padding row (a row training never moves,
// so its score says only what the history and the category say); an unknown category
// likewise. Every such id is counted and reported. When the input's vocabulary is the
// model's own (the same log), nothing is translated.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dare/dare.hpp"

namespace dare_tools {

/// A model file's model, loaded, behind a type-independent interface: the model types are
/// instantiated once, in examples/lib/model_use.cpp, for every tool that uses it.
class LoadedModel {
 public:
  virtual ~LoadedModel() = default;
  /// dare::evaluate_split with this model.
  virtual dare::EvalMetrics evaluate(const dare::Dataset& data, dare::ConstSpan<dare::Sample> split, dare::Index chunk,
                                     bool drop_last, const dare::BatchTransform& transform) = 0;
  /// The model's predict().
  virtual void predict(const dare::SequenceBatch& batch, float* prob) = 0;
  virtual dare::nn::InferenceStats inference_stats() const = 0;
  /// For dare_analyze retrieval: the window positions the model's search keeps for every
  /// sample of `batch`, best first (by attention weight, ties to the more recent position),
  /// K per sample into positions[s * K, s * K + K); returns K, or 0 when the model's selection
  /// is not K window positions (SDIM weighs every position, TWIN-V2 keeps clusters).
  virtual dare::Index search(const dare::SequenceBatch& batch, std::vector<dare::Index>& positions) = 0;
  /// dare::learned_correlation (analysis/retrieval.hpp) into out[0, n); false, out untouched,
  /// for a model without one (DIN's logit is an MLP).
  virtual bool correlation(dare::Id target_cat, const dare::Id* cats, const dare::Id* times, dare::Index n,
                           float* out) const = 0;
  /// The model's predict(), keeping each sample's main head input (before its BatchNorm):
  /// head_width() values per sample appended to `rows` (dare_analyze discriminability).
  virtual void predict_head_input(const dare::SequenceBatch& batch, float* prob, std::vector<float>& rows) = 0;
  virtual dare::Index head_width() const = 0;
};

/// Loads the model file `path` (described by `info`) into a model of its kind (dare, twin,
/// twin-hard, twin-proj, twin-notr, twin-4e, din, each with Dynamic widths) with `threads`
/// workers, and checks that `data`'s history window is the model's.
std::unique_ptr<LoadedModel> load_model(const dare::ModelFileInfo& info, const std::string& path,
                                        const dare::Dataset& data, int threads);

/// The preprocessing the model's data went through, from its "prep." entries.
inline dare::PreprocessOptions preprocess_options(const dare::ModelFileInfo& info, dare::RawFormat& format) {
  dare::PreprocessOptions o;
  format = dare::parse_raw_format(info.get("prep.format"), "prep.format");
  o.min_clicks = info.get_index("prep.min_clicks", 1, dare::Index{1} << 40);
  o.train_windows = info.get_index("prep.train_windows", 0, dare::Index{1} << 20);
  o.stride = info.get_index("prep.stride", 1, dare::Index{1} << 20);
  o.max_len = info.get_index("prep.max_len", 1, dare::kMaxHistoryLength);
  o.negatives = info.get_index("prep.negatives", 0, dare::kMaxNegatives);
  // Model files from before TWIN-V2's clusters have no entry: no clustering.
  if (info.find("prep.cluster_max_size") != nullptr) {
    o.cluster_max_size = info.get_index("prep.cluster_max_size", 0, dare::Index{4294967295LL});
  }
  o.seed = static_cast<std::uint64_t>(std::stoull(info.get("prep.seed")));
  o.skip_malformed = info.get_bool("prep.skip_malformed");
  o.tmall_four_digit_dates_only = info.get_bool("prep.tmall_four_digit_dates_only");
  const std::string rule = info.get("prep.negative_category");
  if (rule == "first_seen") {
    o.negative_category = dare::ItemCategoryRule::first_seen;
  } else if (rule == "last_seen") {
    o.negative_category = dare::ItemCategoryRule::last_seen;
  } else {
    throw dare::FormatError(info.source, 0, "prep.negative_category", "'" + rule + "' is not first_seen or last_seen");
  }
  return o;
}

/// The "prep." entries of a preprocessing.
inline void record_preprocessing(dare::ModelFileInfo& info, dare::RawFormat format, const dare::PreprocessOptions& o) {
  info.set("prep.format", dare::to_string(format));
  info.set_number("prep.min_clicks", o.min_clicks);
  info.set_number("prep.train_windows", o.train_windows);
  info.set_number("prep.stride", o.stride);
  info.set_number("prep.max_len", o.max_len);
  info.set_number("prep.negatives", o.negatives);
  info.set_number("prep.cluster_max_size", o.cluster_max_size);
  info.set_number("prep.seed", o.seed);
  info.set("prep.skip_malformed", o.skip_malformed ? "1" : "0");
  info.set("prep.tmall_four_digit_dates_only", o.tmall_four_digit_dates_only ? "1" : "0");
  info.set("prep.negative_category", dare::to_string(o.negative_category));
}

/// The input of dare_eval / dare_predict (and dare_analyze) as a dataset: a dataset file is
/// opened; a raw log is preprocessed as the model's data was (or with the given options),
/// into a temporary file removed when this object goes.
class ModelInput {
 public:
  ModelInput(const std::string& input, const dare::ModelFileInfo& info, bool quiet) {
    if (dare::looks_like_dare_file(input)) {
      data_.emplace(dare::Dataset::open(input));
      return;
    }
    dare::RawFormat format{};
    const dare::PreprocessOptions o = preprocess_options(info, format);
    if (!quiet) std::fprintf(stderr, "preprocessing %s as the model's data was (%s, max_len %lld) ...\n", input.c_str(),
                             info.get("prep.format").c_str(), static_cast<long long>(o.max_len));
    preprocess(input, format, o);
  }
  ModelInput(const std::string& input, dare::RawFormat format, const dare::PreprocessOptions& o, bool quiet) {
    if (dare::looks_like_dare_file(input)) {
      data_.emplace(dare::Dataset::open(input));
      return;
    }
    if (!quiet) std::fprintf(stderr, "preprocessing %s (%s, max_len %lld) ...\n", input.c_str(),
                             dare::to_string(format), static_cast<long long>(o.max_len));
    preprocess(input, format, o);
  }
  ~ModelInput() {
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  ModelInput(const ModelInput&) = delete;
  ModelInput& operator=(const ModelInput&) = delete;
  const dare::Dataset& data() const { return *data_; }

 private:
  void preprocess(const std::string& input, dare::RawFormat format, const dare::PreprocessOptions& o) {
    dir_ = std::filesystem::temp_directory_path() / ("dare_input_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    const std::string out = (dir_ / "input.dare").string();
    dare::preprocess_to_file(input, format, out, o);
    data_.emplace(dare::Dataset::open(out));
  }

  std::filesystem::path dir_;
  std::optional<dare::Dataset> data_;
};

/// Counts of input ids the model's vocabulary lacks (each occurrence).
struct UnknownIds {
  long long history_items = 0, target_items = 0, categories = 0;
  long long total() const { return history_items + target_items + categories; }
};

/// The input's dense ids → the model's (see the header note).
class IdTranslation {
 public:
  IdTranslation(const dare::ModelFileInfo& info, const dare::Dataset& data) {
    const auto items = data.raw_item_ids();
    const auto cats = data.raw_cat_ids();
    identity_ = static_cast<std::size_t>(items.size()) == info.raw_item_ids.size() &&
                static_cast<std::size_t>(cats.size()) == info.raw_cat_ids.size() &&
                std::equal(items.begin(), items.end(), info.raw_item_ids.begin()) &&
                std::equal(cats.begin(), cats.end(), info.raw_cat_ids.begin());
    if (identity_) return;
    items_ = map(info.raw_item_ids, items);
    cats_ = map(info.raw_cat_ids, cats);
  }
  bool identity() const { return identity_; }
  const UnknownIds& unknown() const { return unknown_; }

  void operator()(dare::Batch& b) {
    if (identity_) return;
    const dare::Index n = b.size * b.max_len;
    for (dare::Index i = 0; i < n; ++i) {
      const dare::Id item = b.hist_item[static_cast<std::size_t>(i)];
      if (item == 0) continue;  // padding stays padding
      const dare::Id to = items_[static_cast<std::size_t>(item)];
      const dare::Id cat = cats_[static_cast<std::size_t>(b.hist_cat[static_cast<std::size_t>(i)])];
      if (to == 0) ++unknown_.history_items;
      b.hist_item[static_cast<std::size_t>(i)] = to;
      b.hist_cat[static_cast<std::size_t>(i)] = to == 0 ? 0 : cat;  // a masked behaviour is all padding
    }
    for (dare::Index s = 0; s < b.size; ++s) {
      auto& item = b.target_item[static_cast<std::size_t>(s)];
      auto& cat = b.target_cat[static_cast<std::size_t>(s)];
      item = items_[static_cast<std::size_t>(item)];
      cat = cats_[static_cast<std::size_t>(cat)];
      if (item == 0) ++unknown_.target_items;
      if (cat == 0) ++unknown_.categories;
    }
  }

 private:
  static std::vector<dare::Id> map(const std::vector<std::uint64_t>& model_raw, dare::ConstSpan<std::uint64_t> input_raw) {
    std::unordered_map<std::uint64_t, dare::Id> index;
    index.reserve(model_raw.size());
    for (std::size_t d = 1; d < model_raw.size(); ++d) index.emplace(model_raw[d], static_cast<dare::Id>(d));
    std::vector<dare::Id> out(static_cast<std::size_t>(input_raw.size()), 0);
    for (dare::Index d = 1; d < input_raw.size(); ++d) {
      const auto it = index.find(input_raw[d]);
      out[static_cast<std::size_t>(d)] = it == index.end() ? 0 : it->second;
    }
    return out;
  }

  bool identity_ = false;
  std::vector<dare::Id> items_, cats_;
  UnknownIds unknown_;
};

}  // namespace dare_tools
