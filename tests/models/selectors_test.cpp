// The selectors against direct evaluations of their definitions: the hard search against the
// reference's algorithm, the hashing selectors (ETA's Hamming search, SDIM's hash sampling)
// on signatures from the same SimHash.
#include <catch2/catch.hpp>

#include <algorithm>
#include <bitset>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "dare/models/selectors.hpp"

namespace {

struct Window {
  dare::Index n, width, stride;
  std::vector<double> keys, query, scores;
  std::vector<std::uint8_t> valid;
  Window(dare::Index n_, dare::Index width_, std::uint64_t seed, int padded)
      : n(n_), width(width_), stride(width_ + 3), keys(n_ * (width_ + 3)), query(width_), scores(n_), valid(n_, 1) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> z(0.0, 1.0);
    for (auto& x : keys) x = z(gen);
    for (auto& x : query) x = z(gen);
    for (auto& x : scores) x = z(gen);
    for (int j = 0; j < padded; ++j) valid[static_cast<std::size_t>(j)] = 0;
    // Repeated keys: exact Hamming ties.
    for (dare::Index j = 1; j < n; j += 4) std::copy_n(&keys[(j - 1) * stride], width, &keys[j * stride]);
  }
  dare::SelectorInput<double> input(std::uint64_t window) const {
    dare::SelectorInput<double> in;
    in.scores = scores.data();
    in.n = n;
    in.valid = valid.data();
    in.query = query.data();
    in.keys = keys.data();
    in.key_stride = stride;
    in.key_width = width;
    in.window = window;
    return in;
  }
};

std::vector<std::uint32_t> signatures(const dare::SimHash<double>& h, const Window& w) {
  std::vector<std::uint32_t> s(static_cast<std::size_t>(w.n * h.words()));
  for (dare::Index j = 0; j < w.n; ++j) h.sign(&w.keys[j * w.stride], &s[j * h.words()]);
  return s;
}

std::uint32_t bit(const std::uint32_t* sig, dare::Index b) { return (sig[b / 32] >> (b % 32)) & 1u; }

}  // namespace

TEST_CASE("ETA's selector keeps the K nearest in Hamming distance, ties to the recent, padding last",
          "[models][selectors][eta]") {
  for (const int bits : {32, 64, 128}) {
    for (const int padded : {0, 5, 38}) {
      const dare::Index n = 40, k = 7;
      Window w(n, 6, 100 + static_cast<std::uint64_t>(bits + padded), padded);
      dare::HammingSearch::Worker<double> sel(dare::SelectorSetup{k, w.width, bits, 1});
      const dare::SimHash<double> hash(w.width, bits, dare::HammingSearch::kProjectionSeed);
      const auto sigs = signatures(hash, w);
      std::vector<std::uint32_t> q(static_cast<std::size_t>(hash.words()));
      hash.sign(w.query.data(), q.data());
      std::vector<int> dist(static_cast<std::size_t>(n));
      for (dare::Index j = 0; j < n; ++j) {
        int d = 0;
        for (dare::Index b = 0; b < bits; ++b) d += bit(&sigs[j * hash.words()], b) != bit(q.data(), b) ? 1 : 0;
        dist[static_cast<std::size_t>(j)] = w.valid[static_cast<std::size_t>(j)] ? d : bits + 1;
      }
      std::vector<dare::Index> order(static_cast<std::size_t>(n));
      std::iota(order.begin(), order.end(), dare::Index{0});
      std::stable_sort(order.begin(), order.end(), [&](dare::Index a, dare::Index b) {
        return dist[a] != dist[b] ? dist[a] < dist[b] : a > b;
      });
      std::vector<dare::Index> pos(static_cast<std::size_t>(k));
      std::vector<double> out(static_cast<std::size_t>(k));
      sel.select(w.input(1), pos.data(), out.data());
      INFO("bits " << bits << ", padded " << padded);
      for (dare::Index r = 0; r < k; ++r) {
        CHECK(pos[r] == order[r]);
        CHECK(out[r] == w.scores[static_cast<std::size_t>(pos[r])]);  // the scorer's logits carry on
      }
      // The key signatures are kept while the window is the same; a new window signs again.
      Window other(n, 6, 7, 0);
      std::vector<dare::Index> again(static_cast<std::size_t>(k));
      auto stale = other.input(1);
      stale.query = w.query.data();
      stale.valid = w.valid.data();
      sel.select(stale, again.data(), out.data());
      CHECK(again == pos);
      dare::HammingSearch::Worker<double> fresh(dare::SelectorSetup{k, w.width, bits, 1});
      std::vector<dare::Index> expect(static_cast<std::size_t>(k));
      auto renewed = other.input(2);
      renewed.query = w.query.data();
      fresh.select(renewed, expect.data(), out.data());
      sel.select(renewed, again.data(), out.data());
      CHECK(again == expect);
    }
  }
}

