// dare_analyze discriminability — how much each model's representation of a test sample
// says about its label (the DARE paper's section 4.4): the main head's input [v, u, v ⊙ u]
// ([v, u] for a model without TR) of every test sample, before the head's BatchNorm, is
// clustered by k-means for each k, and the mutual information between clusters and labels
// is reported (dare/analysis/discriminability.hpp has the definitions).
//
//   dare_analyze discriminability --input log.csv --model-file dare.seed1.dare
//       --model-file twin.seed1.dare --k 2,5,10,20,50,100,200,500,1000 --out discrim.csv
//
// The model files are loaded through examples/model_use.hpp (load_model picks the type of
// each file's kind with with_model_kind, compiled once in dare_model_use), so this file
// instantiates no model: compiling it costs little. The test split is run as the model's
// training run evaluated it (its chunking), and the test AUC from the same pass is printed
// beside the run's own as a check that the file and the input belong together.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "analyze/commands.hpp"
#include "analyze/summary.hpp"
#include "dare/analysis/discriminability.hpp"
#include "dare/dare.hpp"
#include "model_use.hpp"
#include "tool_checks.hpp"

namespace dare_analyze {
namespace {

struct DiscriminabilityArgs {
  std::string input;
  std::vector<std::string> model_files;
  std::vector<long long> ks = {2, 5, 10, 20, 50, 100, 200, 500, 1000};
  std::uint64_t seed = 1;
  long long max_iterations = 100;
  int threads = 2;
  std::string out;
  std::string head_inputs_out;
  bool standardize = false;
  bool quiet = false;
};

/// One model file's figures.
struct ModelFigures {
  std::string path, kind, seed;
  bool standardized = false;
  /// Ids of the input the model's vocabulary lacks (examples/model_use.hpp), when translated.
  bool translated = false;
  dare_tools::UnknownIds unknown;
  dare::Index samples = 0, head_width = 0;
  double test_auc = 0.0;
  std::vector<dare::DiscriminabilityPoint> points;
  /// The head inputs (samples x head_width, row-major) and labels, kept only for
  /// --head-inputs-out.
  std::vector<float> rows;
  std::vector<int> labels;
};

/// The preprocessing a model file's data went through, as one string: two files with the
/// same one read the same input dataset, which is then prepared once.
std::string preprocessing_key(const dare::ModelFileInfo& info) {
  std::string key;
  for (const auto& kv : info.meta) {
    if (kv.first.rfind("prep.", 0) == 0) key += kv.first + "=" + kv.second + "\n";
  }
  return key;
}

ModelFigures analyse_model(const DiscriminabilityArgs& a, const std::string& path, const dare::ModelFileInfo& info,
                           const dare::Dataset& data) {
  ModelFigures f;
  f.path = path;
  f.kind = info.kind();
  f.standardized = a.standardize;
  f.seed = info.find("train.seed") != nullptr ? info.get("train.seed") : "";
  dare_tools::IdTranslation translate(info, data);
  std::unique_ptr<dare_tools::LoadedModel> model;
  try {
    model = dare_tools::load_model(info, path, data, a.threads);
  } catch (const std::invalid_argument& e) {  // a mismatch of model and input, which does not name the file
    const std::string what = e.what();
    throw std::invalid_argument(what.rfind(path, 0) == 0 ? what : path + ": " + what);
  }
  f.head_width = model->head_width();

  // The test split in the chunks of the model's training run (evaluate_split's rule).
  const dare::ConstSpan<dare::Sample> split = data.test();
  const dare::Index chunk = info.get_index("train.eval_batch_size", 1, dare::Index{1} << 30);
  dare::Index n = split.size();
  dare::Index chunks = (n + chunk - 1) / chunk;
  if (info.get_bool("train.eval_drop_last")) {
    chunks = n / chunk;
    n = chunks * chunk;
  }
  if (n < 2) {
    throw std::invalid_argument(dare::detail::concat(a.input, ": the test split has ", n,
                                                     " samples to analyse (at least 2 are needed)"));
  }
  std::vector<float> rows;
  rows.reserve(static_cast<std::size_t>(n * f.head_width));
  std::vector<int> labels(static_cast<std::size_t>(n));
  std::vector<float> prob(static_cast<std::size_t>(n));
  dare::Batch batch;
  const dare::ScopedFlushDenormals ftz(true);
  for (dare::Index c = 0; c < chunks; ++c) {
    const dare::Index begin = c * n / chunks;
    const dare::Index count = (c + 1) * n / chunks - begin;
    dare::fill_batch(data, split.data() + begin, nullptr, count, batch);
    if (!translate.identity()) translate(batch);
    int* y = labels.data() + begin;
    for (dare::Index i = 0; i < count; ++i) y[i] = batch.label[static_cast<std::size_t>(i)] > 0.5f ? 1 : 0;
    model->predict_head_input(dare::sequence_batch(batch, y), prob.data() + begin, rows);
  }
  f.translated = !translate.identity();
  f.unknown = translate.unknown();
  f.samples = n;
  f.test_auc = dare::Metrics::auc(prob, labels);

  if (a.standardize) dare::standardize_columns(rows.data(), n, f.head_width);
  dare::DiscriminabilityOptions o;
  o.ks.assign(a.ks.begin(), a.ks.end());
  o.kmeans.seed = a.seed;
  o.kmeans.max_iterations = a.max_iterations;
  o.threads = a.threads;
  f.points = dare::discriminability(rows.data(), n, f.head_width, dare::ConstSpan<std::int32_t>(labels.data(), n), o);
  if (!a.head_inputs_out.empty()) {
    f.rows = std::move(rows);
    f.labels = std::move(labels);
  }
  return f;
}

/// One sample a line: its label, then its head input (for checking the clustering with
/// other tools, e.g. bench/cluster_cost --points).
std::string head_inputs_csv(const ModelFigures& f) {
  std::string text;
  text.reserve(static_cast<std::size_t>(f.samples * (f.head_width * 11 + 3)));
  char buf[32];
  for (dare::Index i = 0; i < f.samples; ++i) {
    text += f.labels[static_cast<std::size_t>(i)] ? '1' : '0';
    for (dare::Index j = 0; j < f.head_width; ++j) {
      std::snprintf(buf, sizeof buf, ",%.9g", static_cast<double>(f.rows[static_cast<std::size_t>(i * f.head_width + j)]));
      text += buf;
    }
    text += '\n';
  }
  return text;
}

/// The --head-inputs-out file of model file `path`: DIR/<its name without .dare>.csv.
std::string head_inputs_path(const std::string& dir, const std::string& path) {
  std::string name = dare::detail::base_name(path);
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".dare") == 0) name.resize(name.size() - 5);
  return (std::filesystem::path(dir) / (name + ".csv")).string();
}

