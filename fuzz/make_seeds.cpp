// fuzz/make_seeds.cpp — writes the generated part of the seed corpora, fuzz/corpus/<harness>/
// gen_*: small valid inputs made with the library's own writers, in the shapes the
// harnesses load into (fuzz_util.hpp). Deterministic; rerun after a format change:
//   build/fuzz/fuzz/dare_fuzz_seeds fuzz/corpus fuzz/regressions   (also rebuilds the reproducers
//   of past findings whose format changed)
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "dare/data/dataset.hpp"
#include "dare/data/preprocess.hpp"
#include "dare/embedding/adagrad.hpp"
#include "dare/embedding/adam.hpp"
#include "dare/embedding/sgd.hpp"
#include "dare/nn/adam.hpp"
#include "dare/nn/mlp.hpp"
#include "fuzz_util.hpp"

namespace {

std::string root;
std::string regressions;  // empty: reproducers are not rewritten

void put(const std::string& harness, const std::string& name, const std::string& bytes) {
  const std::string dir = root + "/" + harness;
  ::mkdir(dir.c_str(), 0755);
  std::ofstream os(dir + "/gen_" + name, std::ios::binary | std::ios::trunc);
  os.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!os) throw std::runtime_error("cannot write " + dir + "/gen_" + name);
}

// A reproducer of a past finding, rebuilt for the current formats.
void put_regression(const std::string& harness, const std::string& name, const std::string& bytes) {
  if (regressions.empty()) return;
  const std::string dir = regressions + "/" + harness;
  ::mkdir(dir.c_str(), 0755);
  std::ofstream os(dir + "/" + name, std::ios::binary | std::ios::trunc);
  os.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!os) throw std::runtime_error("cannot write " + dir + "/" + name);
}

template <class T>
std::string saved(const T& object) {
  std::ostringstream os;
  object.save(os);
  return os.str();
}

std::string read_file(const std::string& path) {
  std::ifstream is(path, std::ios::binary);
  std::ostringstream os;
  os << is.rdbuf();
  return os.str();
}

/// A Taobao log of `users` users with `clicks` pv rows each (and one buy), grouped by user.
std::string taobao_log(int users, int clicks, int items) {
  std::ostringstream os;
  long long t = 1511544070;
  for (int u = 0; u < users; ++u) {
    for (int c = 0; c < clicks; ++c) {
      const int item = 1 + (u * 7 + c * 3) % items;
      os << 100 + u << ',' << 2000 + item << ',' << 30 + item % 3 << ",pv," << t++ << '\n';
    }
    os << 100 + u << ',' << 2001 << ",30,buy," << t++ << '\n';
  }
  return os.str();
}

