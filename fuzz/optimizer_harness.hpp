// fuzz/optimizer_harness.hpp — the table optimizer harnesses (SGD, Adagrad, Adam): the input
// is a state record, loaded into an optimizer bound to a table of each shape in
// kTableDims (padded and unpadded rows); a state that loads must save back to the same
// bytes and survive one step.
#pragma once

#include "checkpoint_harness.hpp"
#include "dare/embedding/embedding_table.hpp"
#include "dare/embedding/sparse_grad.hpp"

namespace dare::fuzz {

/// `make(table)` returns a fresh optimizer bound to `table`.
template <class Make>
void fuzz_table_optimizer(const std::uint8_t* data, std::size_t size, Make&& make) {
  for (const Index dim : kTableDims) {
    EmbeddingTable<float> table(kTableRows, dim);
    table.init_normal(0.1f, 3);
    fuzz_record(data, size, [&](std::istream& is) {
      auto optimizer = make(table);
      optimizer.load(is, "fuzz");
      std::string saved = saved_bytes(optimizer);
      SparseGrad<float> grad(dim);
      const std::vector<float> row(static_cast<std::size_t>(dim), 0.5f);
      grad.add(1, row.data());
      grad.add(static_cast<Id>(kTableRows - 1), row.data());
      optimizer.step(grad);
      return saved;
    });
  }
}

}  // namespace dare::fuzz
