// serve_latency — serving one user's history against M candidates with the const, thread-safe
// path (SequenceModel::score_candidates with a ServeScratch per thread, what dare::Scorer
// runs), for M = 100, 1,000, 10,000 and histories of L = 200, 1,000, 10,000, with 1 and 2
// threads, each latency beside its floor.
//
//   serve_latency [--repeats R] [--quick] [--search float,bf16,int8]
//
// Each precision of the serving search (ScorerOptions::search: float, or bf16 / int8 keys made
// once before timing, see dare/search/lowp_search.hpp) gets a 1-thread row; float also 2.
//
// The floor of a call is the time its unavoidable work takes at this machine's measured
// rates: the head's multiply-adds (main head, M columns) and the aggregation's at the FMA
// rate of a large single-thread Eigen GEMM, plus the search's multiply-adds (M x L x 3A) at
// the same rate or its key bytes (L x 3A floats, once per call) at the measured read
// bandwidth, whichever is slower. A ratio near 1 means the call does little beyond that
// work; the gap is gathering, selection, softmax and glue. Model: Dare<float, 16, 16> at the
// reference settings (K = 20, heads 200-80 and 200), random parameters (latency does not
// depend on their values), 100,000 items.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <Eigen/Core>

#include "dare/dare.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using Model = dare::Dare<float, 16, 16>;

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

// Multiply-adds per second of one thread on a GEMM shaped like the head's first layer.
double gemm_rate() {
  Eigen::MatrixXf w = Eigen::MatrixXf::Random(256, 256), x = Eigen::MatrixXf::Random(256, 2048), y(256, 2048);
  std::vector<double> rates;
  for (int r = 0; r < 7; ++r) {
    const auto t0 = Clock::now();
    y.noalias() = w * x;
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    rates.push_back(256.0 * 256.0 * 2048.0 / s);
  }
  volatile float sink = y(0, 0);
  (void)sink;
  return quantile(rates, 0.5);
}

// Bytes per second of one thread reading a 256 MB buffer.
double read_bandwidth() {
  std::vector<float> buf(64 << 20, 1.0f);
  std::vector<double> rates;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    float acc[8] = {};
    for (std::size_t i = 0; i < buf.size(); i += 8) {
      for (int k = 0; k < 8; ++k) acc[k] += buf[i + static_cast<std::size_t>(k)];
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    volatile float sink = acc[0] + acc[7];
    (void)sink;
    rates.push_back(static_cast<double>(buf.size() * sizeof(float)) / s);
  }
  return quantile(rates, 0.5);
}

struct Case {
  dare::Index L, M;
};

}  // namespace

int main(int argc, char** argv) {
  int repeats = 0;
  bool quick = false;
  CLI::App app{"Serving latency of one history against M candidates, beside its floor"};
  app.add_option("--repeats", repeats, "calls per case (default: by size, at least 5)");
  app.add_flag("--quick", quick, "only L = 200 and 1,000 with M up to 1,000");
  std::vector<std::string> searches = {"float", "bf16", "int8"};
  app.add_option("--search", searches, "search precisions to time (float, bf16, int8)")->delimiter(',');
  CLI11_PARSE(app, argc, argv);

  const dare::ScopedFlushDenormals ftz(true);
  const double fma = gemm_rate();
  const double bw = read_bandwidth();
  std::printf("measured: %.1f G multiply-adds/s (one thread, Eigen GEMM), %.1f GB/s read (one thread, 256 MB)\n\n",
              fma / 1e9, bw / 1e9);
  std::printf("%6s %6s %6s %7s %10s %10s %10s %9s %12s\n", "L", "M", "search", "threads", "p50 us", "p99 us", "floor us",
              "p50/floor", "calls/s");
  std::vector<Case> cases;
  for (dare::Index L : {200, 1000, 10000}) {
    for (dare::Index M : {100, 1000, 10000}) {
      if (quick && (L > 1000 || M > 1000)) continue;
      cases.push_back({L, M});
    }
  }
  for (const Case& cs : cases) {
    dare::ModelConfig c;
    c.num_items = 100000;
    c.num_cats = 1000;
    c.max_len = cs.L;
    c.num_times = std::max<dare::Index>(2000, cs.L + 1);
    Model model(c);
    std::mt19937_64 gen(7);
    auto draw_item = [&] { return static_cast<dare::Id>(1 + gen() % 99999); };
    std::vector<dare::Id> hi(static_cast<std::size_t>(cs.L)), hc(hi.size()), ci(static_cast<std::size_t>(cs.M)),
        cc(ci.size());
    for (auto& x : hi) x = draw_item();
    for (auto& x : hc) x = static_cast<dare::Id>(1 + gen() % 999);
    for (auto& x : ci) x = draw_item();
    for (auto& x : cc) x = static_cast<dare::Id>(1 + gen() % 999);

    const double A = 16, R = 16, V = 3 * R, F = 9 * R, K = 20;
    const double head = (F * 200 + 200 * 80 + 80 * 2) * static_cast<double>(cs.M);
    const double aggregate = 2 * K * V * static_cast<double>(cs.M);
    const double search_fma = static_cast<double>(cs.M) * static_cast<double>(cs.L) * 3 * A;
    const double search_bytes = static_cast<double>(cs.L) * 3 * A * 4;
    const double floor_us = ((head + aggregate) / fma + std::max(search_fma / fma, search_bytes / bw)) * 1e6;
    const double work = search_fma + head;
    const int calls = repeats > 0 ? repeats : static_cast<int>(std::clamp(3e9 / work, 5.0, 300.0));

    for (const std::string& search_name : searches) {
    const dare::SearchPrecision search = dare::search_precision_from_string(search_name);
    std::unique_ptr<Model::LowpKeys> keys;
    if (search != dare::SearchPrecision::Float) keys = std::make_unique<Model::LowpKeys>(model.make_lowp_keys(search));
    for (int threads : {1, 2}) {
      if (threads == 2 && search != dare::SearchPrecision::Float) continue;
      std::vector<std::vector<double>> lat(static_cast<std::size_t>(threads));
      const auto t0 = Clock::now();
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          Model::ServeScratch scratch(model, keys.get());
          std::vector<float> prob(static_cast<std::size_t>(cs.M));
          model.score_candidates(hi.data(), hc.data(), cs.L, ci.data(), cc.data(), cs.M, prob.data(), scratch);  // warm
          for (int r = 0; r < calls; ++r) {
            const auto s0 = Clock::now();
            model.score_candidates(hi.data(), hc.data(), cs.L, ci.data(), cc.data(), cs.M, prob.data(), scratch);
            lat[static_cast<std::size_t>(t)].push_back(std::chrono::duration<double, std::micro>(Clock::now() - s0).count());
          }
        });
      }
      for (auto& th : pool) th.join();
      const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
      std::vector<double> all;
      for (const auto& l : lat) all.insert(all.end(), l.begin(), l.end());
      const double p50 = quantile(all, 0.5);
      std::printf("%6lld %6lld %6s %7d %10.0f %10.0f %10.0f %9.2f %12.0f\n", static_cast<long long>(cs.L),
                  static_cast<long long>(cs.M), search_name.c_str(), threads, p50, quantile(all, 0.99), floor_us, p50 / floor_us,
                  static_cast<double>(all.size()) / wall);
      std::fflush(stdout);
    }
    }
  }
  return 0;
}