/// A Tmall log (header, then rows not in time order) of the same shape.
std::string tmall_log(int users, int clicks, int items) {
  std::ostringstream os;
  os << "user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type\n";
  for (int u = 0; u < users; ++u) {
    for (int c = 0; c < clicks; ++c) {
      const int item = 1 + (u * 5 + c * 2) % items;
      const int day = 1 + (c * 7 + u) % 28;
      os << 300 + u << ',' << 4000 + item << ',' << 50 + item % 4 << ",7,"
         << (c % 3 == 0 ? "" : "9") << ",11" << (day < 10 ? "0" : "") << day << ",0\n";
    }
    os << 300 + u << ",4001,50,7,9,1111,2\n";
  }
  return os.str();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dare;
  if (argc != 2 && argc != 3) {
    std::cerr << "usage: dare_fuzz_seeds CORPUS_DIR [REGRESSIONS_DIR]\n";
    return 2;
  }
  root = argv[1];
  if (argc == 3) regressions = argv[2];
  ::mkdir(root.c_str(), 0755);

  // ---- raw logs and preprocessing ---------------------------------------------------------
  const std::string taobao = taobao_log(3, 6, 12);
  const std::string tmall = tmall_log(3, 6, 12);
  put("raw_log_taobao", "small.csv", taobao);
  put("raw_log_tmall", "small.csv", tmall);
  put("preprocess", "taobao.csv", taobao);
  put("preprocess", "tmall.csv", tmall);
  put("preprocess", "taobao_two_users.csv", taobao_log(2, 5, 9));

  // ---- datasets, preprocessed from those logs ---------------------------------------------
  const std::string tmp = "/tmp/dare_fuzz_seeds_" + std::to_string(::getpid());
  const auto dataset_of = [&](const std::string& log, RawFormat format, Index cluster_max_size) {
    { std::ofstream(tmp + ".csv", std::ios::binary) << log; }
    PreprocessOptions options = fuzz::small_preprocess_options();
    options.cluster_max_size = cluster_max_size;
    preprocess_to_file(tmp + ".csv", format, tmp + ".dset", options);
    std::string bytes = read_file(tmp + ".dset");
    std::remove((tmp + ".csv").c_str());
    std::remove((tmp + ".dset").c_str());
    return bytes;
  };
  put("dataset", "taobao.dset", dataset_of(taobao, RawFormat::taobao, 0));
  put("dataset", "tmall.dset", dataset_of(tmall, RawFormat::tmall, 2));  // with TWIN-V2 clusters
  {
    write_dataset(tmp + ".dset", DatasetData{});
    put("dataset", "empty.dset", read_file(tmp + ".dset"));
    std::remove((tmp + ".dset").c_str());
  }

  // ---- embedding tables ---------------------------------------------------------------------
  for (const Index dim : fuzz::kTableDims) {
    EmbeddingTable<float> t(fuzz::kTableRows, dim);
    t.init_normal(0.5f, 1);
    put("embedding_table", "float_5x" + std::to_string(dim), saved(t));
  }
  {
    EmbeddingTable<double> t(2, 4);
    t.init_normal(0.5, 2);
    put("embedding_table", "double_2x4", saved(t));
  }

  // ---- table optimizers, after two steps ------------------------------------------------------
  for (const Index dim : fuzz::kTableDims) {
    const std::string shape = "5x" + std::to_string(dim);
    EmbeddingTable<float> t(fuzz::kTableRows, dim);
    SparseGrad<float> g(dim);
    const std::vector<float> row(static_cast<std::size_t>(dim), 0.25f);
    g.add(2, row.data());
    SparseSgd<float> sgd(t, 0.05);
    sgd.step(g);
    put("sgd", shape, saved(sgd));
    SparseAdagrad<float> adagrad(t, {0.05, 1e-10, 0.1});
    adagrad.step(g);
    adagrad.step(g);
    put("adagrad", shape, saved(adagrad));
    for (const AdamMode mode : {AdamMode::Dense, AdamMode::Lazy}) {
      TableAdam<float> adam(t, {}, mode);
      adam.step(g);
      adam.step(g);
      put("table_adam", shape + (mode == AdamMode::Dense ? "_dense" : "_lazy"), saved(adam));
    }
  }

  // ---- nn parameter blocks and nn Adam ------------------------------------------------------
  {
    nn::Mlp<float> mlp = fuzz::small_mlp();
    std::ostringstream params, buffers;
    nn::save_parameters(params, mlp.parameters());
    nn::save_parameters(buffers, mlp.buffers());
    put("parameters", "mlp_parameters", params.str());
    put("parameters", "mlp_buffers", buffers.str());
    nn::Adam<float> adam(mlp.parameters());
    for (nn::Parameter<float>* p : mlp.parameters()) p->grad.setConstant(0.125f);
    adam.step();
    put("nn_adam", "mlp_adam", saved(adam));
  }

  // ---- whole model checkpoints ----------------------------------------------------------------
  const auto model_bytes = [](auto& model, bool with_optimizer) {
    std::ostringstream os;
    model.save(os, with_optimizer);
    return os.str();
  };
  {
    fuzz::SmallDare dare_model(fuzz::small_model_config());
    put("model", "dare_no_optimizer", model_bytes(dare_model, false));
    dare_model.configure_optimizer({});
    put("model", "dare_optimizer", model_bytes(dare_model, true));
    fuzz::SmallTwin twin_model(fuzz::small_twin_config());
    put("model", "twin_no_optimizer", model_bytes(twin_model, false));
    twin_model.configure_optimizer({});
    put("model", "twin_optimizer", model_bytes(twin_model, true));
    fuzz::SmallTwinProj proj_model(fuzz::small_twin_config());
    put("model", "twin_proj_no_optimizer", model_bytes(proj_model, false));
    fuzz::SmallDin din_model(fuzz::small_din_config());
    din_model.configure_optimizer({});
    put("model", "din_optimizer", model_bytes(din_model, true));
    fuzz::SmallSdim sdim_model(fuzz::small_twin_config());
    put("model", "sdim_no_optimizer", model_bytes(sdim_model, false));
    fuzz::SmallTwinV2 v2_model(fuzz::small_twin_config());
    v2_model.configure_optimizer({});
    put("model", "twin_v2_optimizer", model_bytes(v2_model, true));
    // The reproducer of the optimizer_flag finding (7f8db8e), rebuilt for the current header:
    // a TWIN checkpoint whose optimizer_flag (u32 at 100) reads 0x2f01 under a valid checksum.
    std::string flag = model_bytes(twin_model, false);
    const std::uint32_t bad = 0x2f01;
    std::memcpy(&flag[100], &bad, 4);
    detail::Checksum sum;
    sum.update(reinterpret_cast<const unsigned char*>(flag.data()) + 8, 104);
    const std::uint64_t h = sum.value();
    std::memcpy(&flag[112], &h, 8);
    put_regression("model", "optimizer_flag_0x2f01", flag);
  }
  std::cout << "seeds written under " << root << "\n";
  return 0;
}
