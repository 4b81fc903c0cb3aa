#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dare/models.hpp"
#include "dare/serve/model_file.hpp"
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
