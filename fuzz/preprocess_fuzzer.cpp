// libFuzzer harness: the preprocessing entry point (dare/data/preprocess.hpp).
//
// The input is a raw log, preprocessed as Taobao and as Tmall with small options (5 clicks
// make a user, 2 training windows, L = 3, 1 negative) so an iteration stays fast. A result
// is written with write_dataset (to /dev/shm) and opened again with Dataset::open, which
// must accept what preprocessing produced and hold the same counts and clicks.
#include <sys/stat.h>

#include <cstdlib>

#include "dare/data/dataset.hpp"
#include "dare/data/preprocess.hpp"
#include "fuzz_util.hpp"

namespace {

const std::string& dataset_path() {
  static const std::string path = [] {
    std::string dir = "/dev/shm";
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) dir = "/tmp";
    return dir + "/dare-preprocess-fuzzer-" + std::to_string(::getpid()) + ".dset";
  }();
  return path;
}

void check_round_trip(const dare::PreprocessResult& result) {
  using namespace dare;
  const DatasetData& d = result.data;
  const PreprocessSummary& s = result.summary;
  FUZZ_CHECK(s.rows_read == s.rows_kept + s.rows_other_behavior + s.rows_short_date + s.rows_malformed);
  FUZZ_CHECK(s.clicks_stored == static_cast<long long>(d.click_items.size()));
  FUZZ_CHECK(s.qualifying_users == d.num_users());
  const auto group = static_cast<std::size_t>(d.group_size);
  FUZZ_CHECK(d.val.size() == d.user_ids.size() * group && d.test.size() == d.user_ids.size() * group);
  write_dataset(dataset_path(), d);
  {
    const Dataset ds = Dataset::open(dataset_path());
    FUZZ_CHECK(ds.num_users() == d.num_users() && ds.num_items() == d.num_items() &&
               ds.num_cats() == d.num_cats && ds.num_clicks() == static_cast<Index>(d.click_items.size()));
    FUZZ_CHECK(ds.train().size() == static_cast<Index>(d.train.size()));
    for (Index u = 0; u < ds.num_users(); ++u) {
      const ConstSpan<Id> items = ds.user_items(u);
      const std::uint64_t first = d.user_offsets[static_cast<std::size_t>(u)];
      for (Index i = 0; i < items.size(); ++i) FUZZ_CHECK(items[i] == d.click_items[first + static_cast<std::size_t>(i)]);
    }
  }
  ::unlink(dataset_path().c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static dare::fuzz::MemFile file;
  const std::string& path = file.write(data, size);
  const dare::PreprocessOptions options = dare::fuzz::small_preprocess_options();
  for (const dare::RawFormat format : {dare::RawFormat::taobao, dare::RawFormat::tmall}) {
    dare::fuzz::expect_exceptions_only([&] {
      dare::PreprocessResult result = dare::preprocess(path, format, options);
      check_round_trip(result);
    });
  }
  return 0;
}
