// libFuzzer harness: the Taobao raw-log reader (dare/data/raw_log.hpp); see raw_log_harness.hpp.
#include "raw_log_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dare::fuzz::fuzz_raw_log(dare::RawFormat::taobao, data, size);
  return 0;
}
