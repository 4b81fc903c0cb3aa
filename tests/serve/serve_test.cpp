// The serve layer: model files (a trained model with everything needed to use it) and the
// Scorer that serves them. One file, so that the model types both need compile once.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dare/models.hpp"
#include "dare/serve/model_file.hpp"
#include "dare/serve/scorer.hpp"
#include "models/model_test_util.hpp"

namespace {

using dare_test::OwnedBatch;
using dare_test::tiny_config;

struct TempPath {
  std::string path = "/tmp/dare_model_file_test_" + std::to_string(::getpid()) + "_" + std::to_string(++counter());
  ~TempPath() { std::remove(path.c_str()); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

dare::ModelFileInfo vocabulary(dare::Index items, dare::Index cats) {
  dare::ModelFileInfo info;
  info.raw_item_ids.push_back(0);
  for (dare::Index i = 1; i < items; ++i) info.raw_item_ids.push_back(1000 + 7 * static_cast<std::uint64_t>(i));
  info.raw_cat_ids.push_back(0);
  for (dare::Index i = 1; i < cats; ++i) info.raw_cat_ids.push_back(50 + static_cast<std::uint64_t>(i));
  info.set("train.batch_size", "2048");
  return info;
}

std::string read_bytes(const std::string& path) {
  std::ifstream is(path, std::ios::binary);
  std::ostringstream os;
  os << is.rdbuf();
  return os.str();
}

}  // namespace

TEMPLATE_TEST_CASE("a model file describes its model and restores it with no other input", "[serve][model_file]",
                   (dare::Dare<float, 2, 3>), (dare::TwinNoTR<float, 2>), (dare::Din<float, 2>)) {
  auto config = tiny_config(2, TestType::kShared ? 2 : 3);
  config.hidden = {6, 3};
  TestType model(config);
  const OwnedBatch batch(9, 7, 13, 6, 5);
  model.forward_backward(batch.view());
  model.set_inference_stats(dare::nn::InferenceStats::Precise);
  TempPath file;
  dare::save_model_file(file.path, model, vocabulary(13, 6));

  const dare::ModelFileInfo info = dare::read_model_file_info(file.path);
  CHECK(info.kind() == model.kind());
  CHECK(info.get("train.batch_size") == "2048");
  CHECK(info.get("inference_stats") == "precise");
  CHECK(info.raw_item_ids.size() == 13);
  CHECK(info.raw_item_ids[4] == 1028);
  CHECK(info.raw_cat_ids[5] == 55);
  const dare::ModelConfig c = info.model_config();
  CHECK(c.hidden == config.hidden);
  CHECK(c.att_dim == config.att_dim);
  CHECK(c.target_aware == model.config().target_aware);

  // The same kind with Dynamic widths, built from the file alone, predicts the same.
  using Dyn = dare::SequenceModel<float, typename TestType::embedding_type::template with_dims<dare::Dynamic, dare::Dynamic>,
                                  typename TestType::selector_type, typename TestType::scorer_type>;
  Dyn loaded(c);
  dare::load_model_file(file.path, loaded);
  CHECK(loaded.inference_stats() == dare::nn::InferenceStats::Precise);
  std::vector<float> p1(9), p2(9);
  model.predict(batch.view(), p1.data());
  loaded.predict(batch.view(), p2.data());
  CHECK(p1 == p2);
}

TEST_CASE("a model file of another kind, version or with bad metadata is refused naming what is wrong",
          "[serve][model_file]") {
  dare::Dare<float, 2, 2> model(tiny_config(2, 2));
  TempPath file;
  dare::save_model_file(file.path, model, vocabulary(13, 6));
  dare::Twin<float, 2> twin(tiny_config(2, 2));
  CHECK_THROWS_WITH(dare::load_model_file(file.path, twin),
                    Catch::Contains(file.path) && Catch::Contains("a dare model") && Catch::Contains("this model is twin"));

  const std::string bytes = read_bytes(file.path);
  {
    std::string b = bytes;
    b[8] = 9;  // version
    TempPath bad;
    std::ofstream(bad.path, std::ios::binary) << b;
    CHECK_THROWS_WITH(dare::read_model_file_info(bad.path), Catch::Contains("version") && Catch::Contains("9"));
  }
  {
    std::string b = bytes;
    const auto at = b.find("att_dim=2");
    REQUIRE(at != std::string::npos);
    b[at + 8] = 'x';  // the checksum catches an edit
    TempPath bad;
    std::ofstream(bad.path, std::ios::binary) << b;
    CHECK_THROWS_AS(dare::read_model_file_info(bad.path), dare::FormatError);
  }
  dare::ModelFileInfo info;
  info.source = "x.model";
  CHECK_THROWS_WITH(info.get("kind"), Catch::Contains("x.model") && Catch::Contains("kind"));
  info.set("top_k", "-3");
  CHECK_THROWS_WITH(info.get_index("top_k", 1, 10), Catch::Contains("top_k") && Catch::Contains("from 1 to 10"));
  CHECK_THROWS_AS(info.set("a=b", "1"), std::invalid_argument);
  // A vocabulary that does not cover the tables is refused before anything is written.
  TempPath never;
  CHECK_THROWS_WITH(dare::save_model_file(never.path, model, vocabulary(12, 6)), Catch::Contains("vocabulary has 12 items"));
  CHECK_FALSE(std::ifstream(never.path).good());
}

namespace {

using dare_test::OwnedBatch;
using dare_test::tiny_config;

// Raw id of dense id d: items 1000 + 7d, categories 50 + d.
std::uint64_t raw_item(dare::Id d) { return 1000 + 7 * static_cast<std::uint64_t>(d); }
std::uint64_t raw_cat(dare::Id d) { return 50 + static_cast<std::uint64_t>(d); }

struct SavedModel {
  std::string path = "/tmp/dare_scorer_test_" + std::to_string(::getpid()) + ".model";
  ~SavedModel() { std::remove(path.c_str()); }
};

template <class Model>
void save(Model& model, const std::string& path) {
  dare::ModelFileInfo info;
  info.raw_item_ids.push_back(0);
  for (dare::Id d = 1; d < model.config().num_items; ++d) info.raw_item_ids.push_back(raw_item(d));
  info.raw_cat_ids.push_back(0);
  for (dare::Id d = 1; d < model.config().num_cats; ++d) info.raw_cat_ids.push_back(raw_cat(d));
  dare::save_model_file(path, model, info);
}

}  // namespace

TEMPLATE_TEST_CASE("a Scorer serves a model file in raw ids as the model scores dense ones", "[serve][scorer]",
                   (dare::Dare<float, 2, 3>), (dare::TwinHard<float, 2>), (dare::Din<float, 2>)) {
  auto config = tiny_config(TestType::AttDim, TestType::ReprDim);
  TestType model(config);
  model.configure_optimizer({});
  const OwnedBatch train(12, 7, 13, 6, 3);
  for (int i = 0; i < 3; ++i) {
    model.forward_backward(train.view());
    model.step();
  }
  SavedModel file;
  save(model, file.path);
  const dare::Scorer scorer(file.path);
  CHECK(scorer.kind() == model.kind());
  CHECK(scorer.max_len() == 7);

  const std::vector<dare::Id> items = {3, 7, 7, 2, 11}, cats = {1, 2, 2, 5, 4};
  const std::vector<dare::Id> cand = {1, 2, 3, 4, 5, 12}, cand_cat = {1, 1, 2, 3, 4, 5};
  std::vector<std::uint64_t> ri, rc, rci, rcc;
  for (std::size_t i = 0; i < items.size(); ++i) {
    ri.push_back(raw_item(items[i]));
    rc.push_back(raw_cat(cats[i]));
  }
  for (std::size_t i = 0; i < cand.size(); ++i) {
    rci.push_back(raw_item(cand[i]));
    rcc.push_back(raw_cat(cand_cat[i]));
  }
  std::vector<float> expected(6), got(6);
  model.score_candidates(items.data(), cats.data(), 5, cand.data(), cand_cat.data(), 6, expected.data());
  const auto unknown = scorer.score(ri.data(), rc.data(), 5, rci.data(), rcc.data(), 6, got.data());
  CHECK(unknown.total() == 0);
  for (int c = 0; c < 6; ++c) CHECK(got[c] == Approx(expected[c]).epsilon(1e-5));

  // The top 3, best first, are the three highest probabilities.
  std::vector<dare::Index> best(3);
  std::vector<float> best_prob(3);
  scorer.top(ri.data(), rc.data(), 5, rci.data(), rcc.data(), 6, 3, best.data(), best_prob.data());
  std::vector<float> sorted = got;
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  for (int k = 0; k < 3; ++k) {
    CHECK(best_prob[k] == sorted[k]);
    CHECK(got[static_cast<std::size_t>(best[k])] == sorted[k]);
  }

  // Unknown raw ids are counted and scored as the padding row, exactly as dense id 0.
  std::vector<std::uint64_t> ri2 = ri, rci2 = rci;
  ri2[1] = 999999;   // a history item the model never saw
  rci2[0] = 888888;  // and a candidate
  const auto u = scorer.score(ri2.data(), rc.data(), 5, rci2.data(), rcc.data(), 6, got.data());
  CHECK(u.history_items == 1);
  CHECK(u.candidate_items == 1);
  std::vector<dare::Id> masked = items, masked_cats = cats, cand0 = cand;
  masked[1] = 0;
  masked_cats[1] = 0;
  cand0[0] = 0;
  model.score_candidates(masked.data(), masked_cats.data(), 5, cand0.data(), cand_cat.data(), 6, expected.data());
  for (int c = 0; c < 6; ++c) CHECK(got[c] == Approx(expected[c]).epsilon(1e-5));
  CHECK_THROWS_WITH(scorer.score(ri.data(), rc.data(), 8, rci.data(), rcc.data(), 6, got.data()),
                    Catch::Contains("from 0 to 7"));
}

TEST_CASE("a Scorer called from several threads at once gives every call its single-thread answer",
          "[serve][scorer][threads]") {
  dare::Dare<float, 2, 3> model(tiny_config(2, 3));
  const OwnedBatch train(12, 7, 13, 6, 3);
  model.forward_backward(train.view());
  SavedModel file;
  save(model, file.path);
  const dare::Scorer scorer(file.path);
  // 64 requests of random histories and candidates, answered once alone, then by 4 threads.
  std::mt19937_64 gen(17);
  struct Request {
    std::vector<std::uint64_t> items, cats, cand, cand_cats;
    std::vector<float> alone, together;
  };
  std::vector<Request> requests(64);
  for (auto& r : requests) {
    const int len = static_cast<int>(gen() % 8), m = 1 + static_cast<int>(gen() % 9);
    for (int i = 0; i < len; ++i) {
      r.items.push_back(raw_item(static_cast<dare::Id>(1 + gen() % 12)));
      r.cats.push_back(raw_cat(static_cast<dare::Id>(1 + gen() % 5)));
    }
    for (int i = 0; i < m; ++i) {
      r.cand.push_back(raw_item(static_cast<dare::Id>(1 + gen() % 12)));
      r.cand_cats.push_back(raw_cat(static_cast<dare::Id>(1 + gen() % 5)));
    }
    r.alone.resize(static_cast<std::size_t>(m));
    r.together.resize(static_cast<std::size_t>(m));
    scorer.score(r.items.data(), r.cats.data(), len, r.cand.data(), r.cand_cats.data(), m, r.alone.data());
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (std::size_t i = static_cast<std::size_t>(t); i < requests.size(); i += 4) {
          auto& r = requests[i];
          scorer.score(r.items.data(), r.cats.data(), static_cast<dare::Index>(r.items.size()), r.cand.data(),
                       r.cand_cats.data(), static_cast<dare::Index>(r.cand.size()), r.together.data());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < requests.size(); ++i) {
    INFO("request " << i);
    CHECK(requests[i].together == requests[i].alone);
  }
}

TEST_CASE("a Scorer's reduced-precision search changes only which positions are kept, and not the file",
          "[serve][scorer][lowp]") {
  auto config = tiny_config(4, 3);
  config.num_items = 300;
  config.num_cats = 20;
  config.max_len = 60;
  config.num_times = 61;
  config.top_k = 8;
  dare::Dare<float, 4, 3> model(config);
  model.set_inference_stats(dare::nn::InferenceStats::Running);
  // Attention tables exactly representable in bf16: the bf16 search then keeps float's K.
  model.for_each_table([](auto& table, auto&, const std::string& name) {
    if (name.rfind("attention", 0) != 0) return;
    for (dare::Index i = 0; i < table.rows(); ++i)
      for (dare::Index c = 0; c < table.dim(); ++c) table.row(i)[c] = dare::from_bf16(dare::to_bf16(table.row(i)[c]));
  });
  SavedModel file;
  save(model, file.path);
  const std::string bytes = read_bytes(file.path);
  const dare::Scorer plain(file.path), as_float(file.path, {dare::SearchPrecision::Float}),
      bf16(file.path, {dare::SearchPrecision::BF16}), int8(file.path, {dare::SearchPrecision::Int8});
  CHECK(read_bytes(file.path) == bytes);
  CHECK(plain.search_table_bytes() == 0);
  CHECK(bf16.search_table_bytes() == (300 + 20) * 4 * 2);
  CHECK(int8.search_table_bytes() == (300 + 20) * (4 + 4));
  CHECK(int8.options().search == dare::SearchPrecision::Int8);

  std::mt19937_64 gen(3);
  double worst = 0;
  for (int r = 0; r < 40; ++r) {
    const int len = static_cast<int>(gen() % 61), m = r % 4 == 0 ? 1 : 1 + static_cast<int>(gen() % 40);  // m >= 16: transposed
    std::vector<std::uint64_t> hi, hc, ci, cc;
    for (int i = 0; i < len; ++i) {
      hi.push_back(raw_item(static_cast<dare::Id>(1 + gen() % 299)));
      hc.push_back(raw_cat(static_cast<dare::Id>(1 + gen() % 19)));
    }
    for (int i = 0; i < m; ++i) {
      ci.push_back(raw_item(static_cast<dare::Id>(1 + gen() % 299)));
      cc.push_back(raw_cat(static_cast<dare::Id>(1 + gen() % 19)));
    }
    std::vector<float> p(static_cast<std::size_t>(m)), f(p.size()), b(p.size()), q(p.size());
    plain.score(hi.data(), hc.data(), len, ci.data(), cc.data(), m, p.data());
    as_float.score(hi.data(), hc.data(), len, ci.data(), cc.data(), m, f.data());
    bf16.score(hi.data(), hc.data(), len, ci.data(), cc.data(), m, b.data());
    int8.score(hi.data(), hc.data(), len, ci.data(), cc.data(), m, q.data());
    INFO("request " << r << ", len " << len << ", m " << m);
    CHECK(f == p);
    CHECK(b == p);
    for (int c = 0; c < m; ++c) worst = std::max(worst, std::fabs(double(q[c]) - p[c]));
  }
  CHECK(worst < 0.05);  // int8 keeps nearly the same positions; each kept one scores exactly
  CHECK(read_bytes(file.path) == bytes);

  // A model without a top-K dot-product search cannot take it.
  dare::Din<float, 2> din(tiny_config(2, 2));
  SavedModel din_file;
  save(din, din_file.path);
  CHECK_THROWS_WITH(dare::Scorer(din_file.path, {dare::SearchPrecision::BF16}),
                    Catch::Contains("top-K dot-product search"));
}
