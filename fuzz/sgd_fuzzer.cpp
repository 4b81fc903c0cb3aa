// libFuzzer harness: SparseSgd::load (dare/embedding/sgd.hpp); see optimizer_harness.hpp.
#include "dare/embedding/sgd.hpp"
#include "optimizer_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dare::fuzz::fuzz_table_optimizer(data, size, [](dare::EmbeddingTable<float>& table) {
    return dare::SparseSgd<float>(table, 0.1);
  });
  return 0;
}
