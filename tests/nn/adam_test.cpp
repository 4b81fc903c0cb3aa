#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>

#include "dare/nn/adam.hpp"
#include "dare/nn/linear.hpp"

namespace {
using P = dare::nn::Parameter<double>;

dare::nn::AdamOptions reference_options() {
  dare::nn::AdamOptions o;
  o.lr = 0.1;
  o.beta1 = 0.9;
  o.beta2 = 0.999;
  o.eps = 1e-8;
  o.weight_decay = 0.1;
  return o;
}
}  // namespace

TEST_CASE("Adam steps equal torch.optim.Adam's, with L2 only on decay parameters", "[nn][adam]") {
  P plain("plain", 1, 1, false), decayed("decayed", 1, 1, true), twin("twin", 1, 1, false);
  plain.value(0, 0) = 1.0;
  decayed.value(0, 0) = 2.0;
  twin.value(0, 0) = 2.0;  // same as `decayed` but exempt from L2
  dare::nn::Adam<double> adam({&plain, &decayed, &twin}, reference_options());

  // Step 1, gradient 0.5. plain: m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25,
  // update = 0.1 · 0.5 / (0.5 + 1e-8). decayed: g = 0.5 + 0.1 · 2 = 0.7, update = 0.1 · 0.7 / (0.7 + 1e-8).
  for (P* p : {&plain, &decayed, &twin}) p->grad(0, 0) = 0.5;
  adam.step();
  CHECK(adam.step_count() == 1);
  CHECK(plain.value(0, 0) == Approx(0.900000002).epsilon(1e-14));
  CHECK(decayed.value(0, 0) == Approx(1.9000000014285714).epsilon(1e-14));
  CHECK(twin.value(0, 0) == Approx(1.900000002).epsilon(1e-14));
  CHECK(adam.first_moment(1)(0, 0) == Approx(0.07).epsilon(1e-14));
  CHECK(adam.second_moment(1)(0, 0) == Approx(0.00049).epsilon(1e-14));

  // zero_grad, then step 2 with gradient -0.25. plain: m = 0.05 + 0.1 · (-0.3) = 0.02,
  // v = 0.999 · 0.00025 + 0.001 · 0.0625 = 0.00031225, bias corrections 0.19 and 0.001999:
  // update = 0.1 · (0.02 / 0.19) / (sqrt(0.00031225 / 0.001999) + 1e-8) = 0.0266337...
  adam.zero_grad();
  for (P* p : {&plain, &decayed, &twin}) CHECK(p->grad(0, 0) == 0.0);
  for (P* p : {&plain, &decayed, &twin}) p->grad(0, 0) = -0.25;
  adam.step();
  CHECK(plain.value(0, 0) == Approx(0.8733662987078463).epsilon(1e-13));
  CHECK(decayed.value(0, 0) == Approx(1.8395973867971898).epsilon(1e-13));
  CHECK(twin.value(0, 0) == Approx(1.8733662987078465).epsilon(1e-13));
}

TEST_CASE("Adam state round-trips through a stream and resumes identically", "[nn][adam]") {
  dare::nn::Linear<double> a(3, 2, "fc"), b(3, 2, "fc");
  a.init_normal(0.5, 1);
  b.weight().value = a.weight().value;
  dare::nn::Adam<double> opt_a(a.parameters(), reference_options());
  for (int s = 0; s < 3; ++s) {
    a.weight().grad.setConstant(0.1 * (s + 1));
    a.bias().grad.setConstant(-0.2);
    opt_a.step();
  }
  std::stringstream state;
  opt_a.save(state);

  b.weight().value = a.weight().value;
  b.bias().value = a.bias().value;
  dare::nn::Adam<double> opt_b(b.parameters());  // default options: load restores them
  opt_b.load(state, "ckpt.bin");
  CHECK(opt_b.step_count() == 3);
  CHECK(opt_b.options().lr == 0.1);
  CHECK(opt_b.options().weight_decay == 0.1);

  for (auto* l : {&a, &b}) {
    l->weight().grad.setConstant(0.3);
    l->bias().grad.setConstant(0.05);
  }
  opt_a.step();
  opt_b.step();
  CHECK(a.weight().value == b.weight().value);
  CHECK(a.bias().value == b.bias().value);
}

