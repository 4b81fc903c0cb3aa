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

namespace {

// A batch with its own storage: random windows with some left padding, in groups of three
// samples sharing one window (as a positive and its two negatives do).
struct OwnedBatch {
  dare::Index size, len;
  std::vector<dare::Id> hist_item, hist_cat, target_item, target_cat;
  std::vector<int> label;

  OwnedBatch(dare::Index b, dare::Index l, dare::Index items, dare::Index cats, std::uint64_t seed)
      : size(b), len(l), hist_item(b * l), hist_cat(b * l), target_item(b), target_cat(b), label(b) {
    std::mt19937_64 gen(seed);
    std::uniform_int_distribution<dare::Id> item(1, static_cast<dare::Id>(items - 1));
    std::uniform_int_distribution<dare::Id> cat(1, static_cast<dare::Id>(cats - 1));
    for (dare::Index s = 0; s < b; ++s) {
      if (s % 3 != 0) {
        std::copy_n(hist_item.begin() + (s - 1) * l, l, hist_item.begin() + s * l);
        std::copy_n(hist_cat.begin() + (s - 1) * l, l, hist_cat.begin() + s * l);
      } else {
        const dare::Index pad = static_cast<dare::Index>(gen() % static_cast<std::uint64_t>(l / 2 + 1));
        for (dare::Index j = pad; j < l; ++j) {
          hist_item[s * l + j] = item(gen);
          hist_cat[s * l + j] = cat(gen);
        }
      }
      target_item[s] = item(gen);
      target_cat[s] = cat(gen);
      label[s] = static_cast<int>(s % 2);
    }
  }
  dare::SequenceBatch view() const {
    dare::SequenceBatch v;
    v.size = size;
    v.max_len = len;
    v.hist_item = hist_item.data();
    v.hist_cat = hist_cat.data();
    v.target_item = target_item.data();
    v.target_cat = target_cat.data();
    v.label = label.data();
    return v;
  }
};

dare::ModelConfig tiny_config(dare::Index att, dare::Index repr) {
  dare::ModelConfig c;
  c.num_items = 13;
  c.num_cats = 6;
  c.num_times = 9;
  c.att_dim = att;
  c.repr_dim = repr;
  c.max_len = 7;
  c.top_k = 3;
  c.hidden = {5, 4};
  c.aux_hidden = {4};
  c.init_sigma = 0.4;
  c.seed = 11;
  return c;
}

// Every gradient of one table against central differences of the total loss.
template <class Model, class Table, class Grad>
void check_table_gradient(Model& model, Table& table, const Grad& grad, const OwnedBatch& batch,
                          const char* what) {
  const double eps = 1e-6;
  std::vector<double> analytic(static_cast<std::size_t>(table.rows() * table.dim()), 0.0);
  for (dare::Index slot = 0; slot < grad.size(); ++slot) {
    for (dare::Index c = 0; c < table.dim(); ++c) {
      analytic[static_cast<std::size_t>(grad.id(slot) * table.dim() + c)] += grad.row(slot)[c];
    }
  }
  for (dare::Index id = 0; id < table.rows(); ++id) {
    for (dare::Index c = 0; c < table.dim(); ++c) {
      double& x = table.row(id)[c];
      const double saved = x;
      x = saved + eps;
      const double up = model.forward_backward(batch.view()).total();
      x = saved - eps;
      const double down = model.forward_backward(batch.view()).total();
      x = saved;
      const double numeric = (up - down) / (2 * eps);
      const double a = analytic[static_cast<std::size_t>(id * table.dim() + c)];
      INFO(what << " row " << id << " component " << c << ": analytic " << a << ", numeric " << numeric);
      CHECK(std::abs(a - numeric) <= 1e-6 * std::max(1.0, std::abs(numeric)));
    }
  }
}

template <class Model>
void check_all_gradients(Model& model, const OwnedBatch& batch) {
  model.forward_backward(batch.view());
  // Copy the gradients: every probe below recomputes them.
  auto att_item = model.att_item_grad(), att_cat = model.att_cat_grad(), att_time = model.att_time_grad();
  auto repr_item = model.repr_item_grad(), repr_cat = model.repr_cat_grad(), repr_time = model.repr_time_grad();
  std::vector<dare::nn::Matrix<double>> head_grads;
  for (auto* p : model.head_parameters()) head_grads.push_back(p->grad);

  check_table_gradient(model, model.att_item(), att_item, batch, "att_item");
  check_table_gradient(model, model.att_cat(), att_cat, batch, "att_cat");
  check_table_gradient(model, model.att_time(), att_time, batch, "att_time");
  if (!Model::kShared) {
    check_table_gradient(model, model.repr_item(), repr_item, batch, "repr_item");
    check_table_gradient(model, model.repr_cat(), repr_cat, batch, "repr_cat");
    check_table_gradient(model, model.repr_time(), repr_time, batch, "repr_time");
  }
  const double eps = 1e-6;
  auto params = model.head_parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto& value = params[i]->value;
    for (dare::Index k = 0; k < value.size(); ++k) {
      const double saved = value(k);
      value(k) = saved + eps;
      const double up = model.forward_backward(batch.view()).total();
      value(k) = saved - eps;
      const double down = model.forward_backward(batch.view()).total();
      value(k) = saved;
      const double numeric = (up - down) / (2 * eps);
      const double a = head_grads[i](k);
      INFO(params[i]->name << "[" << k << "]: analytic " << a << ", numeric " << numeric);
      CHECK(std::abs(a - numeric) <= 1e-6 * std::max(1.0, std::abs(numeric)));
    }
  }
}

