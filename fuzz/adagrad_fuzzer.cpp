// libFuzzer harness: SparseAdagrad::load (dare/embedding/adagrad.hpp); see optimizer_harness.hpp.
#include "dare/embedding/adagrad.hpp"
#include "optimizer_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dare::fuzz::fuzz_table_optimizer(data, size, [](dare::EmbeddingTable<float>& table) {
    return dare::SparseAdagrad<float>(table);
  });
  return 0;
}