std::string figures_csv(const std::vector<ModelFigures>& all) {
  std::ostringstream os;
  os.precision(9);
  os << "model_file,kind,train_seed,standardized,samples,head_width,test_auc,k,clusters,mutual_information_nats,"
        "normalized_mi,label_entropy_nats,chance_mi_nats,kmeans_objective,kmeans_iterations,kmeans_converged,"
        "kmeans_seconds\n";
  for (const ModelFigures& f : all) {
    for (const auto& p : f.points) {
      // Paths are written as given; a comma or quote in one is quoted, CSV-style.
      std::string path = f.path;
      if (path.find_first_of(",\"\n") != std::string::npos) {
        std::string q = "\"";
        for (const char ch : path) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        path = q + "\"";
      }
      os << path << ',' << f.kind << ',' << f.seed << ',' << (f.standardized ? 1 : 0) << ',' << f.samples << ',' << f.head_width << ',' << f.test_auc
         << ',' << p.k << ',' << p.clusters << ',' << p.info.mutual_information << ',' << p.info.normalized << ','
         << p.info.label_entropy << ',' << dare::chance_mutual_information(p.clusters, f.samples) << ','
         << p.objective << ',' << p.iterations << ',' << (p.converged ? 1 : 0) << ',' << p.seconds << '\n';
    }
  }
  return os.str();
}

