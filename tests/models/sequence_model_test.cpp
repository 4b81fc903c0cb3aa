#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dare/models.hpp"
#include "model_test_util.hpp"

namespace {
using dare_test::OwnedBatch;
using dare_test::tiny_config;
}  // namespace

TEST_CASE("training learns a history-dependent target", "[models][training]") {
  // Label 1 when the target's category occurs in the history: the model must search.
  dare::ModelConfig config;
  config.num_items = 200;
  config.num_cats = 20;
  config.num_times = 40;
  config.att_dim = 4;
  config.repr_dim = 4;
  config.max_len = 30;
  config.top_k = 5;
  config.hidden = {16, 8};
  config.aux_hidden = {8};
  dare::Dare<float, 4, 4> model(config);
  dare::OptimizerConfig opt;
  opt.lr = 0.01;
  model.configure_optimizer(opt);

  std::mt19937_64 gen(7);
  auto make = [&](OwnedBatch& b) {
    for (dare::Index s = 0; s < b.size; ++s) {
      // Items 10c..10c+9 belong to category c.
      bool has[20] = {};
      for (dare::Index j = 0; j < b.len; ++j) {
        const dare::Id cat = static_cast<dare::Id>(1 + gen() % 19);
        const dare::Id item = static_cast<dare::Id>(cat * 10 + gen() % 10);
        b.hist_item[s * b.len + j] = j < 3 ? 0 : item;
        b.hist_cat[s * b.len + j] = j < 3 ? 0 : cat;
        if (j >= 3 && j >= b.len - 8) has[cat] = true;  // only recent behaviours count
      }
      const dare::Id cat = static_cast<dare::Id>(1 + gen() % 19);
      b.target_cat[s] = cat;
      b.target_item[s] = static_cast<dare::Id>(cat * 10 + gen() % 10);
      b.label[s] = has[cat] ? 1 : 0;
    }
  };
  OwnedBatch batch(128, 30, 200, 20, 1);
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    make(batch);
    const double loss = model.forward_backward(batch.view()).main;
    model.step();
    if (step < 20) first += loss / 20;
    if (step >= 280) last += loss / 20;
  }
  INFO("mean main loss over the first 20 steps " << first << ", over the last 20 " << last);
  CHECK(last < 0.75 * first);
}

TEST_CASE("a checkpoint restores the model exactly and a bad one changes nothing", "[models][checkpoint]") {
  auto config = tiny_config(2, 3);
  dare::Dare<float, 2, 3> model(config);
  model.configure_optimizer({});
  const OwnedBatch batch(8, 7, 13, 6, 2);
  model.forward_backward(batch.view());
  model.step();
  std::stringstream buffer;
  model.save(buffer);
  const std::string bytes = buffer.str();

  auto other_config = config;
  other_config.seed = 99;
  dare::Dare<float, 2, 3> restored(other_config);
  std::vector<float> p1(8), p2(8);
  model.predict(batch.view(), p1.data());
  std::istringstream in(bytes);
  restored.load(in, "ckpt");
  restored.predict(batch.view(), p2.data());
  CHECK(p1 == p2);
  // The optimizer state came along: one more identical step keeps them identical.
  model.forward_backward(batch.view());
  model.step();
  restored.forward_backward(batch.view());
  restored.step();
  model.predict(batch.view(), p1.data());
  restored.predict(batch.view(), p2.data());
  CHECK(p1 == p2);

  dare::Dare<float, 2, 3> victim(other_config);
  std::vector<float> before(8), after(8);
  victim.predict(batch.view(), before.data());
  std::istringstream truncated(bytes.substr(0, bytes.size() / 2));
  CHECK_THROWS_AS(victim.load(truncated, "half.ckpt"), dare::FormatError);
  std::string flipped = bytes;
  flipped[flipped.size() / 3] = static_cast<char>(flipped[flipped.size() / 3] ^ 0x20);
  std::istringstream corrupt(flipped);
  CHECK_THROWS_AS(victim.load(corrupt, "flip.ckpt"), dare::FormatError);
  victim.predict(batch.view(), after.data());
  CHECK(before == after);

  dare::Twin<float, 2> twin(tiny_config(2, 2));
  std::istringstream wrong(bytes);
  CHECK_THROWS_WITH(twin.load(wrong, "dare.ckpt"), Catch::Contains("dare.ckpt") && Catch::Contains("model kind") &&
                                                      Catch::Contains("a dare model") && Catch::Contains("this model is twin"));
}