template <class Table>
void copy_table(const Table& from, Table& to) {
  REQUIRE(from.rows() == to.rows());
  for (dare::Index id = 0; id < from.rows(); ++id) {
    std::copy(from.row(id), from.row(id) + from.dim(), to.row(id));
  }
}

}  // namespace

TEST_CASE("DARE's full backward pass matches central differences", "[models][gradient]") {
  const OwnedBatch batch(5, 7, 13, 6, 3);
  SECTION("fixed widths, attention narrower than representation") {
    dare::Dare<double, 2, 3> model(tiny_config(2, 3));
    check_all_gradients(model, batch);
  }
  SECTION("Dynamic widths") {
    dare::Dare<double, dare::Dynamic, dare::Dynamic> model(tiny_config(3, 2));
    check_all_gradients(model, batch);
  }
  SECTION("without the auxiliary head") {
    auto config = tiny_config(2, 2);
    config.aux_loss = false;
    dare::Dare<double, 2, 2> model(config);
    check_all_gradients(model, batch);
  }
}

TEST_CASE("TWIN's full backward pass matches central differences", "[models][gradient]") {
  const OwnedBatch batch(4, 7, 13, 6, 5);
  dare::Twin<double, 3> model(tiny_config(3, 3));
  check_all_gradients(model, batch);
}

