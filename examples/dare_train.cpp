// dare_train — trains the models of the DARE paper's Table 1 on a Taobao/Tmall log (or a
// dataset cache) by the reference protocol and reports test AUC, GAUC, category AUC and
// logloss.
//
//   dare_train --format taobao --input UserBehavior.csv --model dare
//   dare_train --input taobao.dare --model twin --dim 64
//   dare_train --input synthetic.csv --compare          # DARE and TWIN side by side
//   dare_train --input synthetic.csv --model dare,twin,twin-hard,din
//
// A raw log is preprocessed once into a dataset cache (--cache, default <input>.dare) that
// later runs memory-map. The cache is reused only when its provenance is what this run would
// make: the same log (size and XXH64 of its bytes) under the same preprocessing flags
// (--format, --max-len, --cluster-max-size, --skip-malformed); otherwise it is rebuilt, and stderr says which
// field changed. Given a dataset as --input, a preprocessing flag that contradicts the
// dataset's provenance is an error. DARE and TWIN have widths 8, 16, 32, 64 and 128 compiled in, the
// other models width 16; any other width runs through the Dynamic instantiation. A build
// with DARE_TOOLS_DYNAMIC_WIDTHS (the sanitized test build, to compile in a third of the
// time) runs every width through the Dynamic one.
//
// --protocol reference reproduces the public PyTorch reference's protocol (initialisation,
// batch-statistics evaluation, validation every 150 steps and not at the end, its training
// order); each of its parts has its own flag, which overrides the protocol's choice.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>

#include "dare/dare.hpp"
#include "model_use.hpp"
#include "tool_checks.hpp"

namespace {

struct Settings {
  std::string format = "taobao";
  std::string input;
  std::string cache;
  bool rebuild_cache = false;
  bool skip_malformed = false;
  std::vector<std::string> models = {"dare"};
  bool compare = false;
  int att_dim = 16;
  int repr_dim = 16;
  int dim = 16;
  int top_k = 20;
  int hash_bits = 0;    // 0: the model's default
  int hash_rounds = 0;
  int max_len = 200;
  dare::Index cluster_max_size = 0;
  dare::TrainOptions train;
  std::uint64_t seed = 1;
  std::string metrics_out;
  bool sparse_adam = false;
  bool quiet = false;
  std::string protocol = "dare";
  std::string inference_stats = "precise";
  std::string train_order = "groups";
  std::string param_scheme = "reference";
  std::string checkpoint;  // the best model as a model file
  std::string save_state;  // where a paused run's state goes
  std::string resume;      // a state to continue
  // The preprocessing flags given on the command line (checked against a dataset input).
  std::vector<std::string> preprocessing_flags_given;
};

// The input file's identity for the metrics record: its size and XXH64 of its bytes.
struct FileIdentity {
  std::uint64_t bytes = 0;
  std::uint64_t xxh64 = 0;
};

// The identity of one file, computed once per run: the cache check (open_dataset) and the
// metrics record share it; after preprocessing, it is the identity the new cache records.
std::pair<std::string, FileIdentity>& known_identity() {
  static std::pair<std::string, FileIdentity> known;
  return known;
}

FileIdentity file_identity(const std::string& path) {
  if (!path.empty() && known_identity().first == path) return known_identity().second;
  FileIdentity id;
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return id;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    id.bytes = static_cast<std::uint64_t>(st.st_size);
    void* p = ::mmap(nullptr, id.bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      id.xxh64 = dare::detail::xxh64(p, id.bytes);
      ::munmap(p, id.bytes);
    }
  }
  ::close(fd);
  known_identity() = {path, id};
  return id;
}

struct RunReport {
  std::string name;
  int att_dim = 0;
  int repr_dim = 0;
  dare::TrainResult result;
};

// A file that begins with "DARE" is opened as a dataset, so a damaged one is reported as
// such rather than parsed as a CSV log.
bool is_dataset_file(const std::string& path) { return dare::looks_like_dare_file(path); }

