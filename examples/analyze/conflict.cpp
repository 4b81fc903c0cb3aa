// dare_analyze conflict — gradient conflict and domination in TWIN's one table (the DARE
// paper's analysis; docs/analyses.md).
//
//   dare_analyze conflict --input synthetic.csv --seed 1 --out conflict.csv
//
// Trains TWIN (width 16, dare_train's settings) with SequenceModel::observe_role_gradients on,
// so training is TWIN's exactly, and after every step compares the attention and the
// representation parts of the category table's gradient row by row, with the definitions of
// the public reference's scripts (dare/analysis/gradient_conflict.hpp). --out gets one row per
// (step, category with a gradient), --steps-out one row per step; stdout the summary.
#include <cmath>
#include <cstdio>
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "analyze/commands.hpp"
#include "dare/analysis/gradient_conflict.hpp"
#include "dare/dare.hpp"
#include "model_use.hpp"
#include "tool_checks.hpp"

namespace dare_analyze {
namespace {

struct ConflictSettings {
  std::string input;
  std::string format = "taobao";
  std::string out;
  std::string steps_out;
  std::string field = "category";
  std::uint64_t seed = 1;
  int threads = 2;
  int epochs = 2;
  long long max_steps = 0;
  long long window = dare::kConflictWindow;
  bool quiet = false;
};

using Model = dare::Twin<float, 16>;

// A number for the CSV: "nan" for an undefined one, else enough digits to read it back.
std::string number(double x) {
  if (std::isnan(x)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

std::string percent(double share) {
  if (std::isnan(share)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * share);
  return buf;
}

std::string figure(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", x);
  return buf;
}

void run_conflict(const ConflictSettings& s) {
  std::vector<dare::NamedPath> inputs = {{s.input, "--input"}};
  if (!s.out.empty()) {
    dare::check_output_path(s.out, "--out", inputs);
    inputs.push_back({s.out, "--out"});
  }
  if (!s.steps_out.empty()) dare::check_output_path(s.steps_out, "--steps-out", inputs);
  const int field = s.field == "item" ? dare::kItem : s.field == "time" ? dare::kTime : dare::kCategory;

  dare::PreprocessOptions prep;  // dare_train's defaults
  const dare_tools::ModelInput input(s.input, dare::parse_raw_format(s.format, "--format"), prep, s.quiet);
  const dare::Dataset& data = input.data();

  dare::ModelConfig config = dare::model_config_for(data, 16, 16);
  config.seed = s.seed;
  Model model(config);
  model.observe_role_gradients(true);
  dare::TrainOptions options;  // dare_train's protocol, validated once at the end: validation
  options.eval_interval = 0;   // does not change the training steps, so it is left out
  options.min_evals_per_epoch = 0;
  options.epochs = s.epochs;
  options.max_steps = s.max_steps;
  options.threads = s.threads;
  options.shuffle_seed = s.seed;
  dare::Trainer<Model> trainer(model, data, options);

  const dare::Index rows = model.table<dare::Role::AttentionHistory>(field).rows();
  std::vector<dare::StepConflict> steps;
  std::vector<int> epochs;
  dare::CategoryConflicts per_row(rows);
  std::ostringstream csv, steps_csv;
  csv << "step,epoch," << s.field << ",cosine,attention_norm,representation_norm,norm_ratio\n";
  steps_csv << "step,epoch,mean_cosine,conflicts,defined_rows,conflicting_rows,attention_norm,representation_norm,"
               "norm_ratio\n";
  trainer.on_progress([&](const dare::TrainProgress& p) {
    std::vector<dare::RowConflict> compared =
        dare::compare_rows(model.attention_role_grad(field), model.representation_role_grad(field));
    std::sort(compared.begin(), compared.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    const dare::StepConflict t = dare::summarize_step(compared, rows);
    if (p.step <= s.window) per_row.add(compared);
    steps.push_back(t);
    epochs.push_back(p.epoch);
    if (!s.out.empty()) {
      for (const dare::RowConflict& r : compared) {
        csv << p.step << ',' << p.epoch << ',' << r.id << ',' << number(r.cosine()) << ',' << number(r.attention_norm)
            << ',' << number(r.representation_norm) << ','
            << number(r.attention_norm > 0 ? r.representation_norm / r.attention_norm : std::nan("")) << '\n';
      }
    }
    steps_csv << p.step << ',' << p.epoch << ',' << number(t.mean_cosine) << ',' << (t.conflicts() ? 1 : 0) << ','
              << t.defined << ',' << t.conflicting << ',' << number(t.attention_norm) << ','
              << number(t.representation_norm) << ',' << number(t.norm_ratio()) << '\n';
    if (!s.quiet && (p.step % 25 == 0 || p.step == p.total_steps)) {
      std::fprintf(stderr, "[conflict] step %lld/%lld  loss %.4f\n", static_cast<long long>(p.step),
                   static_cast<long long>(p.total_steps), p.loss);
    }
  });
  const dare::TrainResult result = trainer.run();
  if (!s.out.empty()) dare::write_text_file_atomically(s.out, csv.str(), "--out");
  if (!s.steps_out.empty()) dare::write_text_file_atomically(s.steps_out, steps_csv.str(), "--steps-out");

  const dare::ConflictSummary sum = dare::summarize_training(steps, s.window);
  std::printf("TWIN, %s table (%lld rows), %lld steps, seed %llu; test AUC %.5f\n", s.field.c_str(),
              static_cast<long long>(rows), static_cast<long long>(sum.steps),
              static_cast<unsigned long long>(s.seed), result.test.auc);
  const long long window = static_cast<long long>(sum.window);
  std::printf("  steps with a negative mean cosine (gradient_conflict.py): %s (paper: about 65%%)\n",
              percent(sum.conflicting_steps).c_str());
  std::printf("  rows conflicting in most of steps 1-%lld (category_wise_gradient_conflict.py): %s\n", window,
              percent(per_row.majority_conflicting_share()).c_str());
  std::printf("  conflicting (step, row) pairs: %s\n", percent(sum.conflicting_pairs).c_str());
  std::printf("  representation / attention norm over steps 1-%lld (gradient_domination.py): %s "
              "(mean |r| %s, |a| %s; paper: about 5)\n", window, figure(sum.norm_ratio).c_str(),
              figure(sum.representation_norm).c_str(), figure(sum.attention_norm).c_str());
  std::printf("  median of the steps' norm ratios: %s\n", figure(sum.median_norm_ratio).c_str());
  // Over training: the same two figures per fifth of the run.
  const std::size_t n = steps.size(), parts = std::min<std::size_t>(5, n);
  std::printf("  over training:   steps      conflicting steps  median norm ratio\n");
  for (std::size_t k = 0; k < parts; ++k) {
    const std::vector<dare::StepConflict> part(steps.begin() + static_cast<std::ptrdiff_t>(k * n / parts),
                                               steps.begin() + static_cast<std::ptrdiff_t>((k + 1) * n / parts));
    const dare::ConflictSummary ps = dare::summarize_training(part);
    std::printf("                  %5zu-%-5zu  %-17s  %s\n", k * n / parts + 1, (k + 1) * n / parts,
                percent(ps.conflicting_steps).c_str(), figure(ps.median_norm_ratio).c_str());
  }
}

}  // namespace

void add_conflict(CLI::App& app) {
  auto settings = std::make_shared<ConflictSettings>();
  ConflictSettings& s = *settings;
  CLI::App* cmd = app.add_subcommand(
      "conflict", "Gradient conflict and domination: TWIN trained with its table's attention and representation "
                  "gradients observed apart (the reference's -observe_attn_repr_grad)");
  cmd->add_option("--input", s.input, "a Taobao/Tmall log or a dare dataset")->required()->check(CLI::ExistingFile);
  cmd->add_option("--format", s.format, "the raw log's format (taobao or tmall; ignored for a dataset)")
      ->check(CLI::IsMember({"taobao", "tmall"}));
  cmd->add_option("--seed", s.seed, "initialisation and shuffle seed")
      ->check(dare_tools::unsigned_whole_number(0, UINT64_MAX));
  cmd->add_option("--threads", s.threads, "training threads")->check(dare_tools::whole_number(1, 256));
  cmd->add_option("--epochs", s.epochs, "training epochs (the reference: 2)")->check(dare_tools::whole_number(1, 1000));
  cmd->add_option("--max-steps", s.max_steps, "stop after this many steps (0: all epochs)")
      ->check(dare_tools::whole_number(0, 1LL << 40));
  cmd->add_option("--field", s.field, "the table compared: category (the reference's), item or time")
      ->check(CLI::IsMember({"category", "item", "time"}));
  cmd->add_option("--window", s.window, "the first steps behind the norm ratio and the per-category shares (the "
                                        "reference: 100)")
      ->check(dare_tools::whole_number(1, 1LL << 40));
  cmd->add_option("--out", s.out, "CSV: one row per step and compared row");
  cmd->add_option("--steps-out", s.steps_out, "CSV: one row per step");
  cmd->add_flag("--quiet", s.quiet, "no progress on stderr");
  cmd->callback([settings] { run_conflict(*settings); });
}

}  // namespace dare_analyze
