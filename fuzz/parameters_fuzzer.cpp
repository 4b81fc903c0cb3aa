// libFuzzer harness: nn::load_parameters (dare/nn/parameter.hpp), into the parameters and
// into the buffers (BatchNorm running statistics) of a small Mlp; see checkpoint_harness.hpp.
#include "checkpoint_harness.hpp"
#include "dare/nn/mlp.hpp"
#include "dare/nn/parameter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dare;
  for (const bool buffers : {false, true}) {
    nn::Mlp<float> mlp = fuzz::small_mlp();
    const std::vector<nn::Parameter<float>*> params = buffers ? mlp.buffers() : mlp.parameters();
    fuzz::fuzz_record(data, size, [&](std::istream& is) {
      nn::load_parameters(is, params, "fuzz");
      std::ostringstream os;
      nn::save_parameters(os, params);
      return os.str();
    });
  }
  return 0;
}