// Refuses, before any work, outputs that would overwrite an input of the run or a device:
// the dataset cache (when --input is a raw log; an existing cache must be a file dare wrote,
// as it may be replaced), the checkpoints and the metrics file.
void check_outputs(Settings& s) {
  std::vector<dare::NamedPath> inputs = {{s.input, "--input"}};
  if (!is_dataset_file(s.input)) {
    if (s.cache.empty()) s.cache = s.input + ".dare";
    dare::check_output_path(s.cache, "--cache", inputs);
    struct stat st {};
    if (::stat(s.cache.c_str(), &st) == 0 && !is_dataset_file(s.cache)) {
      throw std::runtime_error("--cache '" + s.cache + "' exists and is not a dare dataset, so it is not replaced; "
                               "remove it or choose another --cache");
    }
    inputs.push_back({s.cache, "--cache"});
  }
  if (!s.resume.empty()) inputs.push_back({s.resume, "--resume"});
  if (!s.save_state.empty()) {
    dare::check_output_path(s.save_state, "--save-state", inputs);
    inputs.push_back({s.save_state, "--save-state"});
  }
  if (!s.checkpoint.empty()) {
    const std::string& c = s.checkpoint;
    std::vector<std::string> paths = {c};
    if (s.models.size() > 1) {
      paths.clear();
      for (const auto& m : s.models) paths.push_back(c + "." + m);
    }
    for (const std::string& path : paths) {
      dare::check_output_path(path, "--checkpoint", inputs);
      inputs.push_back({path, "--checkpoint"});
    }
  }
  if (!s.metrics_out.empty()) dare::check_output_path(s.metrics_out, "--metrics-out", inputs);
}

// Opens the dataset: directly if --input is one (refusing preprocessing flags that contradict
// its provenance), else from the cache, preprocessing the raw log first when the cache is
// missing, unreadable, made from other bytes or with other flags, or --rebuild-cache is set.
dare::Dataset open_dataset(Settings& s) {
  dare::DatasetProvenance wanted;  // what preprocessing records in this run
  wanted.format = dare::parse_raw_format(s.format, "--format");
  wanted.options.max_len = s.max_len;
  wanted.options.cluster_max_size = s.cluster_max_size;
  wanted.options.skip_malformed = s.skip_malformed;
  if (is_dataset_file(s.input)) {
    dare::Dataset data = dare::Dataset::open(s.input);
    const dare::DatasetProvenance& made = data.provenance();
    for (const std::string& flag : s.preprocessing_flags_given) {
      dare::DatasetProvenance asked = made;
      if (flag == "--format") asked.format = wanted.format;
      if (flag == "--max-len") asked.options.max_len = s.max_len;
      if (flag == "--cluster-max-size") asked.options.cluster_max_size = s.cluster_max_size;
      if (flag == "--skip-malformed") asked.options.skip_malformed = s.skip_malformed;
      const std::string clash = dare::describe_difference(made, asked, "the dataset has", "the command line asks for");
      if (!clash.empty()) {
        throw std::invalid_argument(flag + " disagrees with the dataset --input '" + s.input + "' (" + clash +
                                    "): drop the flag, or give the raw log as --input to preprocess it again");
      }
    }
    return data;
  }
  if (s.cache.empty()) s.cache = s.input + ".dare";
  std::string stale;  // why an existing cache is not used; empty when there is none
  struct stat st {};
  if (::stat(s.cache.c_str(), &st) == 0) {
    if (s.rebuild_cache) {
      stale = "--rebuild-cache";
    } else {
      try {
        dare::Dataset cache = dare::Dataset::open(s.cache);
        const dare::DatasetProvenance& made = cache.provenance();
        // The flags, then the size, which cost nothing; the log is hashed only if they agree.
        wanted.input_bytes = made.input_bytes;
        wanted.input_xxh64 = made.input_xxh64;
        stale = dare::describe_difference(made, wanted, "the cache has", "this run asks for");
        if (stale.empty()) {
          struct stat input {};
          wanted.input_bytes = ::stat(s.input.c_str(), &input) == 0 ? static_cast<std::uint64_t>(input.st_size) : 0;
          stale = dare::describe_difference(made, wanted, "the cache has", "the input has");
        }
        if (stale.empty()) {
          const FileIdentity id = file_identity(s.input);
          wanted.input_bytes = id.bytes;
          wanted.input_xxh64 = id.xxh64;
          stale = dare::describe_difference(made, wanted, "the cache has", "the input has");
        }
        if (stale.empty()) {
          std::fprintf(stderr, "using the dataset cache %s (made from these bytes of %s with these flags; "
                               "--rebuild-cache redoes it)\n", s.cache.c_str(), s.input.c_str());
          return cache;
        }
      } catch (const dare::FormatError& e) {
        stale = std::string("it cannot be read: ") + e.what();
      }
    }
    std::fprintf(stderr, "rebuilding the dataset cache %s: %s\n", s.cache.c_str(), stale.c_str());
  }
  std::fprintf(stderr, "preprocessing %s (%s) into %s ...\n", s.input.c_str(), s.format.c_str(), s.cache.c_str());
  const auto summary = dare::preprocess_to_file(s.input, wanted.format, s.cache, wanted.options);
  if (!s.quiet) std::fputs(dare::describe(summary).c_str(), stderr);
  dare::Dataset data = dare::Dataset::open(s.cache);
  known_identity() = {s.input, FileIdentity{data.provenance().input_bytes, data.provenance().input_xxh64}};
  return data;
}

