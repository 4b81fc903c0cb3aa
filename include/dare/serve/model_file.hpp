// dare/serve/model_file.hpp — a trained model as one self-describing file: what kind of
// model it is, its configuration, how it was trained, the vocabulary that turns raw ids into
// its ids, and its parameters.
//
// Design. A checkpoint (SequenceModel::save) holds parameters and checks that they fit the
// model they are loaded into, but only a program that already knows the model's type and
// sizes can load it, and it says nothing about ids: preprocessing numbers raw ids per file,
// so the model's item 17 means nothing without the file it was trained on. A model file adds
// what is needed to use the model with no other input:
//
//   magic "DAREMFIL", version (u32), metadata length (u64), metadata: UTF-8 lines
//   "key=value" (the model's kind and ModelConfig under plain keys, how it was trained under
//   "train.", how its data was preprocessed under "prep."), the raw item ids and raw
//   category ids of the model's dense ids (u64 count, then u64 each; entry 0 is padding),
//   a checksum of all of that, then the checkpoint with its optimizer state left out.
//
// The metadata is text (`strings model.dare | head` shows it; dare_eval --info prints it);
// its keys are ordered as written. read_model_file_info reads everything but the
// parameters; load_model_file checks that the file's kind and configuration are the
// model's and loads the parameters (the checkpoint's own checks follow). Files are written
// atomically (a temporary renamed over the target).
#pragma once

#include <cstdint>
#include <fstream>
#include <istream>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/embedding/binary_io.hpp"
#include "dare/models/sequence_model.hpp"
#include "dare/nn/batch_norm.hpp"

namespace dare {

/// What a model file says about its model (everything but the parameters).
struct ModelFileInfo {
  std::vector<std::pair<std::string, std::string>> meta;  ///< key=value, in file order
  std::vector<std::uint64_t> raw_item_ids;  ///< raw id of each dense item id (0: padding)
  std::vector<std::uint64_t> raw_cat_ids;   ///< raw id of each dense category id
  std::string source;                       ///< the file it was read from (for messages)