TEST_CASE("Adam rejects state for other parameters, truncated or corrupted state", "[nn][adam]") {
  dare::nn::Linear<double> a(3, 2, "fc");
  dare::nn::Adam<double> opt(a.parameters(), reference_options());
  a.weight().grad.setConstant(1.0);
  opt.step();
  std::stringstream good;
  opt.save(good);
  const std::string bytes = good.str();

  SECTION("different names") {
    dare::nn::Linear<double> other(3, 2, "proj");
    dare::nn::Adam<double> o(other.parameters());
    std::istringstream in(bytes);
    CHECK_THROWS_WITH(o.load(in, "ckpt.bin"), Catch::Contains("ckpt.bin") && Catch::Contains("'proj.weight'") &&
                                                   Catch::Contains("'fc.weight'"));
    CHECK(o.step_count() == 0);
  }
  SECTION("different shapes") {
    dare::nn::Linear<double> other(4, 2, "fc");
    dare::nn::Adam<double> o(other.parameters());
    std::istringstream in(bytes);
    CHECK_THROWS_WITH(o.load(in, "ckpt.bin"), Catch::Contains("2x3 in the file but 2x4"));
  }
  SECTION("a different number of parameters") {
    dare::nn::Adam<double> o({&a.weight()});
    std::istringstream in(bytes);
    CHECK_THROWS_WITH(o.load(in, "ckpt.bin"), Catch::Contains("parameter count"));
  }
  SECTION("truncated") {
    dare::nn::Adam<double> o(a.parameters());
    std::istringstream in(bytes.substr(0, bytes.size() - 20));
    CHECK_THROWS_AS(o.load(in, "ckpt.bin"), dare::FormatError);
    CHECK(o.step_count() == 0);
  }
  SECTION("a flipped byte") {
    std::string bad = bytes;
    bad[bad.size() / 2] ^= 0x10;
    dare::nn::Adam<double> o(a.parameters());
    std::istringstream in(bad);
    CHECK_THROWS_AS(o.load(in, "ckpt.bin"), dare::FormatError);
    CHECK(o.step_count() == 0);
  }
  SECTION("float state into a double optimizer") {
    dare::nn::Linear<float> f(3, 2, "fc");
    dare::nn::Adam<float> of(f.parameters());
    std::stringstream fs;
    of.save(fs);
    dare::nn::Adam<double> o(a.parameters());
    CHECK_THROWS_WITH(o.load(fs, "ckpt.bin"), Catch::Contains("4-byte scalars"));
  }
}

TEST_CASE("Adam rejects a state whose step count the next step would overflow", "[nn][adam]") {
  // Found with fuzz/nn_adam_fuzzer: t = INT64_MAX loaded, then step() overflowed it.
  dare::nn::Linear<double> a(3, 2, "fc");
  dare::nn::Adam<double> opt(a.parameters(), reference_options());
  std::stringstream good;
  opt.save(good);
  std::string bad = good.str();
  // Block layout: magic 8, version 4, scalar size 4, five f64 options, then the i64 step at
  // 56; the trailing checksum is the FNV-1a of everything before it.
  const std::int64_t t = INT64_MAX;
  std::memcpy(&bad[56], &t, 8);
  dare::nn::detail::Fnv1a hash;
  hash.update(bad.data(), bad.size() - 8);
  const std::uint64_t h = hash.value();
  std::memcpy(&bad[bad.size() - 8], &h, 8);
  std::istringstream in(bad);
  CHECK_THROWS_WITH(opt.load(in, "ckpt"), Catch::Contains("adam.step") && Catch::Contains("out of range"));
  CHECK(opt.step_count() == 0);
}

TEST_CASE("Adam checks its parameters and hyperparameters", "[nn][adam]") {
  P p("p", 2, 2, true);
  CHECK_THROWS_WITH(dare::nn::Adam<double>({&p, &p}), Catch::Contains("listed twice"));
  CHECK_THROWS_AS(dare::nn::Adam<double>({nullptr}), std::invalid_argument);
  P bad("bad", 2, 2, true);
  bad.grad.resize(1, 1);
  CHECK_THROWS_WITH(dare::nn::Adam<double>({&bad}), Catch::Contains("bad"));
  dare::nn::AdamOptions o;
  o.beta1 = 1.0;
  CHECK_THROWS_WITH(dare::nn::Adam<double>({&p}, o), Catch::Contains("beta1"));
  dare::nn::Adam<double> adam({&p});
  CHECK_THROWS_AS(adam.set_lr(-1), std::invalid_argument);
  adam.set_lr(0.01);
  CHECK(adam.options().lr == 0.01);
}