// Progress: on a terminal one line rewritten in place (at most 4 times a second), else a
// line every 10 seconds; every validation gets its own line.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::string name) : name_(std::move(name)), tty_(isatty(fileno(stderr)) != 0) {}

  void operator()(const dare::TrainProgress& p) {
    const auto now = Clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    const bool done = p.step == p.total_steps;
    if (!p.validated && !done && since < (tty_ ? 0.25 : 10.0)) return;
    last_ = now;
    std::fprintf(stderr, "%s[%s] epoch %d step %lld/%lld  loss %.4f  %.0f samples/s", tty_ ? "\r" : "", name_.c_str(),
                 p.epoch, static_cast<long long>(p.step), static_cast<long long>(p.total_steps), p.loss,
                 p.samples_per_sec);
    if (p.validated) {
      std::fprintf(stderr, "  val AUC %.5f (best %.5f)\n", p.val_auc, p.best_val_auc);
    } else {
      std::fprintf(stderr, "  ETA %.0fs   %s", p.eta_seconds, tty_ ? "" : "\n");
    }
    std::fflush(stderr);
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::string name_;
  bool tty_;
  Clock::time_point last_ = Clock::now();
};

template <class Model>
RunReport train_model(const Settings& s, const dare::Dataset& data, const std::string& name, int att, int repr) {
  dare::ModelConfig c = dare::model_config_for(data, att, repr);
  c.top_k = s.top_k;
  c.hash_bits = s.hash_bits;
  c.hash_rounds = s.hash_rounds;
  c.seed = s.seed;
  c.reference_init = s.param_scheme == "reference";
  Model model(c);
  dare::TrainOptions t = s.train;
  t.shuffle_seed = s.seed;
  t.optimizer.embedding_mode = s.sparse_adam ? dare::AdamMode::Lazy : dare::AdamMode::Dense;
  dare::Trainer<Model> trainer(model, data, t);
  if (!s.quiet) trainer.on_progress(ProgressPrinter(name));
  if (!s.resume.empty()) {
    dare::detail::load_file(s.resume, "the training state",
                            [&](std::istream& is, const std::string& file) { trainer.resume_state(is, file); });
    std::fprintf(stderr, "resuming %s from %s\n", name.c_str(), s.resume.c_str());
  }
  RunReport r{name, att, repr, trainer.run()};
  if (r.result.paused) {
    dare::detail::save_file_atomically(s.save_state, "training state", [&](std::ostream& os) { trainer.save_state(os); });
    std::fprintf(stderr, "%s paused after step %lld; continue with --resume %s and the same flags\n", name.c_str(),
                 static_cast<long long>(r.result.steps), s.save_state.c_str());
  } else if (!s.checkpoint.empty()) {
    dare::ModelFileInfo info;
    const auto items = data.raw_item_ids();
    const auto cats = data.raw_cat_ids();
    info.raw_item_ids.assign(items.begin(), items.end());
    info.raw_cat_ids.assign(cats.begin(), cats.end());
    const dare::DatasetProvenance& prov = data.provenance();
    dare_tools::record_preprocessing(info, prov.format, prov.options);
    info.set("train.protocol", s.protocol);
    info.set("train.param_scheme", s.param_scheme);
    info.set("train.order", dare::to_string(t.order));
    info.set_number("train.batch_size", t.batch_size);
    info.set_number("train.epochs", t.epochs);
    info.set_number("train.lr", t.optimizer.lr);
    info.set_number("train.l2", t.optimizer.l2);
    info.set_number("train.seed", s.seed);
    info.set_number("train.eval_batch_size", t.eval_batch_size > 0 ? t.eval_batch_size : t.batch_size);
    info.set("train.eval_drop_last", t.eval_drop_last ? "1" : "0");
    info.set("train.inference_stats", dare::nn::to_string(t.inference_stats));
    info.set_number("train.best_step", r.result.best_step);
    info.set_number("train.steps", r.result.steps);
    info.set_number("train.test_auc", r.result.test.auc);
    const std::string path = s.models.size() > 1 ? s.checkpoint + "." + name : s.checkpoint;
    dare::save_model_file(path, model, std::move(info));
  }
  return r;
}