  /// The value of `key`, or nullptr.
  const std::string* find(const std::string& key) const {
    for (const auto& kv : meta) {
      if (kv.first == key) return &kv.second;
    }
    return nullptr;
  }
  /// Sets `key` (replacing an earlier value). Keys and values are one line each.
  void set(const std::string& key, const std::string& value) {
    DARE_CHECK_ARG(!key.empty() && key.find_first_of("=\n") == std::string::npos, "model file key '", key,
                   "' must be non-empty without '=' or a newline");
    DARE_CHECK_ARG(value.find('\n') == std::string::npos, "model file value of '", key, "' has a newline");
    for (auto& kv : meta) {
      if (kv.first == key) {
        kv.second = value;
        return;
      }
    }
    meta.emplace_back(key, value);
  }
  template <class T>
  void set_number(const std::string& key, T value) {
    std::ostringstream os;
    os.precision(17);
    os << value;
    set(key, os.str());
  }
  /// The value of a key the file must have (FormatError naming the file and key otherwise).
  const std::string& get(const std::string& key) const {
    const std::string* v = find(key);
    if (v == nullptr) throw FormatError(source, 0, key, "the model file has no such entry");
    return *v;
  }
  Index get_index(const std::string& key, Index lo, Index hi) const {
    const std::string& v = get(key);
    std::size_t used = 0;
    long long x = 0;
    try {
      x = std::stoll(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v.size() || x < lo || x > hi) {
      throw FormatError(source, 0, key, detail::concat("'", v, "' is not a whole number from ", lo, " to ", hi));
    }
    return static_cast<Index>(x);
  }
  bool get_bool(const std::string& key) const {
    const std::string& v = get(key);
    if (v != "0" && v != "1") throw FormatError(source, 0, key, detail::concat("'", v, "' is not 0 or 1"));
    return v == "1";
  }
  std::string kind() const { return get("kind"); }

  /// The model configuration the file describes.
  ModelConfig model_config() const {
    ModelConfig c;
    c.num_items = get_index("num_items", 1, Index{1} << 31);
    c.num_cats = get_index("num_cats", 1, Index{1} << 31);
    c.num_times = get_index("num_times", 1, Index{1} << 31);
    c.att_dim = get_index("att_dim", 1, kMaxEmbeddingDim);
    c.repr_dim = get_index("repr_dim", 1, kMaxEmbeddingDim);
    c.max_len = get_index("max_len", 1, kMaxHistoryLength);
    c.top_k = get_index("top_k", 1, kMaxHistoryLength);
    c.hidden = sizes("hidden");
    c.aux_hidden = sizes("aux_hidden");
    c.aux_loss = get_bool("aux_loss");
    c.target_aware = get_bool("target_aware");
    c.scorer_hidden = get_index("scorer_hidden", 1, 4096);
    // Files before the hashing selectors have neither key (and no model that reads them).
    if (find("hash_bits") != nullptr) c.hash_bits = get_index("hash_bits", 0, 256);
    if (find("hash_rounds") != nullptr) c.hash_rounds = get_index("hash_rounds", 0, 64);
    return c;
  }

  /// The inference statistics recorded (the checkpoint records them too).
  nn::InferenceStats inference_stats() const { return nn::parse_inference_stats(get("inference_stats"), "inference_stats"); }

 private:
  std::vector<Index> sizes(const std::string& key) const {
    const std::string& v = get(key);
    std::vector<Index> out;
    std::size_t at = 0;
    while (at <= v.size() && !v.empty()) {
      const std::size_t comma = v.find(',', at);
      const std::string part = v.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
      std::size_t used = 0;
      long long x = 0;
      try {
        x = std::stoll(part, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (part.empty() || used != part.size() || x < 1 || x > 65536 || out.size() >= 64) {
        throw FormatError(source, 0, key, detail::concat("'", v, "' is not a comma-separated list of widths from 1 to 65536"));
      }
      out.push_back(static_cast<Index>(x));
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    return out;
  }
};

namespace detail {
inline constexpr char kModelFileMagic[9] = "DAREMFIL";
inline constexpr std::uint32_t kModelFileVersion = 1;
inline constexpr std::uint64_t kMaxModelMetadata = std::uint64_t{1} << 20;

inline std::string join_sizes(const std::vector<Index>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

inline void write_model_info(std::ostream& os, const ModelFileInfo& info) {
  BinaryWriter w(os);
  w.magic(kModelFileMagic);
  w.u32(kModelFileVersion);
  std::string text;
  for (const auto& kv : info.meta) text += kv.first + "=" + kv.second + "\n";
  w.u64(text.size());
  w.bytes(text.data(), text.size());
  w.u64(info.raw_item_ids.size());
  for (std::uint64_t v : info.raw_item_ids) w.u64(v);
  w.u64(info.raw_cat_ids.size());
  for (std::uint64_t v : info.raw_cat_ids) w.u64(v);
  w.checksum();
  w.check("model file");
}

inline ModelFileInfo read_model_info(std::istream& is, const std::string& name) {
  BinaryReader r(is, name);
  r.expect_magic(kModelFileMagic, "a dare model file (written by dare_train --checkpoint or save_model_file)");
  const auto version = r.u32("version");
  if (version != kModelFileVersion) {
    throw FormatError(name, 0, "version", concat("unsupported model file version ", version, " (this build reads ",
                                                 kModelFileVersion, ")"));
  }
  ModelFileInfo info;
  info.source = name;
  const auto length = r.u64("metadata length");
  if (length > kMaxModelMetadata) r.fail("metadata length", concat(length, " bytes is more than the 1 MiB allowed"));
  r.require_remaining(length, "metadata");
  std::string text(static_cast<std::size_t>(length), '\0');
  r.bytes(text.data(), text.size(), "metadata");
  if (text.find('\0') != std::string::npos) r.fail("metadata", "it holds a zero byte: not text");
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find('\n', at);
    if (end == std::string::npos) r.fail("metadata", "the last line has no newline");
    const std::string line = text.substr(at, end - at);
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0) r.fail("metadata", concat("line '", line, "' is not key=value"));
    info.meta.emplace_back(line.substr(0, eq), line.substr(eq + 1));
    at = end + 1;
  }
  auto ids = [&](std::vector<std::uint64_t>& out, const char* field) {
    const auto n = r.u64(field);
    if (n > (std::uint64_t{1} << 31)) r.fail(field, concat(n, " entries is more than 2^31"));
    r.require_remaining(n * 8, field);
    out.resize(static_cast<std::size_t>(n));
    for (auto& v : out) v = r.u64(field);
  };
  ids(info.raw_item_ids, "raw_item_ids");
  ids(info.raw_cat_ids, "raw_cat_ids");
  r.verify_checksum();
  return info;
}
}  // namespace detail

/// Writes `model` as a model file: `info` supplies the vocabulary and any "train." or
/// "prep." entries; the kind, the configuration and the inference statistics are the
/// model's own (they replace entries of the same name). The vocabulary, when given, must
/// cover the model's tables.
template <class Model>
void save_model_file(const std::string& path, Model& model, ModelFileInfo info) {
  const ModelConfig& c = model.config();
  DARE_CHECK_ARG(info.raw_item_ids.empty() || static_cast<Index>(info.raw_item_ids.size()) == c.num_items,
                 "the vocabulary has ", info.raw_item_ids.size(), " items, the model ", c.num_items);
  DARE_CHECK_ARG(info.raw_cat_ids.empty() || static_cast<Index>(info.raw_cat_ids.size()) == c.num_cats,
                 "the vocabulary has ", info.raw_cat_ids.size(), " categories, the model ", c.num_cats);
  ModelFileInfo out;
  out.set("kind", model.kind());
  out.set_number("num_items", c.num_items);
  out.set_number("num_cats", c.num_cats);
  out.set_number("num_times", c.num_times);
  out.set_number("att_dim", c.att_dim);
  out.set_number("repr_dim", c.repr_dim);
  out.set_number("max_len", c.max_len);
  out.set_number("top_k", c.top_k);
  out.set("hidden", detail::join_sizes(c.hidden));
  out.set("aux_hidden", detail::join_sizes(c.aux_hidden));
  out.set("aux_loss", c.aux_loss ? "1" : "0");
  out.set("target_aware", c.target_aware ? "1" : "0");
  out.set_number("scorer_hidden", c.scorer_hidden);
  out.set_number("hash_bits", c.hash_bits);
  out.set_number("hash_rounds", c.hash_rounds);
  out.set("inference_stats", nn::to_string(model.inference_stats()));
  for (const auto& kv : info.meta) {
    if (out.find(kv.first) == nullptr) out.set(kv.first, kv.second);
  }
  out.raw_item_ids = std::move(info.raw_item_ids);
  out.raw_cat_ids = std::move(info.raw_cat_ids);
  detail::save_file_atomically(path, "model file", [&](std::ostream& os) {
    detail::write_model_info(os, out);
    model.save(os, false);
  });
}

/// The description of the model file `path`, without its parameters.
inline ModelFileInfo read_model_file_info(const std::string& path) {
  std::ifstream is(path, std::ios::binary);
  if (!is) throw FormatError(path, 0, "file", "cannot open the model file");
  return detail::read_model_info(is, path);
}

/// Loads the model file `path` into `model`, which must be of the file's kind and
/// configuration (construct it from read_model_file_info(path).model_config()). Returns the
/// file's description.
template <class Model>
ModelFileInfo load_model_file(const std::string& path, Model& model) {
  ModelFileInfo info;
  detail::load_file(path, "the model file", [&](std::istream& is, const std::string& name) {
    info = detail::read_model_info(is, name);
    if (info.kind() != model.kind()) {
      throw FormatError(name, 0, "kind", detail::concat("the file holds a ", info.kind(), " model, this model is ",
                                                        model.kind()));
    }
    const ModelConfig want = info.model_config();
    const ModelConfig& have = model.config();
    if (want.hidden != have.hidden || want.aux_hidden != have.aux_hidden || want.aux_loss != have.aux_loss) {
      throw FormatError(name, 0, "hidden", "the file's head sizes differ from this model's");
    }
    model.load(is, name);
  });
  return info;
}

}  // namespace dare
