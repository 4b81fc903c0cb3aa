// DotScorer's backward at a fixed width (query and sums in local arrays) against the Dynamic
// one: the same sums in the same order, so the same bits.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "dare/models/scorers.hpp"
#include "nn/finite_difference.hpp"

namespace {

using dare::Index;

template <class Scalar, int SemDim>
void check_fixed_backward_bits() {
  using Fixed = dare::DotScorer<dare::SplitScale>::Impl<Scalar, SemDim>;
  using Dyn = dare::DotScorer<dare::SplitScale>::Impl<Scalar, dare::Dynamic>;
  const Index att = SemDim / 2;
  const Fixed fixed(att, 0);
  const Dyn dyn(att, 0);
  const Index n = 57, stride = SemDim + 3;
  std::mt19937_64 rng(SemDim);
  const auto draw = [&](Index count) {
    const std::vector<double> x = dare_test::uniform(rng, static_cast<std::size_t>(count));
    return std::vector<Scalar>(x.begin(), x.end());
  };
  const std::vector<Scalar> q = draw(SemDim), keys = draw(n * stride), ds = draw(n);
  std::vector<std::uint8_t> valid(static_cast<std::size_t>(n), 1);
  for (Index j = 0; j < n; j += 5) valid[static_cast<std::size_t>(j)] = 0;
  struct Out {
    std::vector<Scalar> dq, dkeys, time_ds;
  };
  const auto run = [&](const auto& scorer) {
    typename std::decay_t<decltype(scorer)>::Work w(stride);
    auto grad = scorer.make_grad();
    rng.seed(99);  // the same starting dq and time_ds for both
    Out o;
    o.dq = draw(SemDim);
    o.dkeys.assign(static_cast<std::size_t>(n * stride), Scalar(0));
    o.time_ds = draw(n);
    scorer.backward(
        w, q.data(), keys.data(), stride, n, valid.data(), ds.data(), o.dq.data(),
        [&](Index j, const Scalar* dir, Scalar scale) {
          for (Index c = 0; c < SemDim; ++c) o.dkeys[static_cast<std::size_t>(j * stride + c)] += scale * dir[c];
        },
        o.time_ds.data(), grad);
    return o;
  };
  const Out a = run(fixed), b = run(dyn);
  CHECK(std::memcmp(a.dq.data(), b.dq.data(), a.dq.size() * sizeof(Scalar)) == 0);
  CHECK(std::memcmp(a.dkeys.data(), b.dkeys.data(), a.dkeys.size() * sizeof(Scalar)) == 0);
  CHECK(std::memcmp(a.time_ds.data(), b.time_ds.data(), a.time_ds.size() * sizeof(Scalar)) == 0);
  // Padded positions got nothing.
  for (Index c = 0; c < SemDim; ++c) CHECK(a.dkeys[static_cast<std::size_t>(5 * stride + c)] == Scalar(0));
}

}  // namespace

TEMPLATE_TEST_CASE("the dot scorer's backward at a fixed width equals the Dynamic one bit for bit", "[models][scorers]",
                   float, double) {
  check_fixed_backward_bits<TestType, 2>();
  check_fixed_backward_bits<TestType, 32>();
  check_fixed_backward_bits<TestType, 70>();
}