TEST_CASE("SDIM's selector weighs each valid position by its bucket collisions over the rounds",
          "[models][selectors][sdim]") {
  for (const int tau : {1, 3, 4, 7, 32}) {
    for (const int rounds : {1, 2, 5}) {
      const dare::Index n = 60;
      Window w(n, 4, 300 + static_cast<std::uint64_t>(tau * 10 + rounds), 9);
      dare::HashSampling::Worker<double> sel(dare::SelectorSetup{n, w.width, tau, rounds});
      const dare::SimHash<double> hash(w.width, (rounds * tau + 31) / 32 * 32, dare::HashSampling::kProjectionSeed);
      const auto sigs = signatures(hash, w);
      std::vector<std::uint32_t> q(static_cast<std::size_t>(hash.words()));
      hash.sign(w.query.data(), q.data());
      std::vector<dare::Index> pos(static_cast<std::size_t>(n));
      std::vector<double> weight(static_cast<std::size_t>(n));
      sel.select(w.input(1), pos.data(), weight.data());
      INFO("tau " << tau << ", rounds " << rounds);
      double total = 0;
      for (dare::Index j = 0; j < n; ++j) {
        int hits = 0;
        for (int r = 0; r < rounds; ++r) {
          bool same = true;
          for (int b = r * tau; b < (r + 1) * tau; ++b) same = same && bit(&sigs[j * hash.words()], b) == bit(q.data(), b);
          hits += same ? 1 : 0;
        }
        const double expect = w.valid[static_cast<std::size_t>(j)] ? static_cast<double>(hits) / rounds : 0.0;
        CHECK(pos[j] == j);
        CHECK(weight[j] == expect);
        total += weight[j];
      }
      // One bit per round over random vectors: about half the valid positions collide.
      if (tau == 1) CHECK(total > 0);
    }
  }
  // The target's own key collides in every round.
  Window w(10, 4, 5, 0);
  std::copy_n(w.query.begin(), 4, &w.keys[3 * w.stride]);
  dare::HashSampling::Worker<double> sel(dare::SelectorSetup{10, 4, 8, 3});
  std::vector<dare::Index> pos(10);
  std::vector<double> weight(10);
  sel.select(w.input(1), pos.data(), weight.data());
  CHECK(weight[3] == 1.0);
}

TEST_CASE("the hashing selectors refuse bits and rounds outside their ranges", "[models][selectors]") {
  CHECK_THROWS_WITH(dare::HammingSearch::Worker<float>(dare::SelectorSetup{3, 4, 48, 1}),
                    Catch::Contains("multiple of 32 from 32 to 256") && Catch::Contains("48"));
  CHECK_THROWS_WITH(dare::HammingSearch::Worker<float>(dare::SelectorSetup{3, 4, 64, 2}),
                    Catch::Contains("hash_rounds must be 1"));
  CHECK_THROWS_WITH(dare::HashSampling::Worker<float>(dare::SelectorSetup{3, 4, 33, 2}),
                    Catch::Contains("from 1 to 32") && Catch::Contains("33"));
  CHECK_THROWS_WITH(dare::HashSampling::Worker<float>(dare::SelectorSetup{3, 4, 4, 0}),
                    Catch::Contains("from 1 to 64"));
}