/// MI per k, one column per model file; then, for kinds given more than once, the mean and
/// sample standard deviation over their files.
void print_summary(const std::vector<ModelFigures>& all, const std::vector<long long>& ks) {
  std::printf("\nmutual information between k-means clusters of the head input%s and the label (nats)\n",
              !all.empty() && all[0].standardized ? " (standardised)" : "");
  std::printf("%6s", "k");
  for (const ModelFigures& f : all) std::printf(" %14s", (f.kind + (f.seed.empty() ? "" : "/s" + f.seed)).c_str());
  std::printf("\n");
  for (std::size_t j = 0; j < ks.size(); ++j) {
    std::printf("%6lld", ks[j]);
    for (const ModelFigures& f : all) std::printf(" %14.5f", f.points[j].info.mutual_information);
    std::printf("\n");
  }
  std::printf("%6s", "H(Y)");
  for (const ModelFigures& f : all) std::printf(" %14.5f", f.points[0].info.label_entropy);
  std::printf("\n");
  std::map<std::string, std::vector<const ModelFigures*>> by_kind;
  std::vector<std::string> kinds;  // in the order first given
  for (const ModelFigures& f : all) {
    auto& v = by_kind[f.kind];
    if (v.empty()) kinds.push_back(f.kind);
    v.push_back(&f);
  }
  bool repeated = false;
  for (const auto& kv : by_kind) repeated = repeated || kv.second.size() > 1;
  if (!repeated) return;
  std::printf("\nmean ± sd over the files of each kind (MI, nats; normalised MI)\n%6s", "k");
  for (const std::string& kind : kinds) {
    std::printf(" %34s", (kind + " (" + std::to_string(by_kind[kind].size()) + ")").c_str());
  }
  std::printf("\n");
  for (std::size_t j = 0; j < ks.size(); ++j) {
    std::printf("%6lld", ks[j]);
    for (const std::string& kind : kinds) {
      const auto& files = by_kind[kind];
      std::vector<double> mi, nmi;
      for (const ModelFigures* f : files) {
        mi.push_back(f->points[j].info.mutual_information);
        nmi.push_back(f->points[j].info.normalized);
      }
      const MeanSd m = mean_sd(mi), n = mean_sd(nmi);
      std::printf("   %.5f ± %.5f; %.4f ± %.4f", m.mean, m.sd, n.mean, n.sd);
    }
    std::printf("\n");
  }
}

