#include <catch2/catch.hpp>

#include <limits>
#include <sstream>
#include <string>

#include "dare/nn/mlp.hpp"
#include "dare/nn/parameter.hpp"

namespace {
using P = dare::nn::Parameter<float>;

std::string saved(P& a, P& b) {
  std::stringstream s;
  dare::nn::save_parameters<float>(s, {&a, &b});
  return s.str();
}
}  // namespace

TEST_CASE("a parameter starts at zero with a gradient of its shape", "[nn][parameter]") {
  P p("w", 3, 2, true);
  CHECK(p.value.rows() == 3);
  CHECK(p.value.cols() == 2);
  CHECK(p.value.isZero());
  CHECK(p.grad.isZero());
  CHECK(p.decay);
  p.grad.setOnes();
  p.zero_grad();
  CHECK(p.grad.isZero());
}

TEST_CASE("parameters round-trip through a stream, several blocks in a row", "[nn][parameter]") {
  dare::nn::MlpOptions o;
  o.input_batch_norm = true;
  dare::nn::Mlp<float> a(6, {5}, 2, o), b(6, {5}, 2, o);
  a.init_normal(0.3f, 1);
  a.prelu(0).slope().value(0, 0) = 0.25f;
  a.batch_norm().running_mean().value.setConstant(0.5f);
  std::stringstream s;
  dare::nn::save_parameters(s, a.parameters());
  dare::nn::save_parameters(s, a.buffers());
  dare::nn::load_parameters(s, b.parameters(), "model.ckpt");
  dare::nn::load_parameters(s, b.buffers(), "model.ckpt");
  const auto pa = a.parameters(), pb = b.parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) CHECK(pa[i]->value == pb[i]->value);
  CHECK(b.batch_norm().running_mean().value == a.batch_norm().running_mean().value);
  CHECK(s.peek() == std::char_traits<char>::eof());
}

TEST_CASE("loading parameters rejects mismatches and damage without touching the model", "[nn][parameter]") {
  P w("fc.weight", 2, 3, true), bias("fc.bias", 2, 1, false);
  w.value.setConstant(1.5f);
  bias.value.setConstant(-0.5f);
  const std::string bytes = saved(w, bias);

  P w2("fc.weight", 2, 3, true), b2("fc.bias", 2, 1, false);
  auto load = [&](const std::string& data, P& x, P& y) {
    std::istringstream in(data);
    dare::nn::load_parameters<float>(in, {&x, &y}, "model.ckpt");
  };
  auto untouched = [&] { CHECK(w2.value.isZero()); };

  SECTION("the original loads") {
    load(bytes, w2, b2);
    CHECK(w2.value == w.value);
    CHECK(b2.value == bias.value);
  }
  SECTION("another name") {
    P other("proj.weight", 2, 3, true);
    CHECK_THROWS_WITH(load(bytes, other, b2), Catch::Contains("model.ckpt") && Catch::Contains("'proj.weight'") &&
                                                  Catch::Contains("the file has 'fc.weight'"));
  }
  SECTION("another shape") {
    P wide("fc.weight", 2, 4, true);
    CHECK_THROWS_WITH(load(bytes, wide, b2), Catch::Contains("2x3 in the file but 2x4 in the model"));
  }
  SECTION("another count") {
    std::istringstream in(bytes);
    CHECK_THROWS_WITH(dare::nn::load_parameters<float>(in, {&w2}, "model.ckpt"),
                      Catch::Contains("the file has 2 parameters but the model has 1"));
    untouched();
  }
  SECTION("a truncated file") {
    for (std::size_t keep : {std::size_t(0), std::size_t(5), std::size_t(30), bytes.size() - 1}) {
      INFO("bytes kept: " << keep);
      CHECK_THROWS_WITH(load(bytes.substr(0, keep), w2, b2), Catch::Contains("model.ckpt"));
      untouched();
    }
    CHECK_THROWS_WITH(load(bytes.substr(0, bytes.size() - 1), w2, b2), Catch::Contains("truncated"));
  }
  SECTION("a flipped bit in the data") {
    std::string bad = bytes;
    bad[bad.size() - 12] ^= 0x01;  // inside the bias values
    CHECK_THROWS_WITH(load(bad, w2, b2), Catch::Contains("checksum"));
    untouched();
  }
  SECTION("not a parameter block") {
    CHECK_THROWS_WITH(load("garbage that is long enough to read", w2, b2), Catch::Contains("magic"));
  }
  SECTION("double values into a float model") {
    dare::nn::Parameter<double> wd("fc.weight", 2, 3, true), bd("fc.bias", 2, 1, false);
    std::stringstream s;
    dare::nn::save_parameters<double>(s, {&wd, &bd});
    CHECK_THROWS_WITH(load(s.str(), w2, b2), Catch::Contains("8-byte scalars"));
  }
  SECTION("non-finite values") {
    w.value(1, 1) = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH(load(saved(w, bias), w2, b2), Catch::Contains("non-finite"));
    untouched();
  }
}