// Calls fn(std::integral_constant<int, W>) with W = width for the compiled-in widths 8, 16,
// 32, 64 and 128, and W = Dynamic for any other.
template <class Fn>
RunReport dispatch_width(int width, Fn&& fn) {
#ifndef DARE_TOOLS_DYNAMIC_WIDTHS
  switch (width) {
    case 8: return fn(std::integral_constant<int, 8>{});
    case 16: return fn(std::integral_constant<int, 16>{});
    case 32: return fn(std::integral_constant<int, 32>{});
    case 64: return fn(std::integral_constant<int, 64>{});
    case 128: return fn(std::integral_constant<int, 128>{});
    default: break;
  }
#else
  (void)width;
#endif
  return fn(std::integral_constant<int, dare::Dynamic>{});
}

RunReport run_twin(const Settings& s, const dare::Dataset& data) {
  return dispatch_width(s.dim, [&](auto w) {
    return train_model<dare::Twin<float, decltype(w)::value>>(s, data, "twin", s.dim, s.dim);
  });
}

// Equal widths are fixed at both ends; a representation width other than the attention
// width runs with a Dynamic representation (the search, which dominates, stays fixed).
RunReport run_dare(const Settings& s, const dare::Dataset& data) {
  return dispatch_width(s.att_dim, [&](auto w) {
    constexpr int A = decltype(w)::value;
    if (A != dare::Dynamic && s.repr_dim == A) {
      return train_model<dare::Dare<float, A, A>>(s, data, "dare", s.att_dim, s.repr_dim);
    }
    return train_model<dare::Dare<float, A, dare::Dynamic>>(s, data, "dare", s.att_dim, s.repr_dim);
  });
}

// The baselines: width 16 compiled in, any other Dynamic.
template <template <class, int> class Model>
RunReport run_shared(const Settings& s, const dare::Dataset& data, const char* name) {
#ifndef DARE_TOOLS_DYNAMIC_WIDTHS
  if (s.dim == 16) return train_model<Model<float, 16>>(s, data, name, s.dim, s.dim);
#endif
  return train_model<Model<float, dare::Dynamic>>(s, data, name, s.dim, s.dim);
}

RunReport run_model(const std::string& model, const Settings& s, const dare::Dataset& data) {
  if (model == "dare") return run_dare(s, data);
  if (model == "twin") return run_twin(s, data);
  if (model == "twin-hard") return run_shared<dare::TwinHard>(s, data, "twin-hard");
  if (model == "twin-proj") return run_shared<dare::TwinProj>(s, data, "twin-proj");
  if (model == "twin-notr") return run_shared<dare::TwinNoTR>(s, data, "twin-notr");
  if (model == "din") return run_shared<dare::Din>(s, data, "din");
  if (model == "eta") return run_shared<dare::Eta>(s, data, "eta");
  if (model == "sdim") return run_shared<dare::Sdim>(s, data, "sdim");
  if (model == "twin-v2") {
    if (!data.has_clusters()) {
      throw std::invalid_argument(
          "twin-v2 attends to clusters of the history, and this dataset has none: preprocess with "
          "--cluster-max-size (10 is the measured suggestion; docs/design.md §2)");
    }
    return run_shared<dare::TwinV2>(s, data, "twin-v2");
  }
  // twin-4e: attention and representation widths as DARE's.
#ifndef DARE_TOOLS_DYNAMIC_WIDTHS
  if (s.att_dim == 16 && s.repr_dim == 16) return train_model<dare::Twin4E<float, 16, 16>>(s, data, "twin-4e", 16, 16);
#endif
  return train_model<dare::Twin4E<float, dare::Dynamic, dare::Dynamic>>(s, data, "twin-4e", s.att_dim, s.repr_dim);
}

const std::vector<std::string>& known_models() {
  static const std::vector<std::string> names = {"dare", "twin", "twin-hard", "twin-proj", "twin-notr", "twin-4e", "din", "eta", "sdim", "twin-v2"};
  return names;
}