TEST_CASE("a checkpoint file with trailing bytes, a NaN weight or an oversized table from a pipe is rejected",
          "[models][checkpoint]") {
  auto config = tiny_config(2, 3);
  dare::Dare<float, 2, 3> model(config);
  std::stringstream buffer;
  model.save(buffer, false);
  const std::string bytes = buffer.str();
  const std::string path = "/tmp/dare_model_test_" + std::to_string(::getpid()) + ".ckpt";
  {
    std::ofstream os(path, std::ios::binary);
    os << bytes << "junk";
  }
  dare::Dare<float, 2, 3> other(config);
  CHECK_THROWS_WITH(other.load(path), Catch::Contains(path) && Catch::Contains("unexpected data after the end"));
  std::remove(path.c_str());

  // The model header is 120 bytes (magic, six u32, eight u64 sizes, four u32, checksum); the
  // first table's rows field follows its magic, version and scalar size. 2^31 rows where the
  // model has num_items: refused before any allocation, even from a stream that cannot tell
  // its length.
  const std::size_t header = 120;
  std::string huge = bytes;
  const std::uint64_t rows = std::uint64_t{1} << 31;
  std::memcpy(&huge[header + 16], &rows, 8);
  std::istringstream in(huge);
  try {
    other.load(in, "pipe");
    FAIL("no error");
  } catch (const dare::FormatError& e) {
    CHECK(e.field() == "rows");
  }

  // A NaN in a table (with a valid checksum: the table record hashes its own bytes).
  std::string nan = bytes;
  const float value = std::numeric_limits<float>::quiet_NaN();
  const std::size_t payload = header + 32;  // the first table's first value
  std::memcpy(&nan[payload], &value, 4);
  const std::uint64_t table_bytes = 32 + static_cast<std::uint64_t>(config.num_items) * 2 * 4;
  dare::detail::Checksum sum;
  sum.update(reinterpret_cast<const unsigned char*>(nan.data()) + header + 8, table_bytes - 8);
  const std::uint64_t h = sum.value();
  std::memcpy(&nan[header + table_bytes], &h, 8);
  std::istringstream nan_in(nan);
  CHECK_THROWS_WITH(other.load(nan_in, "nan.ckpt"), Catch::Contains("'payload'") && Catch::Contains("nan"));

  // A negative BatchNorm running variance, finite and under a valid checksum. Without the
  // optimizer the buffers' block (its own magic, FNV-1a over the block) ends the checkpoint.
  std::string var = bytes;
  const std::size_t block = var.rfind(std::string(dare::nn::detail::kParameterMagic, 8));
  const std::size_t name_at = var.find("running_var", block);
  REQUIRE(name_at != std::string::npos);
  const float minus_one = -1.0f;
  std::memcpy(&var[name_at + 11 + 16], &minus_one, 4);  // after the name: rows, cols, then the values
  dare::nn::detail::Fnv1a fnv;
  fnv.update(var.data() + block, var.size() - 8 - block);
  const std::uint64_t fh = fnv.value();
  std::memcpy(&var[var.size() - 8], &fh, 8);
  std::istringstream var_in(var);
  CHECK_THROWS_WITH(other.load(var_in, "var.ckpt"), Catch::Contains("running_var") && Catch::Contains("below 0"));
}

TEST_CASE("a model whose tables cannot fit in memory is refused naming its sizes", "[models]") {
  auto config = tiny_config(1024, 1024);
  config.num_cats = std::int64_t{1} << 31;  // 2^31 rows x 2048 floats x 3 (weights, Adam's m, v): 52 TB
  CHECK_THROWS_WITH((dare::Dare<float, dare::Dynamic, dare::Dynamic>(config)), Catch::Contains("num_cats 2147483648") &&
                                                           Catch::Contains("memory of this machine"));
  config = tiny_config(2, 2);
  config.att_dim = 100000;
  CHECK_THROWS_WITH((dare::Dare<float, dare::Dynamic, 2>(config)), Catch::Contains("att_dim must be from 1 to 1024"));
}

