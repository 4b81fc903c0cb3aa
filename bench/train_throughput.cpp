// train_throughput — training samples/s of the model zoo at the reference settings (L = 200,
// K = 20, batch 2048): Dare<float,16,16> and Twin<float,16> with 1 and 2 threads, the other
// Table 1 models with 2; peak memory; and the serving latency of one user against 1,000
// candidates for each model.
//
//   train_throughput [--users N] [--steps S] [--seed S]
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

template <class Model>
void train_case(const char* name, const dare::Dataset& data, int threads, int steps, bool flush = true) {
  dare::ScopedFlushDenormals ftz(flush);
  dare::ModelConfig c = dare::model_config_for(data, 16, 16);
  c.top_k = 20;
  Model model(c);
  model.set_threads(threads);
  model.configure_optimizer({});
  const dare::Index batch_size = 2048;
  const auto train = data.train();
  dare::Batch batch;
  std::vector<int> labels;
  std::vector<double> rates;
  const int warmup = 3;
  for (int step = 0; step < warmup + steps; ++step) {
    const dare::Index begin = (step * batch_size) % std::max<dare::Index>(1, train.size() - batch_size);
    dare::fill_batch(data, train.data() + begin, nullptr, batch_size, batch);
    const auto t0 = Clock::now();
    model.forward_backward(view(batch, labels));
    model.step();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (step >= warmup) rates.push_back(static_cast<double>(batch_size) / s);
  }
  const std::string label = std::string(name) + (flush ? "" : " (denormals kept)");
  std::printf("%-34s %7d %12.0f %8.0f-%-8.0f %9.2fx\n", label.c_str(), threads, quantile(rates, 0.5),
              quantile(rates, 0.25), quantile(rates, 0.75), quantile(rates, 0.5) / 7300.0);
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
  CLI::App app{"Training throughput and serving latency of the model zoo (DARE, TWIN and the Table 1 baselines)"};
  app.add_option("--users", users, "synthetic users")->capture_default_str();
  app.add_option("--steps", steps, "timed steps per case")->capture_default_str();
  app.add_option("--seed", seed, "data seed")->capture_default_str();
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

    std::printf("training, L = 200, K = 20, batch 2048 (median and IQR of %d steps; vs 7,300/s PyTorch on H100)\n", steps);
    std::printf("%-34s %7s %12s %17s %10s\n", "model", "threads", "samples/s", "IQR", "vs H100");
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
