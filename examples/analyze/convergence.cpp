// dare_analyze convergence — validation AUC against training step, DARE against TWIN (the
// paper's Figure 11 a-b: "performs obviously better with fewer training data"). Within the
// first epoch a step s has seen s batches of new samples, so the curve up to one epoch is the
// accuracy reached with that little data.
//
//   dare_analyze convergence --input DATA.dare [--seeds 3] [--eval-interval 4] [--out conv.csv]
//
// Each run is dare_train's (training.hpp) with validation every --eval-interval steps. The
// summary gives each model's mean validation AUC at a few steps and the first step at which
// its mean curve reaches a share of the best mean validation AUC either model reached.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "analyze/commands.hpp"
#include "analyze/training.hpp"
#include "dare/dare.hpp"
#include "tool_checks.hpp"

namespace dare_analyze {
namespace {

struct ConvergenceOptions {
  std::string input;
  int att_dim = 16;
  int repr_dim = 16;
  int seeds = 3;
  int threads = 2;
  dare::Index batch_size = 2048;
  dare::Index max_steps = 0;
  dare::Index eval_interval = 4;
  std::string out;
};

// The mean validation AUC over seeds at every step all of a model's runs validated at.
std::map<dare::Index, double> mean_curve(const std::vector<dare::TrainResult>& runs) {
  std::map<dare::Index, std::pair<double, int>> sum;
  for (const auto& r : runs) {
    for (const auto& p : r.history) {
      auto& s = sum[p.step];
      s.first += p.auc;
      s.second += 1;
    }
  }
  std::map<dare::Index, double> curve;
  for (const auto& [step, s] : sum) {
    if (s.second == static_cast<int>(runs.size())) curve[step] = s.first / s.second;
  }
  return curve;
}

void run_convergence(const ConvergenceOptions& o) {
  const std::vector<dare::NamedPath> inputs = {{o.input, "--input"}};
  if (!o.out.empty()) dare::check_output_path(o.out, "--out", inputs);
  const dare::Dataset data = open_dataset(o.input, "--input");
  const std::vector<std::string> models = {"dare", "twin"};
  std::vector<std::vector<dare::TrainResult>> runs(models.size());
  for (std::size_t m = 0; m < models.size(); ++m) {
    for (int seed = 1; seed <= o.seeds; ++seed) {
      RunSpec spec;
      spec.model = models[m];
      spec.att_dim = o.att_dim;
      spec.repr_dim = models[m] == "dare" ? o.repr_dim : o.att_dim;
      spec.seed = static_cast<std::uint64_t>(seed);
      spec.threads = o.threads;
      spec.batch_size = o.batch_size;
      spec.max_steps = o.max_steps;
      spec.eval_interval = o.eval_interval;
      runs[m].push_back(train(data, spec));
      std::fprintf(stderr, "%s seed %d: best validation AUC %.5f at step %lld, test AUC %.5f\n", models[m].c_str(),
                   seed, runs[m].back().best_val.auc, static_cast<long long>(runs[m].back().best_step),
                   runs[m].back().test.auc);
    }
  }

  std::vector<std::map<dare::Index, double>> curves;
  double best = 0;
  for (const auto& r : runs) {
    curves.push_back(mean_curve(r));
    for (const auto& [step, auc] : curves.back()) best = std::max(best, auc);
  }
  const dare::Index steps_per_epoch =
      (static_cast<dare::Index>(data.train().size()) + o.batch_size - 1) / o.batch_size;
  std::printf("validation AUC, mean over %d seeds (training samples seen = step x %lld; %lld steps an epoch)\n",
              o.seeds, static_cast<long long>(o.batch_size), static_cast<long long>(steps_per_epoch));
  std::printf("%8s %10s %10s %10s\n", "step", "dare", "twin", "dare-twin");
  const auto& first = curves[0];
  std::size_t i = 0;
  for (const auto& [step, auc] : first) {
    // About 12 rows: every check early on, then a spread of the rest.
    const bool show = i < 4 || i % std::max<std::size_t>(1, first.size() / 8) == 0 || i + 1 == first.size();
    ++i;
    const auto twin = curves[1].find(step);
    if (!show || twin == curves[1].end()) continue;
    std::printf("%8lld %10.5f %10.5f %+10.5f\n", static_cast<long long>(step), auc, twin->second, auc - twin->second);
  }
  std::printf("first step whose mean validation AUC reaches a share of the best (%.5f):\n", best);
  for (double share : {0.95, 0.97, 0.98, 0.99, 0.995}) {
    std::printf("  %5.1f%% (%.5f):", share * 100, share * best);
    for (std::size_t m = 0; m < models.size(); ++m) {
      dare::Index reached = -1;
      for (const auto& [step, auc] : curves[m]) {
        if (auc >= share * best) {
          reached = step;
          break;
        }
      }
      if (reached < 0) {
        std::printf("  %s never", models[m].c_str());
      } else {
        std::printf("  %s step %lld", models[m].c_str(), static_cast<long long>(reached));
      }
    }
    std::printf("\n");
  }

  if (o.out.empty()) return;
  std::ostringstream csv;
  csv.precision(8);
  csv << "model,seed,step,epoch,val_auc,val_logloss,train_loss,train_aux_loss\n";
  for (std::size_t m = 0; m < models.size(); ++m) {
    for (std::size_t s = 0; s < runs[m].size(); ++s) {
      for (const auto& p : runs[m][s].history) {
        csv << models[m] << "," << s + 1 << "," << p.step << "," << p.epoch << "," << p.auc << "," << p.logloss << ","
            << p.train_loss << "," << p.train_aux_loss << "\n";
      }
    }
  }
  dare::write_text_file_atomically(o.out, csv.str(), "--out file");
  std::printf("wrote %s\n", o.out.c_str());
}

}  // namespace

void add_convergence(CLI::App& app) {
  auto o = std::make_shared<ConvergenceOptions>();
  CLI::App* sub = app.add_subcommand("convergence", "validation AUC against training step, DARE against TWIN");
  using dare_tools::whole_number;
  sub->add_option("--input", o->input, "dataset (dare_prep, or the cache dare_train wrote)")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--att-dim", o->att_dim, "attention width per field (TWIN: its one width)")
      ->check(whole_number(1, dare::kMaxEmbeddingDim))
      ->capture_default_str();
  sub->add_option("--repr-dim", o->repr_dim, "DARE's representation width per field")
      ->check(whole_number(1, dare::kMaxEmbeddingDim))
      ->capture_default_str();
  sub->add_option("--seeds", o->seeds, "seeds 1..N per model")->check(whole_number(1, 100))->capture_default_str();
  sub->add_option("--threads", o->threads, "training threads")->check(whole_number(1, 1024))->capture_default_str();
  sub->add_option("--batch-size", o->batch_size, "samples per step")->check(whole_number(1, 1 << 20))->capture_default_str();
  sub->add_option("--max-steps", o->max_steps, "stop each run after this many steps (0: two epochs)")
      ->check(whole_number(0, 1000000000))
      ->capture_default_str();
  sub->add_option("--eval-interval", o->eval_interval, "validate every this many steps")
      ->check(whole_number(1, 1000000000))
      ->capture_default_str();
  sub->add_option("--out", o->out, "CSV: every validation of every run");
  sub->callback([o] { run_convergence(*o); });
}

}  // namespace dare_analyze
