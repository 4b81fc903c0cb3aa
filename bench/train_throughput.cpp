// train_throughput — training samples/s of the model zoo at the reference settings (L = 200,
// K = 20, batch 2048): first the per-stage breakdown of DARE's step (1 and 2 threads, the
// built-in log's tables and Taobao-size ones under dense and lazy Adam, and TWIN), each stage
// against its floor at this machine's measured GEMM rate and bandwidth; then Dare<float,16,16>
// and Twin<float,16> with 1 and 2 threads, the other Table 1 models with 2; peak memory; and
// the serving latency of one user against 1,000 candidates for each model.
//
//   train_throughput [--users N] [--steps S] [--seed S] [--items N --cats N] [--breakdown-only | --dare-only]
//
// The data is the synthetic Taobao-format log, run through the real preprocessing protocol
// into a dataset file in a temporary directory; batches come from the training split in
// the trainer's order (groups of a positive and its negatives together). Each figure is the
// median over S timed steps after 3 warm-up steps; the spread is the inter-quartile range.
// The reference PyTorch implementation trains at about 7,300 samples/s on an H100.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "dare/dare.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(pos);
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

dare::SequenceBatch view(const dare::Batch& b, std::vector<int>& labels) {
  labels.resize(static_cast<std::size_t>(b.size));
  for (dare::Index i = 0; i < b.size; ++i) labels[static_cast<std::size_t>(i)] = b.label[static_cast<std::size_t>(i)] > 0.5f;
  return dare::sequence_batch(b, labels.data());
}

constexpr dare::Index kBatch = 2048;
constexpr int kWarmup = 3;