TEST_CASE("the hard search keeps the target's category, most recent first, topped up to exactly K",
          "[models][zoo][selector]") {
  // The reference builds the mask with numpy (dataset.py and DIN.forward): this is that
  // algorithm written out independently, run against the selector on random windows.
  auto reference = [](const std::vector<std::uint8_t>& valid, const std::vector<dare::Id>& cats, dare::Id target,
                      dare::Index k) {
    const dare::Index n = static_cast<dare::Index>(cats.size());
    std::vector<int> mask(static_cast<std::size_t>(n));
    for (dare::Index j = 0; j < n; ++j) mask[j] = valid[j] && cats[j] == target;
    const int ones = std::accumulate(mask.begin(), mask.end(), 0);
    if (ones > k) {
      std::vector<dare::Index> one_at;
      for (dare::Index j = 0; j < n; ++j) if (mask[j]) one_at.push_back(j);
      const dare::Index aim = one_at[static_cast<std::size_t>(ones - k)];
      for (dare::Index j = 0; j < aim; ++j) mask[j] = 0;
    } else if (ones < k) {
      std::vector<dare::Index> zero_at;
      for (dare::Index j = 0; j < n; ++j) if (!mask[j]) zero_at.push_back(j);
      const dare::Index aim = zero_at[zero_at.size() - static_cast<std::size_t>(k - ones)];
      for (dare::Index j = aim; j < n; ++j) mask[j] = 1;
    }
    std::vector<dare::Index> out;
    for (dare::Index j = 0; j < n; ++j) if (mask[j]) out.push_back(j);
    return out;
  };
  std::mt19937_64 gen(5);
  dare::HardSearch::Worker<float> hard(dare::SelectorSetup{4, 0, 0, 0});
  int topped_up = 0, trimmed = 0;
  for (int trial = 0; trial < 500; ++trial) {
    const dare::Index n = 4 + static_cast<dare::Index>(gen() % 20);
    const dare::Index pad = static_cast<dare::Index>(gen() % static_cast<std::uint64_t>(n));
    std::vector<std::uint8_t> valid(static_cast<std::size_t>(n));
    std::vector<dare::Id> cats(static_cast<std::size_t>(n));
    std::vector<float> scores(static_cast<std::size_t>(n));
    for (dare::Index j = 0; j < n; ++j) {
      valid[j] = j >= pad;
      cats[j] = valid[j] ? static_cast<dare::Id>(1 + gen() % 3) : 0;
      scores[j] = static_cast<float>(j) * 0.5f;
    }
    const dare::Id target = static_cast<dare::Id>(1 + gen() % 3);
    std::vector<dare::Index> pos(4);
    std::vector<float> sel(4);
    dare::SelectorInput<float> in;
    in.scores = scores.data();
    in.n = n;
    in.valid = valid.data();
    in.hist_cat = cats.data();
    in.target_cat = target;
    hard.select(in, pos.data(), sel.data());
    const auto expect = reference(valid, cats, target, 4);
    INFO("trial " << trial << " n " << n << " pad " << pad);
    REQUIRE(expect.size() == 4);
    CHECK(pos == expect);
    for (int k = 0; k < 4; ++k) CHECK(sel[k] == scores[static_cast<std::size_t>(pos[k])]);
    const auto matches = std::count_if(expect.begin(), expect.end(), [&](dare::Index j) { return valid[j] && cats[j] == target; });
    topped_up += matches < 4 ? 1 : 0;
    trimmed += std::count_if(cats.begin(), cats.end(), [&](dare::Id c) { return c == target; }) > 4 ? 1 : 0;
  }
  CHECK(topped_up > 50);  // both branches were exercised
  CHECK(trimmed > 50);
}

