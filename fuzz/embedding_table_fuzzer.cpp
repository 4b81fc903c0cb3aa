// libFuzzer harness: EmbeddingTable::load (dare/embedding/embedding_table.hpp), as float
// tables of run-time width, of the fixed width 16, and as double tables.
#include "checkpoint_harness.hpp"
#include "dare/embedding/embedding_table.hpp"

namespace {
template <class Table>
void fuzz_table(const std::uint8_t* data, std::size_t size) {
  dare::fuzz::fuzz_record(data, size, [](std::istream& is) {
    const Table table = Table::load(is, "fuzz");
    return dare::fuzz::saved_bytes(table);
  });
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz_table<dare::EmbeddingTable<float, dare::Dynamic>>(data, size);
  fuzz_table<dare::EmbeddingTable<float, 16>>(data, size);
  fuzz_table<dare::EmbeddingTable<double, dare::Dynamic>>(data, size);
  return 0;
}