// Trains kWarmup + `steps` steps on consecutive training batches of kBatch samples, calling
// on_batch(step, batch) before each step; returns the seconds of each step after the warm-up.
template <class Model, class OnBatch>
std::vector<double> timed_steps(Model& model, const dare::Dataset& data, int steps, OnBatch&& on_batch) {
  const auto train = data.train();
  dare::Batch batch;
  std::vector<int> labels;
  std::vector<double> seconds;
  for (int step = 0; step < kWarmup + steps; ++step) {
    const dare::Index begin = (step * kBatch) % std::max<dare::Index>(1, train.size() - kBatch);
    dare::fill_batch(data, train.data() + begin, nullptr, kBatch, batch);
    on_batch(step, batch);
    const auto t0 = Clock::now();
    model.forward_backward(view(batch, labels));
    model.step();
    if (step >= kWarmup) seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return seconds;
}

// The heading of train_case's rows.
void print_training_header(int steps) {
  std::printf("training, L = 200, K = 20, batch 2048 (median and IQR of %d steps; vs 7,300/s PyTorch on H100)\n", steps);
  std::printf("%-48s %7s %12s %17s %10s\n", "model", "threads", "samples/s", "IQR", "vs H100");
}

// The reference settings on `data` (widths 16/16, K = 20); `items`/`cats` > 0 size the
// tables as a real log's (the data's ids stay in range), which changes what the optimizer
// streams under dense Adam.
dare::ModelConfig bench_config(const dare::Dataset& data, dare::Index items, dare::Index cats) {
  dare::ModelConfig c = dare::model_config_for(data, 16, 16);
  c.top_k = 20;
  if (items > 0) c.num_items = std::max(items, c.num_items);
  if (cats > 0) c.num_cats = std::max(cats, c.num_cats);
  return c;
}

// The model's threads and its Adam: dense (with or without the deferred rows) or lazy.
template <class Model>
void set_up(Model& model, int threads, dare::AdamMode mode, bool defer = true) {
  model.set_threads(threads);
  dare::OptimizerConfig opt;
  opt.embedding_mode = mode;
  opt.defer_untouched_rows = defer;
  model.configure_optimizer(opt);
}

template <class Model>
void train_case(const char* name, const dare::Dataset& data, int threads, int steps, bool flush = true,
                dare::Index items = 0, dare::Index cats = 0, dare::AdamMode mode = dare::AdamMode::Dense) {
  dare::ScopedFlushDenormals ftz(flush);
  Model model(bench_config(data, items, cats));
  set_up(model, threads, mode);
  std::vector<double> rates;
  for (double s : timed_steps(model, data, steps, [](int, const dare::Batch&) {})) rates.push_back(kBatch / s);
  const std::string label = std::string(name) + (flush ? "" : " (denormals kept)");
  std::printf("%-48s %7d %12.0f %8.0f-%-8.0f %9.2fx\n", label.c_str(), threads, quantile(rates, 0.5),
              quantile(rates, 0.25), quantile(rates, 0.75), quantile(rates, 0.5) / 7300.0);
}

// The machine's limits the breakdown's floors use: one core's multiply-add rate in an Eigen
// float GEMM of the heads' shape, and the read bandwidth over 256 MiB.
struct MachineRates {
  double flops_per_s = 0;
  double bytes_per_s = 0;
};

MachineRates measure_rates() {
  MachineRates r;
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(2048, 144), b = Eigen::MatrixXf::Random(144, 200), c(2048, 200);
  std::vector<double> t;
  for (int i = 0; i < 15; ++i) {
    const auto t0 = Clock::now();
    c.noalias() = a * b;
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  r.flops_per_s = 2.0 * 2048 * 144 * 200 / quantile(t, 0.5);
  // Three streams at once, as the optimizer reads value, m and v: one stream alone leaves
  // the core's memory parallelism unused and reads at about half the rate.
  const Eigen::Index n = Eigen::Index(24) << 20;
  Eigen::VectorXf x = Eigen::VectorXf::Ones(n), y = Eigen::VectorXf::Ones(n), z = Eigen::VectorXf::Ones(n);
  t.clear();
  float sink = 0;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    sink += (x + y + z).sum();  // vectorised: the loads, not the additions' latency, set the pace
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  r.bytes_per_s = 3.0 * static_cast<double>(n) * sizeof(float) / quantile(t, 0.5);
  volatile float keep = sink;  // the sums must happen
  (void)keep;
  return r;
}

// Dense Adam on one item table of the real log's size, where (unlike the breakdown's, whose
// data touch only the built-in log's items) every row takes gradients: each step touches
// `touched` uniformly drawn rows, as a batch of the real log would, and every `interval`
// steps a validation reads the whole table. Every row every step against deferred rows
// (touched rows only, the others replayed at the next read), in the same run.
void table_adam_case(dare::Index rows, dare::Index touched, int steps, int interval) {
  dare::ScopedFlushDenormals ftz(true);
  std::printf("\ndense Adam on a %lld x 16 table, %lld rows touched per step, synchronize every %d steps\n",
              static_cast<long long>(rows), static_cast<long long>(touched), interval);
  std::printf("  %-28s %14s %16s %14s\n", "rows updated", "ms per step", "ms per sync", "ms per step all-in");
  for (const bool defer : {false, true}) {
    dare::EmbeddingTable<float, 16> table(rows);
    table.init_normal(0.01f, 1);
    dare::TableAdam<float, 16> adam(table, dare::AdamOptions{}, dare::AdamMode::Dense);
    adam.set_deferred(defer);
    dare::SparseGrad<float, 16> grad;
    std::mt19937_64 gen(2);
    std::vector<float> g(16);
    std::vector<dare::Id> ids(static_cast<std::size_t>(touched));
    std::vector<double> step_s, sync_s;
    for (int t = 0; t < steps; ++t) {
      grad.clear();
      for (auto& id : ids) id = static_cast<dare::Id>(gen() % static_cast<std::uint64_t>(rows));
      for (dare::Id id : ids) {
        for (auto& x : g) x = static_cast<float>(static_cast<double>(gen() % 2001) * 1e-6 - 1e-3);
        grad.add(id, g.data());
      }
      const auto t0 = Clock::now();
      adam.prepare(ids.data(), touched);  // the batch reads its rows first
      adam.step(grad);
      step_s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      if ((t + 1) % interval == 0) {
        const auto t1 = Clock::now();
        adam.synchronize();
        sync_s.push_back(std::chrono::duration<double>(Clock::now() - t1).count());
      }
    }
    const double step_ms = 1e3 * quantile(step_s, 0.5);
    const double sync_ms = sync_s.empty() ? 0 : 1e3 * quantile(sync_s, 0.5);
    std::printf("  %-28s %14.2f %16.2f %14.2f\n", defer ? "deferred (touched rows)" : "every row every step", step_ms,
                sync_ms, step_ms + sync_ms / interval);
  }
}

// Where a training step's time goes (SequenceModel::set_stage_profile), per sample, against
// each stage's floor: its arithmetic at the measured GEMM rate or its bytes at the measured
// bandwidth (a bound no code reaches, to say how far each stage is from the machine's limit).
template <class Model>
void breakdown_case(const char* name, const dare::Dataset& data, int threads, int steps, dare::Index items,
                    dare::Index cats, dare::AdamMode mode, const MachineRates& rates, bool defer = true) {
  dare::ScopedFlushDenormals ftz(true);
  const dare::ModelConfig c = bench_config(data, items, cats);
  Model model(c);
  set_up(model, threads, mode, defer);
  const bool every_row = mode == dare::AdamMode::Dense && !defer;
  const dare::Index B = kBatch;
  dare::Index gathers = 0;  // samples whose window differs from the previous sample's
  const std::vector<double> seconds = timed_steps(model, data, steps, [&](int step, const dare::Batch& batch) {
    if (step < kWarmup) return;
    if (step == kWarmup) model.set_stage_profile(true);
    // A worker reuses the rows it gathered while the window stays the same (a positive and
    // its negatives share one), so the gather's bytes are per distinct window.
    for (dare::Index i = 0; i < B; ++i) {
      gathers += i == 0 || !std::equal(batch.hist_item_row(i), batch.hist_item_row(i) + c.max_len, batch.hist_item_row(i - 1));
    }
  });
  const double wall = std::accumulate(seconds.begin(), seconds.end(), 0.0);
  const dare::StageProfile p = model.stage_profile();
  const auto sync0 = Clock::now();
  model.synchronize();  // what the next validation or checkpoint pays for the deferred rows
  const double sync_s = std::chrono::duration<double>(Clock::now() - sync0).count();
  const double samples = static_cast<double>(B) * steps;

  // Floors per sample. L positions, K kept, A attention and V value floats per position.
  const double L = static_cast<double>(c.max_len), K = static_cast<double>(c.top_k);
  const double A2 = 2.0 * static_cast<double>(model.att_dim()), V = static_cast<double>(model.value_width());
  double head_flops = 0;  // forward 2·in·out, backward 4·in·out per weight matrix, both heads
  for (auto* w : model.head_parameters()) {
    if (w->value.rows() > 1 && w->value.cols() > 1) head_flops += 6.0 * static_cast<double>(w->value.size());
  }
  double table_bytes = 0;  // what dense Adam streams each step: value and two moments, read and written
  model.for_each_table([&](auto& table, const auto&, const std::string&) {
    table_bytes += 6.0 * 4.0 * static_cast<double>(table.rows()) * static_cast<double>(table.dim());
  });
  const double flop_us = 1e6 / rates.flops_per_s, byte_us = 1e6 / rates.bytes_per_s;
  struct Row {
    dare::Stage stage;
    double floor_us;
    const char* bound;
  };
  const double windows = static_cast<double>(gathers) / samples;  // distinct windows per sample
  const double window_bytes = L * (A2 + V) * 4 * windows;          // per sample
  // A window's gradient rows are added once per window into the batch's accumulators (the
  // keys' 2A floats and the values' V per position), each read and written: per sample
  // 2 · 4 · L · width · windows bytes, besides the target's own rows.
  const double key_grad_bytes = 2 * 4 * L * A2 * windows;
  const double value_grad_bytes = 2 * 4 * (L * windows + 1) * V;
  // The heads run on every thread (the GEMMs split by columns), so their floor is the
  // arithmetic spread over the threads; the other batch stages' floors are one thread's.
  const Row rows[] = {
      {dare::Stage::Gather, window_bytes * byte_us, "distinct windows' rows at bandwidth"},
      {dare::Stage::Search, 2 * L * A2 * flop_us, "L dot products"},
      {dare::Stage::Attention, 2 * (K + L) * V * flop_us, "main (K) and auxiliary (L) sums"},
      {dare::Stage::Heads, head_flops * flop_us / threads, "both heads' GEMMs, fwd + bwd, over the threads"},
      {dare::Stage::BackGather, window_bytes * byte_us, "the rows again"},
      {dare::Stage::BackAttention, 4 * (K + L) * V * flop_us, "the sums' backward"},
      {dare::Stage::BackSearch, 4 * L * A2 * flop_us + key_grad_bytes * byte_us, "dq, dkeys; key rows added per window"},
      {dare::Stage::BackValues, value_grad_bytes * byte_us, "value rows added per window"},
      {dare::Stage::Merge, 0, "-"},
      {dare::Stage::Optimizer, (every_row ? table_bytes / static_cast<double>(B) : 0) * byte_us,
       every_row ? "every row's value and moments" : "(touched rows: in gather's bytes)"},
  };
  std::printf("\n%s, %d thread%s, %lld items, %lld categories, %s Adam: %.1f us/sample wall (%.0f samples/s)\n", name,
              threads, threads > 1 ? "s" : "", static_cast<long long>(c.num_items), static_cast<long long>(c.num_cats),
              mode == dare::AdamMode::Lazy ? "lazy" : defer ? "dense (deferred rows)" : "dense (every row every step)",
              1e6 * wall / samples, samples / wall);
  std::printf("  %-16s %12s %8s %11s %8s  %s\n", "stage", "core-us/smp", "of step", "floor us", "x floor", "floor: what bounds it");
  double accounted = 0;
  for (const Row& r : rows) {
    const double us = 1e6 * p[r.stage] / samples;
    // A worker stage's core time spreads over the threads; a batch stage runs on one.
    const bool per_sample = r.stage != dare::Stage::Heads && r.stage != dare::Stage::Merge && r.stage != dare::Stage::Optimizer;
    const double wall_us = per_sample ? us / threads : us;
    accounted += wall_us;
    char ratio[16] = "-";
    if (r.floor_us > 0) std::snprintf(ratio, sizeof ratio, "%.1fx", us / r.floor_us);
    std::printf("  %-16s %12.2f %7.0f%% %11.3f %8s  %s\n", dare::stage_name(r.stage), us,
                100 * wall_us / (1e6 * wall / samples), r.floor_us, ratio, r.bound);
  }
  std::printf("  %-16s %12s %7.0f%%  (the rest: batch set-up, thread start and imbalance)\n", "accounted", "",
              100 * accounted / (1e6 * wall / samples));
  if (mode == dare::AdamMode::Dense && defer)
    std::printf("  synchronize() after the timed steps: %.2f ms (the deferred rows brought up to date)\n", 1e3 * sync_s);
  std::printf("  (core-us: the workers' time summed, per sample; heads, merge and optimizer, which run on all the\n"
              "   threads at once, their wall time; of step: its share of the wall time; x floor below 1: faster\n"
              "   than the probe's read rate, which a read-and-write stream, or rows in cache, can beat)\n");
}

template <class Model>
void serve_case(const char* name, const dare::Dataset& data, int att_dim, int repeats) {
  const dare::ModelConfig c = dare::model_config_for(data, att_dim, 16);
  Model model(c);
  const dare::Index m = 1000;
  std::vector<dare::Id> items(static_cast<std::size_t>(m)), cats(static_cast<std::size_t>(m));
  std::mt19937_64 gen(5);
  for (dare::Index i = 0; i < m; ++i) {
    items[static_cast<std::size_t>(i)] = static_cast<dare::Id>(1 + gen() % static_cast<std::uint64_t>(data.num_items() - 1));
    cats[static_cast<std::size_t>(i)] = data.item_category(items[static_cast<std::size_t>(i)]);
  }
  std::vector<float> prob(static_cast<std::size_t>(m));
  std::vector<double> us;
  typename Model::ServeScratch scratch(model);
  for (int r = 0; r < repeats; ++r) {
    const dare::Index u = r % data.num_users();
    const auto hi = data.user_items(u);
    const auto hc = data.user_cats(u);
    const dare::Index len = std::min<dare::Index>(hi.size(), c.max_len);
    const dare::Index from = hi.size() - len;
    const auto t0 = Clock::now();
    const auto hg = data.user_clusters(u);  // TWIN-V2's clusters (others ignore them)
    model.score_candidates(hi.data() + from, hc.data() + from, hg.data() + from, len, items.data(), cats.data(), m,
                           prob.data(), scratch);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::printf("%-22s %10.0f %10.0f %10.0f\n", name, quantile(us, 0.5), quantile(us, 0.99),
              static_cast<double>(m) / (quantile(us, 0.5) * 1e-6));
}

}  // namespace

int main(int argc, char** argv) {
  int users = 3000;
  int steps = 20;
  std::uint64_t seed = 1;
  // Taobao's table sizes: items after the reference's preprocessing, UserBehavior.csv's categories.
  long long items = 4068791, cats = 9439;
  bool breakdown_only = false;
  CLI::App app{"Training throughput and serving latency of the model zoo (DARE, TWIN and the Table 1 baselines)"};
  app.add_option("--users", users, "synthetic users")->capture_default_str();
  app.add_option("--steps", steps, "timed steps per case")->capture_default_str();
  app.add_option("--seed", seed, "data seed")->capture_default_str();
  app.add_option("--items", items, "item rows of the real-size tables (breakdown, --dare-only; Taobao: 4,068,791)")->capture_default_str();
  app.add_option("--cats", cats, "category rows of the real-size tables (breakdown, --dare-only; Taobao: 9,439)")->capture_default_str();
  auto* breakdown_flag =
      app.add_flag("--breakdown-only", breakdown_only, "only the per-stage breakdown (no zoo table, no serving)");
  bool dare_only = false;
  app.add_flag("--dare-only", dare_only,
               "only DARE 16/16's training rate: built-in tables on 1 and 2 threads, Taobao-size ones on 2 under "
               "deferred dense and lazy Adam (under a minute: two builds can alternate on a busy machine)")
      ->excludes(breakdown_flag);
  CLI11_PARSE(app, argc, argv);

  const auto dir = std::filesystem::temp_directory_path() / ("dare_bench_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  try {
    dare::SyntheticOptions o;
    o.users = users;
    o.seed = seed;
    const std::string log = (dir / "log.csv").string(), dataset = (dir / "data.dare").string();
    dare::SyntheticLogGenerator(o).write(log);
    dare::PreprocessOptions prep;
    prep.cluster_max_size = 10;  // clusters for TWIN-V2; the other models ignore them
    const auto summary = dare::preprocess_to_file(log, dare::RawFormat::taobao, dataset, prep);
    dare::Dataset data = dare::Dataset::open(dataset);
    std::printf("data: %lld users, %lld items, %lld training samples (preprocessed at %.2f M rows/s)\n\n",
                static_cast<long long>(data.num_users()), static_cast<long long>(data.num_items() - 1),
                static_cast<long long>(data.train().size()),
                static_cast<double>(summary.rows_read) / 1e6 / summary.seconds);

    if (dare_only) {
      print_training_header(steps);
      train_case<dare::Dare<float, 16, 16>>("Dare<float,16,16>", data, 1, steps);
      train_case<dare::Dare<float, 16, 16>>("Dare<float,16,16>", data, 2, steps);
      train_case<dare::Dare<float, 16, 16>>("Dare<float,16,16>, Taobao-size, deferred Adam", data, 2, steps, true,
                                            items, cats, dare::AdamMode::Dense);
      train_case<dare::Dare<float, 16, 16>>("Dare<float,16,16>, Taobao-size, lazy Adam", data, 2, steps, true, items, cats,
                                            dare::AdamMode::Lazy);
      std::filesystem::remove_all(dir);
      return 0;
    }
    const MachineRates rates = measure_rates();
    std::printf("per-stage breakdown (%d steps; floors at %.1f GFLOP/s, one core's Eigen GEMM, and %.1f GB/s read)\n",
                steps, rates.flops_per_s / 1e9, rates.bytes_per_s / 1e9);
    for (int threads : {1, 2}) {
      breakdown_case<dare::Dare<float, 16, 16>>("Dare<float,16,16>", data, threads, steps, 0, 0, dare::AdamMode::Dense, rates);
    }
    breakdown_case<dare::Dare<float, 16, 16>>("Dare<float,16,16>, Taobao-size tables", data, 2, steps, items, cats,
                                              dare::AdamMode::Dense, rates, false);
    for (auto mode : {dare::AdamMode::Dense, dare::AdamMode::Lazy}) {
      breakdown_case<dare::Dare<float, 16, 16>>("Dare<float,16,16>, Taobao-size tables", data, 2, steps, items, cats,
                                                mode, rates);
    }
    breakdown_case<dare::Twin<float, 16>>("Twin<float,16>", data, 2, steps, 0, 0, dare::AdamMode::Dense, rates);
    // A batch of 2048 samples with windows of 200 reads about 2048 * 201 item ids.
    table_adam_case(items, 400000, 300, 150);
    if (breakdown_only) {
      std::filesystem::remove_all(dir);
      return 0;
    }

    std::printf("\n");
    print_training_header(steps);
    train_case<dare::Dare<float, 16, 16>>("Dare<float,16,16>", data, 1, steps, false);
    train_case<dare::Dare<float, 16, 16>>("Dare<float,16,16>", data, 1, steps);
    train_case<dare::Twin<float, 16>>("Twin<float,16>", data, 1, steps);
    train_case<dare::Dare<float, 16, 16>>("Dare<float,16,16>", data, 2, steps);
    train_case<dare::Twin<float, 16>>("Twin<float,16>", data, 2, steps);
    train_case<dare::TwinHard<float, 16>>("TwinHard<float,16>", data, 2, steps);
    train_case<dare::TwinProj<float, 16>>("TwinProj<float,16>", data, 2, steps);
    train_case<dare::TwinNoTR<float, 16>>("TwinNoTR<float,16>", data, 2, steps);
    train_case<dare::Twin4E<float, 16, 16>>("Twin4E<float,16,16>", data, 2, steps);
    train_case<dare::Din<float, 16>>("Din<float,16>", data, 2, steps);
    train_case<dare::Eta<float, 16>>("Eta<float,16>", data, 2, steps);
    train_case<dare::Sdim<float, 16>>("Sdim<float,16>", data, 2, steps);
    train_case<dare::TwinV2<float, 16>>("TwinV2<float,16>", data, 2, steps);

    std::printf("\nserving: one user's 200-long history against 1,000 candidates, 1 thread\n");
    std::printf("%-22s %10s %10s %10s\n", "model", "p50 us", "p99 us", "cand/s");
    serve_case<dare::Dare<float, 16, 16>>("Dare<float,16,16>", data, 16, 300);
    serve_case<dare::Dare<float, 8, 16>>("Dare<float,8,16>", data, 8, 300);
    serve_case<dare::Twin<float, 16>>("Twin<float,16>", data, 16, 300);
    serve_case<dare::TwinHard<float, 16>>("TwinHard<float,16>", data, 16, 300);
    serve_case<dare::TwinProj<float, 16>>("TwinProj<float,16>", data, 16, 300);
    serve_case<dare::Twin4E<float, 16, 16>>("Twin4E<float,16,16>", data, 16, 300);
    serve_case<dare::Din<float, 16>>("Din<float,16>", data, 16, 100);
    serve_case<dare::Eta<float, 16>>("Eta<float,16>", data, 16, 100);
    serve_case<dare::Sdim<float, 16>>("Sdim<float,16>", data, 16, 100);
    serve_case<dare::TwinV2<float, 16>>("TwinV2<float,16>", data, 16, 100);
    std::printf("\npeak RSS %.0f MB\n", peak_rss_mb());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_throughput: %s\n", e.what());
    std::filesystem::remove_all(dir);
    return 1;
  }
  std::filesystem::remove_all(dir);
  return 0;
}