void run_discriminability(const DiscriminabilityArgs& a) {
  std::vector<dare::NamedPath> inputs = {{a.input, "--input"}};
  for (const std::string& m : a.model_files) inputs.push_back({m, "--model-file"});
  if (!a.out.empty()) dare::check_output_path(a.out, "--out", inputs);
  std::vector<std::string> head_outs;
  if (!a.head_inputs_out.empty()) {
    if (!std::filesystem::is_directory(a.head_inputs_out)) {
      throw std::invalid_argument("--head-inputs-out: '" + a.head_inputs_out + "' is not a directory");
    }
    std::vector<dare::NamedPath> taken = inputs;  // nor over --out or one another
    if (!a.out.empty()) taken.push_back({a.out, "--out"});
    for (const std::string& m : a.model_files) {
      const std::string p = head_inputs_path(a.head_inputs_out, m);
      for (const dare::NamedPath& t : taken) {
        if (t.path == p) throw std::invalid_argument("--head-inputs-out: " + p + " is also " + t.what);
      }
      dare::check_output_path(p, "--head-inputs-out", taken);
      head_outs.push_back(p);
      taken.push_back({p, "--head-inputs-out of another model file"});
    }
  }
  std::vector<ModelFigures> all;
  std::string prepared_key;
  std::unique_ptr<dare_tools::ModelInput> in;
  for (const std::string& path : a.model_files) {
    const dare::ModelFileInfo info = dare::read_model_file_info(path);
    const std::string key = preprocessing_key(info);
    if (!in || key != prepared_key) {
      in.reset();  // a raw log's temporary goes before the next is made
      in = std::make_unique<dare_tools::ModelInput>(a.input, info, a.quiet);
      prepared_key = key;
    }
    all.push_back(analyse_model(a, path, info, in->data()));
    ModelFigures& f = all.back();
    if (!a.head_inputs_out.empty()) {
      dare::write_text_file_atomically(head_outs[all.size() - 1], head_inputs_csv(f), "--head-inputs-out file");
      f.rows = {};
      f.labels = {};
    }
    const std::string* run_auc = info.find("train.test_auc");
    char recorded[32] = "not recorded";
    if (run_auc != nullptr) std::snprintf(recorded, sizeof recorded, "%.5f", std::strtod(run_auc->c_str(), nullptr));
    std::printf("%s: %s model, %lld test samples, head input %lld wide; test AUC %.5f (its training run: %s)\n",
                path.c_str(), f.kind.c_str(), static_cast<long long>(f.samples), static_cast<long long>(f.head_width),
                f.test_auc, recorded);
    if (f.translated) {
      std::printf("  ids translated through the model's vocabulary; unknown (mapped to the padding row): %lld history "
                  "items, %lld target items, %lld categories\n",
                  f.unknown.history_items, f.unknown.target_items, f.unknown.categories);
    }
    if (!a.quiet) {
      for (const auto& p : f.points) {
        std::printf("  k %5lld: MI %.5f nats (normalised %.4f, chance %.5f), k-means %lld iterations%s, %.1f s\n",
                    static_cast<long long>(p.k), p.info.mutual_information, p.info.normalized,
                    dare::chance_mutual_information(p.clusters, f.samples), static_cast<long long>(p.iterations),
                    p.converged ? "" : " (not converged)", p.seconds);
      }
    }
    std::fflush(stdout);
  }
  print_summary(all, a.ks);
  if (!a.out.empty()) dare::write_text_file_atomically(a.out, figures_csv(all), "--out file");
}

}  // namespace

void add_discriminability(CLI::App& app) {
  auto a = std::make_shared<DiscriminabilityArgs>();
  CLI::App* sub = app.add_subcommand(
      "discriminability",
      "Representation discriminability: k-means on each model's head input [v, u, v*u] of the test samples, and "
      "the mutual information between clusters and labels, per k");
  sub->add_option("--input", a->input, "raw log (preprocessed as each model's data was) or dataset file")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--model-file", a->model_files, "model file written by dare_train --checkpoint (repeat for several)")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--k", a->ks, "numbers of clusters, comma-separated")
      ->delimiter(',')
      ->check(dare_tools::whole_number(1, 1000000))
      ->capture_default_str();
  sub->add_option("--seed", a->seed, "seed of k-means++")
      ->check(dare_tools::unsigned_whole_number(0, UINT64_MAX))
      ->capture_default_str();
  sub->add_option("--max-iterations", a->max_iterations, "Lloyd iterations at most per k")
      ->check(dare_tools::whole_number(1, 100000))
      ->capture_default_str();
  sub->add_option("--threads", a->threads, "worker threads (the model's; then k values in parallel)")
      ->check(dare_tools::whole_number(1, 1024))
      ->capture_default_str();
  sub->add_option("--out", a->out, "write the figures as CSV to this file (one row per model file and k)");
  sub->add_option("--head-inputs-out", a->head_inputs_out,
                  "also write the rows clustered (each model's head inputs, standardised with --standardize) to DIR/<model file name>.csv: label, then the values");
  sub->add_flag("--standardize", a->standardize,
                "give every head-input coordinate mean 0 and variance 1 over the test samples before k-means "
                "(as the head's BatchNorm does; raw, the v*u block barely counts in the distances)");
  sub->add_flag("--quiet", a->quiet, "only the summary");
  sub->callback([a] { run_discriminability(*a); });
}

}  // namespace dare_analyze