TEST_CASE("DARE with tied tables and equal widths computes exactly TWIN", "[models]") {
  const auto config = tiny_config(3, 3);
  const OwnedBatch batch(6, 7, 13, 6, 9);
  dare::Twin<double, 3> twin(config);
  dare::Dare<double, 3, 3> dare_model(config);
  copy_table(twin.att_item(), dare_model.att_item());
  copy_table(twin.att_cat(), dare_model.att_cat());
  copy_table(twin.att_time(), dare_model.att_time());
  copy_table(twin.att_item(), dare_model.repr_item());
  copy_table(twin.att_cat(), dare_model.repr_cat());
  copy_table(twin.att_time(), dare_model.repr_time());
  auto tp = twin.head_parameters();
  auto dp = dare_model.head_parameters();
  REQUIRE(tp.size() == dp.size());
  for (std::size_t i = 0; i < tp.size(); ++i) dp[i]->value = tp[i]->value;

  std::vector<double> prob_twin(6), prob_dare(6);
  const auto loss_twin = twin.forward_backward(batch.view(), prob_twin.data());
  const auto loss_dare = dare_model.forward_backward(batch.view(), prob_dare.data());
  CHECK(loss_twin.main == loss_dare.main);
  CHECK(loss_twin.aux == loss_dare.aux);
  CHECK(prob_twin == prob_dare);

  // TWIN's single-table gradient is the sum of DARE's attention and representation ones.
  auto check_sum = [](const auto& shared, const auto& att, const auto& repr, dare::Index rows, const char* what) {
    std::vector<double> lhs(static_cast<std::size_t>(rows * 3), 0.0), rhs(lhs.size(), 0.0);
    for (dare::Index i = 0; i < shared.size(); ++i)
      for (int c = 0; c < 3; ++c) lhs[static_cast<std::size_t>(shared.id(i) * 3 + c)] += shared.row(i)[c];
    for (const auto* g : {&att, &repr})
      for (dare::Index i = 0; i < g->size(); ++i)
        for (int c = 0; c < 3; ++c) rhs[static_cast<std::size_t>(g->id(i) * 3 + c)] += g->row(i)[c];
    for (std::size_t k = 0; k < lhs.size(); ++k) {
      INFO(what << " element " << k);
      CHECK(lhs[k] == Approx(rhs[k]).epsilon(1e-12).margin(1e-15));
    }
  };
  check_sum(twin.att_item_grad(), dare_model.att_item_grad(), dare_model.repr_item_grad(), 13, "item");
  check_sum(twin.att_cat_grad(), dare_model.att_cat_grad(), dare_model.repr_cat_grad(), 6, "category");
  check_sum(twin.att_time_grad(), dare_model.att_time_grad(), dare_model.repr_time_grad(), 9, "time");
  for (std::size_t i = 0; i < tp.size(); ++i) {
    INFO(tp[i]->name);
    CHECK(tp[i]->grad.isApprox(dp[i]->grad, 1e-12));
  }
}

TEST_CASE("decoupled tables keep attention and representation gradients apart", "[models]") {
  // The search reads only the attention tables: changing representation rows leaves every
  // score, hence the kept positions and their weights, exactly as they were.
  auto config = tiny_config(2, 3);
  const OwnedBatch batch(4, 7, 13, 6, 21);
  dare::Dare<double, 2, 3> model(config);
  model.forward_backward(batch.view());
  std::vector<dare::Index> pos(3), pos_after(3);
  std::vector<double> w(3), w_after(3);
  model.selected(0, pos.data(), w.data());
  model.repr_item().row(batch.hist_item[3 * 7 - 1])[0] += 0.5;
  model.repr_cat().row(1)[1] -= 0.5;
  model.forward_backward(batch.view());
  model.selected(0, pos_after.data(), w_after.data());
  CHECK(pos == pos_after);
  CHECK(w == w_after);
}

TEST_CASE("two worker threads give the one-thread losses and gradients", "[models]") {
  const auto config = tiny_config(4, 4);
  const OwnedBatch batch(33, 7, 13, 6, 4);
  dare::Dare<double, 4, 4> one(config), two(config);
  two.set_threads(2);
  const auto l1 = one.forward_backward(batch.view());
  const auto l2 = two.forward_backward(batch.view());
  CHECK(l1.main == l2.main);
  CHECK(l1.aux == l2.aux);
  auto dense = [](const auto& g, dare::Index rows) {
    std::vector<double> out(static_cast<std::size_t>(rows * 4), 0.0);
    for (dare::Index i = 0; i < g.size(); ++i)
      for (int c = 0; c < 4; ++c) out[static_cast<std::size_t>(g.id(i) * 4 + c)] += g.row(i)[c];
    return out;
  };
  const auto a = dense(one.att_item_grad(), 13), b = dense(two.att_item_grad(), 13);
  const auto c = dense(one.repr_time_grad(), 9), d = dense(two.repr_time_grad(), 9);
  for (std::size_t k = 0; k < a.size(); ++k) CHECK(a[k] == Approx(b[k]).epsilon(1e-12).margin(1e-15));
  for (std::size_t k = 0; k < c.size(); ++k) CHECK(c[k] == Approx(d[k]).epsilon(1e-12).margin(1e-15));
}

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

