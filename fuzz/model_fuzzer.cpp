// libFuzzer harness: the whole model checkpoint, SequenceModel::load(std::istream&, name)
// (dare/models/sequence_model.hpp), into small DARE, TWIN, TWIN w/ proj., DIN, SDIM and
// TWIN-V2 models
// (see fuzz_util.hpp); a checkpoint that loads must save back to the same bytes and the
// model must then score a history.
#include "checkpoint_harness.hpp"
#include "dare/models/zoo.hpp"

namespace {
template <class Model>
void fuzz_model(const dare::ModelConfig& config, const std::uint8_t* data, std::size_t size) {
  dare::fuzz::fuzz_record(data, size, [&](std::istream& is) {
    Model model(config);
    model.load(is, "fuzz");
    std::ostringstream os;
    model.save(os, model.has_optimizer());
    const dare::Id items[3] = {1, 2, 5};
    const dare::Id cats[3] = {1, 2, 2};
    const std::int32_t groups[3] = {0, 1, 0};
    float probabilities[2];
    typename Model::ServeScratch scratch(model);
    model.score_candidates(items, cats, groups, 3, items, cats, 2, probabilities, scratch);
    return os.str();
  });
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz_model<dare::fuzz::SmallDare>(dare::fuzz::small_model_config(), data, size);
  fuzz_model<dare::fuzz::SmallTwin>(dare::fuzz::small_twin_config(), data, size);
  fuzz_model<dare::fuzz::SmallTwinProj>(dare::fuzz::small_twin_config(), data, size);
  fuzz_model<dare::fuzz::SmallDin>(dare::fuzz::small_din_config(), data, size);
  fuzz_model<dare::fuzz::SmallSdim>(dare::fuzz::small_twin_config(), data, size);
  fuzz_model<dare::fuzz::SmallTwinV2>(dare::fuzz::small_twin_config(), data, size);
  return 0;
}
