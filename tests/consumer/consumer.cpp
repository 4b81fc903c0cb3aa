// A program outside the dare tree: built against the installed package (find_package) and
// against the source tree (add_subdirectory). It exits non-zero if anything is off.
#include <cmath>
#include <cstdio>
#include <vector>

#include <dare/dare.hpp>

int main() {
  dare::ModelConfig config;
  config.num_items = 50;
  config.num_cats = 10;
  config.att_dim = 4;
  config.repr_dim = 8;
  config.max_len = 12;
  config.top_k = 4;
  dare::Dare<float, 4, 8> model(config);
  model.configure_optimizer({});

  const dare::Index B = 6, L = config.max_len;
  std::vector<dare::Id> hist_item(B * L), hist_cat(B * L), item(B), cat(B);
  std::vector<int> label(B);
  for (dare::Index s = 0; s < B; ++s) {
    for (dare::Index j = 2; j < L; ++j) {
      hist_item[s * L + j] = static_cast<dare::Id>(1 + (s * 7 + j * 3) % 49);
      hist_cat[s * L + j] = static_cast<dare::Id>(1 + hist_item[s * L + j] % 9);
    }
    item[s] = static_cast<dare::Id>(1 + s);
    cat[s] = static_cast<dare::Id>(1 + s % 9);
    label[s] = static_cast<int>(s % 2);
  }
  dare::SequenceBatch batch{B, L, hist_item.data(), hist_cat.data(), item.data(), cat.data(), label.data()};
  const dare::StepLoss loss = model.forward_backward(batch);
  model.step();
  std::vector<float> prob(B);
  model.predict(batch, prob.data());
  // An untrained 2-class model starts near log(2).
  const bool ok = std::abs(loss.main - std::log(2.0)) < 0.05 && prob[0] > 0.f && prob[0] < 1.f;
  std::printf("dare consumer: main loss %.4f, p[0] = %.4f: %s\n", loss.main, prob[0], ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
