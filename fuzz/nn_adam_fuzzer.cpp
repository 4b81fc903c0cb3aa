// libFuzzer harness: nn::Adam::load (dare/nn/adam.hpp) for the parameters of a small Mlp;
// a state that loads must save back to the same bytes and survive one step.
#include "checkpoint_harness.hpp"
#include "dare/nn/adam.hpp"
#include "dare/nn/mlp.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dare;
  nn::Mlp<float> mlp = fuzz::small_mlp();
  fuzz::fuzz_record(data, size, [&](std::istream& is) {
    nn::Adam<float> adam(mlp.parameters());
    adam.load(is, "fuzz");
    const std::string saved = fuzz::saved_bytes(adam);
    for (nn::Parameter<float>* p : mlp.parameters()) p->grad.setConstant(0.5f);
    adam.step();
    return saved;
  });
  return 0;
}
