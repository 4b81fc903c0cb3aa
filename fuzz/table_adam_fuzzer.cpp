// libFuzzer harness: TableAdam::load (dare/embedding/adam.hpp) in both modes; see
// optimizer_harness.hpp.
#include "dare/embedding/adam.hpp"
#include "optimizer_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  for (const dare::AdamMode mode : {dare::AdamMode::Dense, dare::AdamMode::Lazy}) {
    dare::fuzz::fuzz_table_optimizer(data, size, [mode](dare::EmbeddingTable<float>& table) {
      return dare::TableAdam<float>(table, {}, mode);
    });
  }
  return 0;
}
