// libFuzzer harness: the dataset file loader (dare/data/dataset.hpp: Dataset::open).
//
// The input is a dataset file; its checksums are repaired first (see fuzz_util.hpp), it is
// placed in a memfd and opened by path, which memory-maps it. A file that opens must be
// safe to walk: every user's clicks, the vocabulary and every sample's history are read, and
// a few batches are filled (dare/data/batch.hpp) as training would.
#include "dare/data/batch.hpp"
#include "dare/data/dataset.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dare;
  static fuzz::MemFile file;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  fuzz::fix_dataset_checksums(bytes);
  fuzz::maybe_write_fixed(bytes);
  const std::string& path = file.write(bytes.data(), bytes.size());
  fuzz::expect_exceptions_only([&] {
    const Dataset ds = Dataset::open(path);
    std::uint64_t sum = 0;
    for (Index u = 0; u < ds.num_users(); ++u) {
      for (const Id item : ds.user_items(u)) sum += static_cast<std::uint64_t>(item);
      for (const Id cat : ds.user_cats(u)) sum += static_cast<std::uint64_t>(cat);
      sum += static_cast<std::uint64_t>(ds.user_id(u));
    }
    for (Id item = 0; item < ds.num_items(); ++item) sum += static_cast<std::uint64_t>(ds.item_category(item));
    // The vocabulary and the provenance (dataset.hpp checks them on open).
    for (const ConstSpan<std::uint64_t> raw : {ds.raw_user_ids(), ds.raw_item_ids(), ds.raw_cat_ids()}) {
      for (const std::uint64_t id : raw) sum += id;
    }
    FUZZ_CHECK(ds.provenance().options.max_len == ds.max_len());
    FUZZ_CHECK(ds.provenance().options.negatives + 1 == ds.group_size());
    // fill_batch allocates batch x max_len ids: keep that bounded here (a huge max_len in
    // the header is the known unbounded-allocation issue, tracked on its own).
    if (ds.max_len() <= 4096) {
      Batch batch;
      for (const ConstSpan<Sample> split : {ds.train(), ds.val(), ds.test()}) {
        for (Index start = 0; start < split.size(); start += 8) {
          const Index count = std::min<Index>(8, split.size() - start);
          fill_batch(ds, split.data() + start, nullptr, count, batch);
          for (Index b = 0; b < count; ++b) {
            FUZZ_CHECK(batch.hist_len[static_cast<std::size_t>(b)] <= ds.max_len());
            for (Index j = 0; j < ds.max_len(); ++j) {
              const Id item = batch.hist_item_row(b)[j];
              FUZZ_CHECK(item >= 0 && item < ds.num_items());
            }
          }
        }
      }
    }
    (void)sum;
  });
  return 0;
}