TEST_CASE("a checkpoint header flag other than 0 or 1 is rejected", "[models][checkpoint]") {
  // Found by fuzz/model_fuzzer: any non-zero optimizer_flag (or, in version 2, shared_tables)
  // was taken as 1, so a corrupted header with a valid checksum loaded and saved back
  // different bytes.
  dare::Dare<float, 2, 3> model(tiny_config(2, 3));
  std::stringstream buffer;
  model.save(buffer, false);
  const std::string bytes = buffer.str();
  // Header record: magic (8), version, scalar_size, layout, selector, scorer, target_aware
  // (u32 at 16, 20, 24, 28), 8 sizes (u64), inference_stats (u32) at 96, optimizer_flag (u32)
  // at 100, hash_bits and hash_rounds (u32) at 104 and 108, then the checksum of bytes [8, 112).
  const auto with_u32 = [&](std::size_t at, std::uint32_t value) {
    std::string b = bytes;
    for (int k = 0; k < 4; ++k) b[at + k] = static_cast<char>(value >> (8 * k));
    dare::detail::Checksum sum;
    sum.update(reinterpret_cast<const unsigned char*>(b.data()) + 8, 104);
    const std::uint64_t h = sum.value();
    for (int k = 0; k < 8; ++k) b[112 + k] = static_cast<char>(h >> (8 * k));
    return b;
  };
  std::istringstream same(with_u32(100, 0));
  CHECK_NOTHROW(dare::Dare<float, 2, 3>(tiny_config(2, 3)).load(same, "ok.ckpt"));
  std::istringstream mode(with_u32(96, 3));
  CHECK_THROWS_WITH(model.load(mode, "mode.ckpt"), Catch::Contains("inference_stats") && Catch::Contains("unknown mode 3"));
  std::istringstream flag(with_u32(100, 0x2f01));
  CHECK_THROWS_WITH(model.load(flag, "flag.ckpt"), Catch::Contains("optimizer_flag") && Catch::Contains("0 or 1"));
  std::istringstream tr(with_u32(28, 2));
  CHECK_THROWS_WITH(model.load(tr, "tr.ckpt"), Catch::Contains("target_aware") && Catch::Contains("0 or 1"));
  std::istringstream kind(with_u32(16, 1));  // the shared layout: a TWIN checkpoint's header
  CHECK_THROWS_WITH(model.load(kind, "kind.ckpt"), Catch::Contains("a twin model") && Catch::Contains("this model is dare"));
  std::istringstream bits(with_u32(104, 64));  // a model that does not hash records 0
  CHECK_THROWS_WITH(model.load(bits, "bits.ckpt"), Catch::Contains("hash_bits") && Catch::Contains("checkpoint has 64"));

  // Version 3 (before the hash fields) is refused, naming what to do.
  std::istringstream v3(with_u32(8, 3));
  CHECK_THROWS_WITH(model.load(v3, "v3.ckpt"), Catch::Contains("unsupported checkpoint version 3") &&
                                                   Catch::Contains("reads 4; retrain"));
}

TEST_CASE("bad ids and shapes are rejected with the field named", "[models]") {
  dare::Dare<float, 2, 2> model(tiny_config(2, 2));
  OwnedBatch batch(3, 7, 13, 6, 1);
  batch.hist_item[5] = 13;
  CHECK_THROWS_WITH(model.forward_backward(batch.view()), Catch::Contains("history item id 13"));
  batch.hist_item[5] = 1;
  batch.target_cat[2] = -1;
  CHECK_THROWS_WITH(model.forward_backward(batch.view()), Catch::Contains("target category id -1"));
  batch.target_cat[2] = 1;
  batch.label[1] = 2;
  CHECK_THROWS_WITH(model.forward_backward(batch.view()), Catch::Contains("label of sample 1"));
  auto config = tiny_config(2, 2);
  config.top_k = 8;
  CHECK_THROWS_WITH((dare::Dare<float, 2, 2>(config)), Catch::Contains("top_k"));
  CHECK_THROWS_WITH((dare::Dare<float, 2, 2>(tiny_config(3, 2))), Catch::Contains("att_dim"));
}