// The metrics, the run's settings and every validation, as JSON.
std::string metrics_json(const std::vector<RunReport>& runs, const Settings& s, const FileIdentity& input) {
  std::ostringstream os;
  os.precision(8);
  auto split = [&](const char* key, const dare::EvalMetrics& m, const char* indent) {
    os << indent << dare::json_string(key) << ": {\"auc\": " << m.auc << ", \"gauc\": " << m.gauc
       << ", \"category_auc\": " << m.category_auc << ", \"logloss\": " << m.logloss << ", \"samples\": " << m.samples
       << ", \"auc_reference_formula\": " << m.auc_reference
       << ", \"category_auc_reference_formula\": " << m.category_auc_reference << "}";
  };
  const dare::TrainOptions& t = s.train;
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016" PRIx64, input.xxh64);
  os << "{\n  \"input\": " << dare::json_string(s.input) << ",\n  \"input_bytes\": " << input.bytes
     << ",\n  \"input_xxh64\": \"" << hash << "\",\n";
  os << "  \"settings\": {\"protocol\": " << dare::json_string(s.protocol) << ", \"format\": " << dare::json_string(s.format)
     << ", \"batch_size\": " << t.batch_size << ", \"epochs\": " << t.epochs << ", \"lr\": " << t.optimizer.lr
     << ", \"l2\": " << t.optimizer.l2 << ", \"seed\": " << s.seed << ", \"threads\": " << t.threads
     << ", \"top_k\": " << s.top_k << ", \"max_len\": " << s.max_len
     << ", \"inference_stats\": " << dare::json_string(dare::nn::to_string(t.inference_stats))
     << ", \"precise_batches\": " << t.precise_batches << ", \"param_scheme\": " << dare::json_string(s.param_scheme)
     << ", \"train_order\": " << dare::json_string(dare::to_string(t.order)) << ", \"eval_interval\": " << t.eval_interval
     << ", \"min_evals_per_epoch\": " << t.min_evals_per_epoch
     << ", \"validate_at_end\": " << (t.validate_at_end ? "true" : "false")
     << ", \"eval_batch_size\": " << (t.eval_batch_size > 0 ? t.eval_batch_size : t.batch_size)
     << ", \"eval_drop_last\": " << (t.eval_drop_last ? "true" : "false")
     << ", \"sparse_adam\": " << (s.sparse_adam ? "true" : "false") << "},\n";
  os << "  \"runs\": [\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i].result;
    os << "  {\n    \"model\": " << dare::json_string(runs[i].name) << ",\n    \"att_dim\": " << runs[i].att_dim
       << ",\n    \"repr_dim\": " << runs[i].repr_dim << ",\n";
    split("test", r.test, "    ");
    os << ",\n    \"val\": {\"best_auc\": " << r.best_val.auc << ", \"best_step\": " << r.best_step
       << ", \"eval_interval\": " << r.eval_interval
       << ", \"forced_final_validation\": " << (r.forced_final_validation ? "true" : "false") << "},\n";
    os << "    \"train\": {\"samples_per_sec\": " << r.samples_per_sec << ", \"seconds\": " << r.train_seconds
       << ", \"validation_seconds\": " << r.validation_seconds << ", \"steps\": " << r.steps
       << ", \"samples\": " << r.samples_seen << "},\n";
    os << "    \"history\": [";
    for (std::size_t k = 0; k < r.history.size(); ++k) {
      const auto& h = r.history[k];
      os << (k ? ",\n      " : "\n      ") << "{\"step\": " << h.step << ", \"epoch\": " << h.epoch
         << ", \"val_auc\": " << h.auc << ", \"val_logloss\": " << h.logloss << ", \"train_loss\": " << h.train_loss
         << ", \"train_aux_loss\": " << h.train_aux_loss << "}";
    }
    os << "]\n  }" << (i + 1 < runs.size() ? "," : "") << "\n";
  }
  os << "  ]";
  // With one run its metrics also stand at the top level: test.auc, val.best_auc, ...
  if (runs.size() == 1) {
    const auto& r = runs[0].result;
    os << ",\n  \"model\": " << dare::json_string(runs[0].name) << ",\n";
    split("test", r.test, "  ");
    os << ",\n  \"val\": {\"best_auc\": " << r.best_val.auc << "},\n  \"train\": {\"samples_per_sec\": "
       << r.samples_per_sec << ", \"seconds\": " << r.train_seconds << "}";
  }
  os << "\n}\n";
  return os.str();
}

