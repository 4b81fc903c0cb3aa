// dare_analyze widths — accuracy against search cost (the paper's Figure 11 c-d): DARE with
// attention width A over a list at a fixed representation width, against TWIN whose one
// width D runs over the same list; test AUC over seeds on one axis, the measured search time
// per target on the other, at the reference's history length (200) and a long one (10,000).
//
//   dare_analyze widths --input DATA.dare [--widths 4,8,16,32,64] [--repr-dim 16] [--seeds 3]
//                       [--lengths 200,10000] [--out widths.csv]
//
// The search a width costs is the model's: each behaviour's attention key is [item | category],
// 2A floats, scored against the target's query (dare::dot_rows at that width) and the K = 20
// best kept (dare::TopK). Its time is measured here, on this machine, as the median over
// repetitions of one target against a history read from memory (cold: histories rotate
// through a 256 MiB pool, as a server meets one user after another) and against one history
// that stays in cache (hot). The training runs are dare_train's (training.hpp).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "analyze/commands.hpp"
#include "analyze/summary.hpp"
#include "analyze/training.hpp"
#include "dare/dare.hpp"
#include "tool_checks.hpp"

namespace dare_analyze {
namespace {

using dare::Index;
using Clock = std::chrono::steady_clock;

constexpr Index kTopK = 20;

struct WidthsOptions {
  std::string input;
  std::vector<int> widths = {4, 8, 16, 32, 64};
  int repr_dim = 16;
  int seeds = 3;
  std::vector<int> lengths = {200, 10000};
  std::vector<std::string> models = {"dare", "twin"};
  int threads = 2;
  dare::Index batch_size = 2048;
  dare::Index max_steps = 0;
  dare::Index eval_interval = 150;
  bool search_only = false;
  std::string out;
};

// Scores n rows of `width` floats (stride = width) against the query: the fixed-width kernel
// a compiled-in model runs, else the Dynamic one.
void score_rows(const float* query, const float* rows, Index n, Index width, float* out) {
  switch (width) {
    case 8: return dare::dot_rows<8>(query, rows, n, 8, out);
    case 16: return dare::dot_rows<16>(query, rows, n, 16, out);
    case 32: return dare::dot_rows<32>(query, rows, n, 32, out);
    case 64: return dare::dot_rows<64>(query, rows, n, 64, out);
    case 128: return dare::dot_rows<128>(query, rows, n, 128, out);
    default: return dare::dot_rows<dare::Dynamic>(query, rows, n, width, out, width);
  }
}

struct SearchCost {
  double cold_us = 0;
  double hot_us = 0;
};

// The rows the search cost reads: random normal floats, made once for every width and
// length (a history of `len` keys of `width` floats is a stretch of them).
dare::AlignedVector<float> search_pool(Index max_history_floats) {
  constexpr Index kPoolFloats = (Index(256) << 20) / Index(sizeof(float));
  dare::AlignedVector<float> pool(static_cast<std::size_t>(std::max(kPoolFloats, 2 * max_history_floats)));
  std::mt19937 rng(2025);
  std::normal_distribution<float> normal;
  for (auto& x : pool) x = normal(rng);
  return pool;
}

// The median time of one target's search over `len` keys of `width` floats (see the header),
// its histories cut from `pool`.
SearchCost measure_search(const dare::AlignedVector<float>& pool, Index width, Index len) {
  const Index history_floats = len * width;
  const Index histories = static_cast<Index>(pool.size()) / history_floats;  // at least 2 (search_pool)
  std::mt19937 rng(2025);
  std::normal_distribution<float> normal;
  dare::AlignedVector<float> query(static_cast<std::size_t>(width));
  for (auto& x : query) x = normal(rng);
  std::vector<Index> order(static_cast<std::size_t>(histories));
  std::iota(order.begin(), order.end(), Index{0});
  std::shuffle(order.begin(), order.end(), rng);

  dare::AlignedVector<float> scores(static_cast<std::size_t>(len));
  std::vector<Index> positions(kTopK);
  std::vector<float> best(kTopK);
  dare::TopK<float> topk(std::min(kTopK, len));
  auto search = [&](const float* rows) {
    score_rows(query.data(), rows, len, width, scores.data());
    topk.select(scores.data(), len, nullptr, positions.data(), best.data());
  };
  // Repetitions per timed batch: about a millisecond of work, at least one.
  const Index per_batch = std::max<Index>(1, 1'000'000 / std::max<Index>(1, history_floats));
  constexpr int kBatches = 31;
  auto median_us = [&](bool cold) {
    std::vector<double> t;
    Index next = 0;
    for (int b = 0; b < kBatches + 2; ++b) {  // the first two warm up
      const auto start = Clock::now();
      for (Index r = 0; r < per_batch; ++r) {
        const Index h = cold ? order[static_cast<std::size_t>(next++ % histories)] : 0;
        search(pool.data() + h * history_floats);
      }
      const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
      if (b >= 2) t.push_back(us / static_cast<double>(per_batch));
    }
    std::nth_element(t.begin(), t.begin() + kBatches / 2, t.end());
    return t[kBatches / 2];
  };
  SearchCost c;
  c.cold_us = median_us(true);
  c.hot_us = median_us(false);
  return c;
}

struct Run {
  std::string model;
  int att = 0, repr = 0;
  std::uint64_t seed = 0;
  dare::TrainResult result;
};

std::vector<double> aucs(const std::vector<Run>& runs, const std::string& model, int width) {
  std::vector<double> v;
  for (const Run& r : runs) {
    if (r.model == model && r.att == width) v.push_back(r.result.test.auc);
  }
  return v;
}

void run_widths(WidthsOptions o) {
  const std::vector<dare::NamedPath> inputs = {{o.input, "--input"}};
  if (!o.out.empty()) dare::check_output_path(o.out, "--out", inputs);
  std::vector<int> widths = o.widths;
  std::sort(widths.begin(), widths.end());
  widths.erase(std::unique(widths.begin(), widths.end()), widths.end());

  // The search cost first: it needs a quiet machine, which training is not.
  std::vector<std::vector<SearchCost>> cost(widths.size());
  std::printf("search time per target, K = %lld (median; cold: history from memory, hot: in cache)\n",
              static_cast<long long>(kTopK));
  std::printf("%-6s %-10s", "width", "key floats");
  for (int len : o.lengths) std::printf(" %13s %12s", ("cold L=" + std::to_string(len)).c_str(), ("hot L=" + std::to_string(len)).c_str());
  std::printf("\n");
  const dare::AlignedVector<float> pool =
      search_pool(Index{2} * widths.back() * *std::max_element(o.lengths.begin(), o.lengths.end()));
  for (std::size_t w = 0; w < widths.size(); ++w) {
    std::printf("%-6d %-10d", widths[w], 2 * widths[w]);
    for (int len : o.lengths) {
      cost[w].push_back(measure_search(pool, 2 * widths[w], len));
      std::printf(" %10.2f us %9.2f us", cost[w].back().cold_us, cost[w].back().hot_us);
    }
    std::printf("\n");
    std::fflush(stdout);
  }

  std::vector<Run> runs;
  if (!o.search_only) {
    const dare::Dataset data = open_dataset(o.input, "--input");
    for (int width : widths) {
      for (const std::string& model : o.models) {
        for (int seed = 1; seed <= o.seeds; ++seed) {
          RunSpec spec;
          spec.model = model;
          spec.att_dim = width;
          spec.repr_dim = model == "dare" ? o.repr_dim : width;
          spec.seed = static_cast<std::uint64_t>(seed);
          spec.threads = o.threads;
          spec.batch_size = o.batch_size;
          spec.max_steps = o.max_steps;
          spec.eval_interval = o.eval_interval;
          Run r{model, spec.att_dim, spec.repr_dim, spec.seed, train(data, spec)};
          std::fprintf(stderr, "%s A=%d R=%d seed %d: test AUC %.5f\n", model.c_str(), r.att, r.repr, seed,
                       r.result.test.auc);
          runs.push_back(std::move(r));
        }
      }
    }
    std::printf("\ntest AUC, mean ± sd over %d seeds (DARE: representation width %d)\n", o.seeds, o.repr_dim);
    std::printf("%-6s", "width");
    for (const auto& m : o.models) std::printf(" %20s", m.c_str());
    std::printf("\n");
    for (int width : widths) {
      std::printf("%-6d", width);
      for (const auto& m : o.models) {
        const MeanSd auc = mean_sd(aucs(runs, m, width));
        std::printf("      %.4f ± %.4f", auc.mean, auc.sd);
      }
      std::printf("\n");
    }
    // The paper's reading: halving the attention width costs DARE little and TWIN more.
    for (std::size_t w = 1; w < widths.size(); ++w) {
      if (widths[w] != 2 * widths[w - 1]) continue;
      std::printf("width %d -> %d, test AUC change:", widths[w], widths[w - 1]);
      for (const auto& m : o.models) {
        std::printf("  %s %+.4f", m.c_str(),
                    mean_sd(aucs(runs, m, widths[w - 1])).mean - mean_sd(aucs(runs, m, widths[w])).mean);
      }
      std::printf("  (search time x%.2f cold at L=%d)\n", cost[w - 1][0].cold_us / cost[w][0].cold_us, o.lengths[0]);
    }
  }

  if (o.out.empty()) return;
  std::ostringstream csv;
  csv.precision(8);
  csv << "model,att_width,repr_width,seed,test_auc,test_logloss,best_val_auc,best_step,steps";
  for (int len : o.lengths) csv << ",search_cold_us_L" << len << ",search_hot_us_L" << len;
  csv << "\n";
  auto cost_columns = [&](int width) {
    const std::size_t w = static_cast<std::size_t>(std::find(widths.begin(), widths.end(), width) - widths.begin());
    for (const SearchCost& c : cost[w]) csv << "," << c.cold_us << "," << c.hot_us;
    csv << "\n";
  };
  if (o.search_only) {
    for (int width : widths) {
      csv << "search," << width << ",,,,,,,";
      cost_columns(width);
    }
  }
  for (const Run& r : runs) {
    csv << r.model << "," << r.att << "," << r.repr << "," << r.seed << "," << r.result.test.auc << ","
        << r.result.test.logloss << "," << r.result.best_val.auc << "," << r.result.best_step << "," << r.result.steps;
    cost_columns(r.att);
  }
  dare::write_text_file_atomically(o.out, csv.str(), "--out file");
  std::printf("wrote %s\n", o.out.c_str());
}

}  // namespace

void add_widths(CLI::App& app) {
  auto o = std::make_shared<WidthsOptions>();
  CLI::App* sub = app.add_subcommand("widths", "accuracy against search cost: DARE's attention width against TWIN's width");
  using dare_tools::whole_number;
  sub->add_option("--input", o->input, "dataset (dare_prep, or the cache dare_train wrote)")->check(CLI::ExistingFile);
  sub->add_option("--widths", o->widths, "attention widths per field (TWIN: its one width)")
      ->delimiter(',')
      ->check(whole_number(1, 512))
      ->capture_default_str();
  sub->add_option("--repr-dim", o->repr_dim, "DARE's representation width per field")
      ->check(whole_number(1, dare::kMaxEmbeddingDim))
      ->capture_default_str();
  sub->add_option("--seeds", o->seeds, "seeds 1..N per model and width")->check(whole_number(1, 100))->capture_default_str();
  sub->add_option("--lengths", o->lengths, "history lengths of the search-time measurement")
      ->delimiter(',')
      ->check(whole_number(1, dare::kMaxHistoryLength))
      ->capture_default_str();
  sub->add_option("--models", o->models, "models to train: dare, twin")
      ->delimiter(',')
      ->check(CLI::IsMember({"dare", "twin"}))
      ->capture_default_str();
  sub->add_option("--threads", o->threads, "training threads")->check(whole_number(1, 1024))->capture_default_str();
  sub->add_option("--batch-size", o->batch_size, "samples per step")->check(whole_number(1, 1 << 20))->capture_default_str();
  sub->add_option("--max-steps", o->max_steps, "stop each run after this many steps (0: two epochs)")
      ->check(whole_number(0, 1000000000))
      ->capture_default_str();
  sub->add_option("--eval-interval", o->eval_interval, "validate every this many steps (and 5 times an epoch at least)")
      ->check(whole_number(0, 1000000000))
      ->capture_default_str();
  sub->add_flag("--search-only", o->search_only, "measure the search cost only (no training, no --input)");
  sub->add_option("--out", o->out, "CSV: one row per training run, with its width's search times");
  sub->callback([o] {
    if (!o->search_only && o->input.empty()) throw CLI::RequiredError("--input (or --search-only)");
    for (int len : o->lengths) {
      if (len < kTopK) {
        throw CLI::ValidationError("--lengths", "must be at least K = 20 behaviours, got " + std::to_string(len));
      }
    }
    run_widths(*o);
  });
}

}  // namespace dare_analyze