TEST_CASE("precise head statistics are the mean and variance of the head inputs over the same batches",
          "[models][batch_norm]") {
  dare::Dare<double, 3, 2> model(tiny_config(3, 2));
  const OwnedBatch a(9, 7, 13, 6, 21), b(5, 7, 13, 6, 22);
  // The head inputs of each batch, read from a plain forward pass.
  std::vector<double> prob(9);
  model.predict(a.view(), prob.data());
  const Eigen::MatrixXd xa = model.head_input();
  model.predict(b.view(), prob.data());
  const Eigen::MatrixXd xb = model.head_input();
  REQUIRE(xa.rows() == model.feature_width());
  REQUIRE(xa.cols() == 9);

  model.begin_head_statistics();
  model.accumulate_head_statistics(a.view());
  model.accumulate_head_statistics(b.view());
  model.end_head_statistics();
  auto& bn = model.main_head().batch_norm();
  for (dare::Index f = 0; f < xa.rows(); ++f) {
    double sum = 0, sq = 0;
    for (dare::Index i = 0; i < 9; ++i) sum += xa(f, i);
    for (dare::Index i = 0; i < 5; ++i) sum += xb(f, i);
    const double mean = sum / 14;
    for (dare::Index i = 0; i < 9; ++i) sq += (xa(f, i) - mean) * (xa(f, i) - mean);
    for (dare::Index i = 0; i < 5; ++i) sq += (xb(f, i) - mean) * (xb(f, i) - mean);
    INFO("feature " << f);
    CHECK(bn.running_mean().value(f, 0) == Approx(mean).epsilon(1e-12).margin(1e-15));
    CHECK(bn.running_var().value(f, 0) == Approx(sq / 13).epsilon(1e-12).margin(1e-15));
  }
}

TEST_CASE("batch-statistics prediction equals a training-mode forward of the same batch and keeps the stored "
          "statistics", "[models][batch_norm]") {
  dare::Twin<double, 2> model(tiny_config(2, 2));
  const OwnedBatch batch(12, 7, 13, 6, 23);
  std::vector<double> trained(12), predicted(12);
  model.set_inference_stats(dare::nn::InferenceStats::Batch);
  auto& bn = model.main_head().batch_norm();
  const Eigen::MatrixXd mean = bn.running_mean().value, var = bn.running_var().value;
  model.predict(batch.view(), predicted.data());
  CHECK(bn.running_mean().value == mean);
  CHECK(bn.running_var().value == var);
  model.forward_backward(batch.view(), trained.data());
  for (int s = 0; s < 12; ++s) CHECK(predicted[s] == Approx(trained[s]).epsilon(1e-14));
  // Running statistics after that step differ from batch ones; Running mode uses them.
  model.set_inference_stats(dare::nn::InferenceStats::Running);
  model.predict(batch.view(), predicted.data());
  double diff = 0;
  for (int s = 0; s < 12; ++s) diff = std::max(diff, std::abs(predicted[s] - trained[s]));
  CHECK(diff > 1e-6);
}

TEST_CASE("the reference initialisation draws every non-bias parameter from N(0, sigma) and the reference L2 "
          "penalises them all", "[models]") {
  auto config = tiny_config(3, 3);
  config.hidden = {200, 80};
  config.aux_hidden = {200};
  config.init_sigma = 0.01;
  CHECK(config.reference_init);  // the default
  config.reference_init = false;
  dare::Dare<float, 3, 3> plain(config);
  config.reference_init = true;
  dare::Dare<float, 3, 3> reference(config);
  int drawn = 0;
  auto ref_params = reference.head_parameters();
  auto plain_params = plain.head_parameters();
  REQUIRE(ref_params.size() == plain_params.size());
  for (std::size_t i = 0; i < ref_params.size(); ++i) {
    const auto& p = *ref_params[i];
    INFO(p.name);
    const bool bias = p.name.find("bias") != std::string::npos;
    const bool batch_norm_or_prelu =
        p.name.find("batch_norm") != std::string::npos || p.name.find("prelu") != std::string::npos;
    if (bias) {
      CHECK((p.value.array() == 0.0f).all());
      continue;
    }
    ++drawn;
    // Not a constant: a draw around zero with the configured spread.
    const double n = static_cast<double>(p.value.size());
    const double mean = p.value.cast<double>().sum() / n;
    const double rms = std::sqrt(p.value.cast<double>().array().square().sum() / n);
    CHECK(std::abs(mean) < 0.01);
    CHECK(rms < 0.03);
    if (p.value.size() > 1) {
      CHECK(p.value.maxCoeff() != p.value.minCoeff());
      CHECK(rms > 0.005);
    }
    CHECK(p.value.cwiseAbs().maxCoeff() > 0.0f);
    if (batch_norm_or_prelu) {
      // dare's own initialisation keeps gamma = 1 and slope = 0.1 there.
      CHECK(plain_params[i]->value.maxCoeff() == plain_params[i]->value.minCoeff());
      CHECK(plain_params[i]->value(0) >= 0.1f);
    }
  }
  CHECK(drawn == 2 + 5 + 3);  // two BatchNorm weights, five Linear weights, three PReLU slopes
  dare::OptimizerConfig opt;
  opt.reference_l2 = true;
  reference.configure_optimizer(opt);
  for (const auto* p : reference.head_parameters()) {
    INFO(p->name);
    CHECK(p->decay == (p->name.find("bias") == std::string::npos));
  }
  opt.reference_l2 = false;
  reference.configure_optimizer(opt);
  for (const auto* p : reference.head_parameters()) {
    INFO(p->name);
    CHECK(p->decay == (p->name.find("linear") != std::string::npos && p->name.find("weight") != std::string::npos));
  }
}