void write_metrics(const std::string& path, const std::string& json) {
  dare::write_text_file_atomically(path, json, "--metrics-out file");
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  using dare_tools::whole_number;
  CLI::App app{"Train DARE, TWIN and the other models of the DARE paper's Table 1 on a Taobao/Tmall log by the reference protocol"};
  app.add_option("--format", s.format, "raw log format: taobao (UserBehavior.csv) or tmall (user_log_format1.csv)")
      ->check(CLI::IsMember({"taobao", "tmall"}))
      ->capture_default_str();
  app.add_option("--input", s.input, "raw log, or a dataset file written by dare_prep")->required()->check(CLI::ExistingFile);
  app.add_option("--cache", s.cache, "dataset cache for a raw log (default <input>.dare)");
  app.add_flag("--rebuild-cache", s.rebuild_cache, "preprocess again even if the cache is up to date");
  app.add_flag("--skip-malformed", s.skip_malformed, "skip (and count) malformed rows instead of stopping");
  app.add_option("--model", s.models,
                 "one model or a comma-separated list, trained one after the other on the same data: dare, twin, "
                 "twin-hard, twin-proj, twin-notr, twin-4e, din, eta, sdim, twin-v2 (docs/design.md §3 says what each is; "
                 "twin-v2 needs --cluster-max-size)")
      ->delimiter(',')
      ->check(CLI::IsMember(known_models()))
      ->capture_default_str();
  app.add_flag("--compare", s.compare, "train DARE and TWIN on the same data and print them side by side (--model dare,twin)");
  app.add_option("--att-dim", s.att_dim, "attention width per field of dare and twin-4e")->check(whole_number(1, dare::kMaxEmbeddingDim))->capture_default_str();
  app.add_option("--repr-dim", s.repr_dim, "representation width per field of dare and twin-4e")->check(whole_number(1, dare::kMaxEmbeddingDim))->capture_default_str();
  app.add_option("--dim", s.dim, "width per field of the one-table models (twin, twin-hard, twin-proj, twin-notr, din, eta, sdim, twin-v2)")->check(whole_number(1, dare::kMaxEmbeddingDim))->capture_default_str();
  app.add_option("--top-k", s.top_k, "behaviours kept by the search")->check(whole_number(1, dare::kMaxHistoryLength))->capture_default_str();
  app.add_option("--hash-bits", s.hash_bits,
                 "eta: SimHash signature bits, a multiple of 32 from 32 to 256; sdim: bits per hash round, 1 to 32 "
                 "(0: the model's default, eta 64, sdim 8)")
      ->check(whole_number(0, 256))
      ->capture_default_str();
  app.add_option("--hash-rounds", s.hash_rounds, "sdim: hash rounds, 1 to 64, at most 256 bits with --hash-bits (0: the default, 32)")
      ->check(whole_number(0, 64))
      ->capture_default_str();
  app.add_option("--max-len", s.max_len, "history window (when preprocessing a raw log)")->check(whole_number(1, dare::kMaxHistoryLength))->capture_default_str();
  app.add_option("--cluster-max-size", s.cluster_max_size,
                 "TWIN-V2 clusters of at most this many clicks per user history (when preprocessing a raw log; "
                 "0: none)")
      ->check(whole_number(0, 4294967295LL))->capture_default_str();
  app.add_option("--batch-size", s.train.batch_size, "samples per step")->check(whole_number(1, 1 << 20))->capture_default_str();
  app.add_option("--lr", s.train.optimizer.lr, "Adam learning rate")->check(dare_tools::number(0, 1e6, true))->capture_default_str();
  app.add_option("--l2", s.train.optimizer.l2, "L2 on non-embedding, non-bias weights")->check(dare_tools::number(0, 1))->capture_default_str();
  app.add_flag("--sparse-adam", s.sparse_adam, "lazy (SparseAdam) updates of embedding rows instead of the dense reference Adam");
  app.add_option("--epochs", s.train.epochs, "passes over the training split")->check(whole_number(1, 1000))->capture_default_str();
  app.add_option("--max-steps", s.train.max_steps, "stop after this many steps (0: all epochs)")->check(whole_number(0, 1000000000000LL))->capture_default_str();
  app.add_option("--threads", s.train.threads, "worker threads")->check(whole_number(1, 1024))->capture_default_str();
  app.add_option("--seed", s.seed, "initialisation and shuffle seed")
      ->check(dare_tools::unsigned_whole_number(0, std::numeric_limits<std::uint64_t>::max()))
      ->capture_default_str();
  app.add_option("--eval-interval", s.train.eval_interval,
                 "validate every this many steps (0: only at the end), or more often to meet --min-evals-per-epoch")
      ->check(whole_number(0, 1000000000000LL))
      ->capture_default_str();
  app.add_option("--min-evals-per-epoch", s.train.min_evals_per_epoch,
                 "validate at least this often per epoch on small datasets (0: exactly every --eval-interval)")
      ->check(whole_number(0, 1000000))
      ->capture_default_str();
  app.add_option("--protocol", s.protocol,
                 "dare, or reference: the public PyTorch reference's protocol (sets --inference-stats batch, "
                 "--eval-batch-size 0, --eval-drop-last, --eval-interval 150, --min-evals-per-epoch 0, "
                 "--no-final-eval, --train-order reference; each flag given overrides it)")
      ->check(CLI::IsMember({"dare", "reference"}))
      ->capture_default_str();
  app.add_option("--inference-stats", s.inference_stats,
                 "BatchNorm statistics for evaluation and the checkpoint: precise (recomputed over training batches "
                 "before each validation), batch (each evaluation chunk's own), running (PyTorch's eval mode)")
      ->check(CLI::IsMember({"running", "batch", "precise"}))
      ->capture_default_str();
  app.add_option("--precise-batches", s.train.precise_batches, "training batches behind precise statistics")
      ->check(whole_number(1, 100000))
      ->capture_default_str();
  app.add_option("--eval-batch-size", s.train.eval_batch_size, "samples per evaluation chunk (0: the batch size)")
      ->check(whole_number(0, 1 << 20))
      ->capture_default_str();
  app.add_flag("--eval-drop-last", s.train.eval_drop_last, "evaluate whole chunks only, as the reference's loader");
  bool no_final_eval = false;
  app.add_flag("--no-final-eval", no_final_eval, "do not validate after the last step (the reference does not)");
  app.add_option("--train-order", s.train_order,
                 "groups (a positive and its negatives together, reshuffled every epoch) or reference (one fixed "
                 "shuffle of single samples, read the same every epoch)")
      ->check(CLI::IsMember({"groups", "reference"}))
      ->capture_default_str();
  app.add_option("--param-scheme", s.param_scheme,
                 "reference (the public reference's, and the default): BatchNorm weights and PReLU slopes drawn "
                 "N(0, 0.01) and L2-penalised as a loss term (gradient 2 * l2 * p) like every other non-bias head "
                 "parameter; layer-defaults: BatchNorm weights 1, PReLU slopes 0.1, L2 (gradient l2 * p) on Linear "
                 "weights only")
      ->check(CLI::IsMember({"reference", "layer-defaults"}))
      ->capture_default_str();
  app.add_option("--checkpoint", s.checkpoint,
                 "write the best model on validation as a model file (its kind, configuration, vocabulary and "
                 "training settings; dare_eval, dare_predict and dare::load_model_file read it); with several "
                 "--model, FILE.<model>");
  app.add_option("--pause-at-step", s.train.pause_at_step,
                 "stop after this step without the final validation and test, and write the run's state to "
                 "--save-state (0: never)")
      ->check(whole_number(0, 1000000000000LL))
      ->capture_default_str();
  app.add_option("--save-state", s.save_state, "file for the state of a run paused by --pause-at-step");
  app.add_option("--resume", s.resume, "continue the paused run whose state this file holds (same flags otherwise)")
      ->check(CLI::ExistingFile);
  app.add_option("--metrics-out", s.metrics_out, "write the metrics as JSON to this file");
  app.add_flag("--quiet", s.quiet, "no progress output");
  bool keep_denormals = false;
  app.add_flag("--keep-denormals", keep_denormals, "do not flush denormal floats to zero while training (slower)");
  CLI11_PARSE(app, argc, argv);
  for (const char* flag : {"--format", "--max-len", "--cluster-max-size", "--skip-malformed"}) {
    if (app.count(flag) > 0) s.preprocessing_flags_given.push_back(flag);
  }
  s.train.flush_denormals = !keep_denormals;
  if (s.compare) s.models = {"dare", "twin"};
  if ((s.train.pause_at_step > 0) != !s.save_state.empty()) {
    std::fprintf(stderr, "dare_train: --pause-at-step and --save-state go together\n");
    return 2;
  }
  if ((s.train.pause_at_step > 0 || !s.resume.empty()) && s.models.size() > 1) {
    std::fprintf(stderr, "dare_train: a run to pause or resume trains one --model\n");
    return 2;
  }
  for (std::size_t i = 0; i < s.models.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (s.models[i] == s.models[j]) {
        std::fprintf(stderr, "dare_train: --model names %s twice\n", s.models[i].c_str());
        return 2;
      }
    }
  }
  s.train.validate_at_end = !no_final_eval;
  if (s.protocol == "reference") {
    // The reference's choice for every part of the protocol the command line left open.
    const dare::TrainOptions ref = dare::reference_train_options();
    auto given = [&](const char* flag) { return app.count(flag) > 0; };
    if (!given("--inference-stats")) s.inference_stats = dare::nn::to_string(ref.inference_stats);
    if (!given("--eval-batch-size")) s.train.eval_batch_size = ref.eval_batch_size;
    if (!given("--eval-drop-last")) s.train.eval_drop_last = ref.eval_drop_last;
    if (!given("--eval-interval")) s.train.eval_interval = ref.eval_interval;
    if (!given("--min-evals-per-epoch")) s.train.min_evals_per_epoch = ref.min_evals_per_epoch;
    if (!given("--no-final-eval")) s.train.validate_at_end = ref.validate_at_end;
    if (!given("--train-order")) s.train_order = dare::to_string(ref.order);
  }
  s.train.inference_stats = dare::nn::parse_inference_stats(s.inference_stats, "--inference-stats");
  s.train.order = s.train_order == "reference" ? dare::TrainOrder::Reference : dare::TrainOrder::Groups;
  s.train.optimizer.reference_l2 = s.param_scheme == "reference";

  try {
    check_outputs(s);
    dare::Dataset data = open_dataset(s);
    std::fprintf(stderr, "dataset: %lld users, %lld items, %lld categories; %lld train / %lld val / %lld test samples\n",
                 static_cast<long long>(data.num_users()), static_cast<long long>(data.num_items() - 1),
                 static_cast<long long>(data.num_cats() - 1), static_cast<long long>(data.train().size()),
                 static_cast<long long>(data.val().size()), static_cast<long long>(data.test().size()));
    std::vector<RunReport> runs;
    for (const auto& m : s.models) runs.push_back(run_model(m, s, data));
    if (runs.front().result.paused) {
      std::printf("%s paused after step %lld of the run (best validation AUC so far %.5f); no test metrics yet\n",
                  runs.front().name.c_str(), static_cast<long long>(runs.front().result.steps),
                  runs.front().result.best_val.auc);
      return 0;
    }

    std::printf("\n%-10s %8s %8s %8s %9s %9s %10s %12s %9s %7s\n", "model", "test AUC", "GAUC", "cat AUC", "logloss",
                "val AUC", "best step", "samples/s", "train s", "val s");
    for (const auto& r : runs) {
      const auto& m = r.result.test;
      const std::string best = std::to_string(r.result.best_step) + "/" + std::to_string(r.result.steps);
      std::printf("%-10s %8.5f %8.5f %8.5f %9.5f %9.5f %10s %12.0f %9.1f %7.1f\n", r.name.c_str(), m.auc, m.gauc,
                  m.category_auc, m.logloss, r.result.best_val.auc, best.c_str(), r.result.samples_per_sec,
                  r.result.train_seconds, r.result.validation_seconds);
    }
    std::printf("(test metrics of the best model on validation, validated every %lld steps%s; %s statistics, "
                "%s protocol)\n",
                static_cast<long long>(runs.front().result.eval_interval),
                s.train.validate_at_end ? " and at the end" : "", s.inference_stats.c_str(), s.protocol.c_str());
    std::printf("category AUC by the reference's formula (utils.py calc_auc):");
    for (const auto& r : runs) std::printf("  %s %.5f", r.name.c_str(), r.result.test.category_auc_reference);
    std::printf("\n");
    for (const auto& r : runs) {
      if (r.result.forced_final_validation) {
        std::printf("note: %s had no scheduled validation within its %lld steps; its last model was validated\n",
                    r.name.c_str(), static_cast<long long>(r.result.steps));
      }
    }
    if (runs.size() == 2 && runs[0].name == "dare" && runs[1].name == "twin") {
      std::printf("DARE - TWIN test AUC: %+.5f\n", runs[0].result.test.auc - runs[1].result.test.auc);
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf("peak RSS %.0f MB\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
    if (!s.metrics_out.empty()) write_metrics(s.metrics_out, metrics_json(runs, s, file_identity(s.input)));
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "\ndare_train: out of memory (the dataset or the model is too large for this machine; "
                         "try smaller --att-dim/--repr-dim/--dim, --batch-size or --max-len)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\ndare_train: %s\n", e.what());
    return 1;
  }
  return 0;
}