TEST_CASE("scoring candidates for one user equals batch prediction", "[models][serve]") {
  auto config = tiny_config(3, 2);
  dare::Dare<float, 3, 2> model(config);
  OwnedBatch train(16, 7, 13, 6, 8);
  model.forward_backward(train.view());  // fills BatchNorm running statistics

  // One user's 5-long history against 6 candidates, as a batch of 6 identical windows.
  const std::vector<dare::Id> items = {3, 7, 7, 2, 11}, cats = {1, 2, 2, 5, 4};
  const std::vector<dare::Id> cand_items = {1, 2, 3, 4, 5, 12}, cand_cats = {1, 1, 2, 3, 4, 5};
  OwnedBatch batch(6, 7, 13, 6, 0);
  for (dare::Index s = 0; s < 6; ++s) {
    for (dare::Index j = 0; j < 7; ++j) {
      batch.hist_item[s * 7 + j] = j < 2 ? 0 : items[j - 2];
      batch.hist_cat[s * 7 + j] = j < 2 ? 0 : cats[j - 2];
    }
    batch.target_item[s] = cand_items[s];
    batch.target_cat[s] = cand_cats[s];
  }
  std::vector<float> expected(6), got(6);
  model.predict(batch.view(), expected.data());
  model.score_candidates(items.data(), cats.data(), 5, cand_items.data(), cand_cats.data(), 6, got.data());
  for (int s = 0; s < 6; ++s) CHECK(got[s] == Approx(expected[s]).epsilon(1e-5));
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
  CHECK_THROWS_WITH(twin.load(wrong, "dare.ckpt"), Catch::Contains("dare.ckpt") && Catch::Contains("shared_tables"));
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

  // The model header is 92 bytes (magic, three u32, seven u64 sizes, two u32, checksum); the
  // first table's rows field follows its magic, version and scalar size. 2^31 rows where the model has num_items: refused before any allocation,
  // even from a stream that cannot tell its length.
  const std::size_t header = 92;
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
  // Found by fuzz/model_fuzzer: any non-zero optimizer_flag (or shared_tables) was taken as
  // 1, so a corrupted header with a valid checksum loaded and saved back different bytes.
  dare::Dare<float, 2, 3> model(tiny_config(2, 3));
  std::stringstream buffer;
  model.save(buffer, false);
  const std::string bytes = buffer.str();
  // Header record: magic (8), version, scalar_size, shared_tables (u32), 7 sizes (u64),
  // inference_stats (u32) at 76, optimizer_flag (u32) at 80, then the checksum of bytes [8, 84).
  const auto with_u32 = [&](std::size_t at, std::uint32_t value) {
    std::string b = bytes;
    for (int k = 0; k < 4; ++k) b[at + k] = static_cast<char>(value >> (8 * k));
    dare::detail::Checksum sum;
    sum.update(reinterpret_cast<const unsigned char*>(b.data()) + 8, 76);
    const std::uint64_t h = sum.value();
    for (int k = 0; k < 8; ++k) b[84 + k] = static_cast<char>(h >> (8 * k));
    return b;
  };
  std::istringstream same(with_u32(80, 0));
  CHECK_NOTHROW(dare::Dare<float, 2, 3>(tiny_config(2, 3)).load(same, "ok.ckpt"));
  std::istringstream mode(with_u32(76, 3));
  CHECK_THROWS_WITH(model.load(mode, "mode.ckpt"), Catch::Contains("inference_stats") && Catch::Contains("unknown mode 3"));
  std::istringstream flag(with_u32(80, 0x2f01));
  CHECK_THROWS_WITH(model.load(flag, "flag.ckpt"), Catch::Contains("optimizer_flag") && Catch::Contains("0 or 1"));
  std::istringstream shared(with_u32(16, 2));
  CHECK_THROWS_WITH(model.load(shared, "shared.ckpt"), Catch::Contains("shared_tables") && Catch::Contains("0 or 1"));
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