TEST_CASE("a checkpoint records the inference statistics mode", "[models][checkpoint]") {
  dare::Dare<float, 2, 3> model(tiny_config(2, 3));
  model.set_inference_stats(dare::nn::InferenceStats::Precise);
  std::stringstream buffer;
  model.save(buffer, false);
  dare::Dare<float, 2, 3> loaded(tiny_config(2, 3));
  CHECK(loaded.inference_stats() == dare::nn::InferenceStats::Running);
  loaded.load(buffer, "mode.ckpt");
  CHECK(loaded.inference_stats() == dare::nn::InferenceStats::Precise);
}

namespace {

// Trains two copies of one model, one with the optimizer's deferred table rows and one
// updating every row every step, and requires the same bits throughout: losses, prediction
// probabilities between steps, and the whole checkpoint (tables, parameters, optimizer state).
template <class Model>
void check_deferred_training(const char* name) {
  INFO(name);
  dare::ModelConfig config = tiny_config(Model::AttDim, Model::ReprDim);
  // Most item and category rows are untouched in a step (deferred); the time table's are
  // mostly touched (streamed).
  config.num_items = 20000;
  config.num_cats = 3000;
  config.num_times = 30;
  Model deferred(config), plain(config);
  dare::OptimizerConfig opt;
  opt.lr = 0.02;
  deferred.configure_optimizer(opt);
  opt.defer_untouched_rows = false;
  plain.configure_optimizer(opt);
  deferred.set_threads(2);
  plain.set_threads(2);
  std::vector<float> p1(24), p2(24);
  for (int step = 0; step < 40; ++step) {
    // A few windows over a small part of the table, so rows idle for many steps.
    OwnedBatch batch(24, config.max_len, (step % 5 + 1) * 4000, (step % 3 + 1) * 1000,
                     static_cast<std::uint64_t>(step));
    const auto a = deferred.forward_backward(batch.view());
    const auto b = plain.forward_backward(batch.view());
    REQUIRE(std::memcmp(&a, &b, sizeof a) == 0);
    deferred.step();
    plain.step();
    if (step % 9 == 4) {
      deferred.predict(batch.view(), p1.data());
      plain.predict(batch.view(), p2.data());
      REQUIRE(std::memcmp(p1.data(), p2.data(), p1.size() * sizeof(float)) == 0);
    }
  }
  std::ostringstream s1, s2;
  deferred.save(s1);
  plain.save(s2);
  CHECK(s1.str() == s2.str());
  // Serving reads rows the last batches did not: they too must be current.
  deferred.forward_backward(OwnedBatch(24, config.max_len, 20000, 3000, 99).view());
  deferred.step();
  plain.forward_backward(OwnedBatch(24, config.max_len, 20000, 3000, 99).view());
  plain.step();
  const dare::Id hist_item[3] = {19990, 17, 250}, hist_cat[3] = {2955, 3, 41}, cand_item[2] = {19999, 1}, cand_cat[2] = {2999, 2};
  float q1[2], q2[2];
  deferred.score_candidates(hist_item, hist_cat, 3, cand_item, cand_cat, 2, q1);
  plain.score_candidates(hist_item, hist_cat, 3, cand_item, cand_cat, 2, q2);
  CHECK(std::memcmp(q1, q2, sizeof q1) == 0);
}

}  // namespace

TEST_CASE("deferred optimizer rows train, predict, serve and save the same bits as dense updates",
          "[models][training]") {
  check_deferred_training<dare::Dare<float, 4, 4>>("dare");
  check_deferred_training<dare::Twin4E<float, 4, 4>>("twin-4e");
  check_deferred_training<dare::Twin<float, 2>>("twin");
}
